import Datasets
import Editing
import Foundation
import Models
import Probing

/// Editing hyperparameters for a model no shipped file describes, chosen the way ROME and MEMIT chose
/// theirs: the ROME layer is where restoring the MLP output at the last subject token matters most
/// (the peak of its average indirect effect over correctly predicted known facts), and MEMIT edits
/// five layers around it (ending two past it, as MEMIT's GPT-J range 3–8 surrounds ROME's 5). The
/// other values are the shipped SmolLM2 file's (step counts, learning rates, clamps, λ): a starting
/// point, not a tuned setting, and the `source` says so.
public struct LayerChoice: Codable, Sendable {
    public let romeLayer: Int
    public let memitLayers: [Int]
    /// The MLP average indirect effect at the last subject token, per layer.
    public let mlpEffect: [Double]
    public let factsTraced: Int
    public let factsExamined: Int
    public let seconds: Double

    /// Traces `facts` known facts (MLP restorations only, the reference noise) and chooses the layers.
    public static func choose(
        _ model: LanguageModel, facts count: Int = 20, progress: ((Int, Int) -> Void)? = nil
    ) throws -> LayerChoice {
        let known = try Datasets.knownFacts()
        let inputs = known.map { KnownFactInput(knownID: $0.knownID, prompt: $0.prompt, subject: $0.subject, attribute: $0.attribute) }
        let sigma = EmbeddingNoise.compute(
            model.transformer, tokenizer: model.tokenizer, texts: known.map(\.subject), reference: "known_1000 subjects").sigma
        var options = TraceOptions()
        options.kinds = [.mlp]
        let r = try AverageIndirectEffect.run(
            model.transformer, tokenizer: model.tokenizer, facts: inputs, count: count, options: options, sigma: sigma,
            progress: { done, total, _ in progress?(done, total) })
        let L = model.config.nLayers
        guard r.facts.count > 0, let row = r.effect[.mlp]?[2] else {
            throw EditError.malformedHyperparameters(
                file: model.path, field: "layer choice", expected: "known facts the model predicts correctly, to trace",
                found: "none of the \(r.examined) examined")
        }
        // The last block cannot be edited (its output reaches the read-out without a later block to carry it).
        let candidates = 0..<max(1, L - 1)
        let peak = candidates.max { row[$0] < row[$1] }!
        let hi = min(L - 2, peak + 2), lo = max(0, hi - 4)
        return LayerChoice(
            romeLayer: peak, memitLayers: Array(lo...max(lo, hi)), mlpEffect: row, factsTraced: r.facts.count,
            factsExamined: r.examined, seconds: r.seconds)
    }

    /// The shipped SmolLM2 file with these layers, its provenance in `source`.
    public func hyperparameters(modelName: String) throws -> HyperparameterFile {
        var f = try HyperparameterFile.shipped(forModel: ["SmolLM2-135M"]).file
        f.model = modelName
        f.match = [modelName]
        let effect = mlpEffect.enumerated().map { String(format: "%d:%.4f", $0.offset, $0.element) }.joined(separator: " ")
        f.source = "Chosen by Locus (no shipped file for this model): ROME layer \(romeLayer) = peak of the MLP average indirect effect "
            + "at the last subject token over \(factsTraced) correctly predicted known_1000 facts (of \(factsExamined) examined; "
            + "per layer \(effect)); MEMIT/AlphaEdit layers \(memitLayers) end two past it. Every other value is SmolLM2-135M's "
            + "shipped setting, not tuned for this model."
        f.rome?.layers = [romeLayer]
        f.memit?.layers = memitLayers
        f.alphaedit?.layers = memitLayers
        return f
    }
}
