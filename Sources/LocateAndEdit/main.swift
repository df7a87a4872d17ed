// Locate and edit a fact with the Locus Swift API (run: swift run -c release locate-and-edit).
// Needs the default model: `locus fetch smollm2`.
import Foundation
import Locus

let model = try LanguageModel(path: try ModelCache().resolve("smollm2"))
let promptText = "The Eiffel Tower is located in the city of"
let prompt = PromptTokens(promptText, tokenizer: model.tokenizer)
let paris = try Target(" Paris", tokenizer: model.tokenizer)

// 1. Look: the model's belief.
let before = try model.transformer.forward([prompt.ids], logits: .last).lastLogProbabilities()
print("p(Paris) = \(exp(before[paris.ids[0]]))")

// 2. Locate: causal tracing of the MLP outputs (10 noise samples of 0.35, a window of 10 blocks).
var options = TraceOptions()
options.kinds = [.mlp]
options.noise = .absolute(0.35)
let trace = try TraceEngine.run(model.transformer, try TraceInput(prompt: prompt, subject: "Eiffel Tower", target: paris), options: options)
let effects = trace.trace(.mlp)!.indirectEffect(corrupted: trace.corruptedProbability)
let (token, layer) = effects.indices.flatMap { t in effects[t].indices.map { (t, $0) } }.max { effects[$0.0][$0.1] < effects[$1.0][$1.1] }!
print("strongest MLP effect: token '\(prompt.pieces[token])', window centred at block \(layer) (IE \(effects[token][layer]))")

// 3. Edit: ROME at the layer of the shipped hyperparameters, verified before it is kept.
let editor = try Editor(model: model, ledgerPath: nil)
let request = try EditRequest(
    id: "eiffel", subject: "Eiffel Tower", prompt: promptText, targetNew: "Rome", targetTrue: "Paris",
    paraphrases: ["Where is the Eiffel Tower? It is in"], neighbours: ["The Louvre is located in the city of"])
let outcome = try editor.apply([request], method: .rome)
print("applied: \(outcome.applied), P(Rome) \(outcome.newProbabilityBefore[0]) → \(outcome.newProbabilityAfter[0])")

// 4. Verify by generating with the edited weights, then revert bit for bit.
let edited = model.with(transformer: editor.transformer)
print(promptText + (try edited.complete(promptText, maxNewTokens: 8).text))
try editor.revert()
print("reverted: weights equal the file's: \(editor.transformer.weights == model.transformer.weights)")
