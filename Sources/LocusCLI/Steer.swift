import ArgumentParser
import Foundation
import Locus

struct Steer: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Steering vector by contrastive activation addition: mean activation over positive prompts minus negative ones, at one hook.",
        discussion: "Writes the vector to --out (HDF5); use it with `locus generate PROMPT --steer FILE:ALPHA`. With --try, generates from a prompt at each --alphas value.")

    @OptionGroup var options: ModelOptions
    @Option(help: "Hook point (a d_model-wide block site).") var hook = "blocks.12.hook_resid_post"
    @Option(parsing: .upToNextOption, help: "Prompts of the direction to add.") var positive: [String] = []
    @Option(parsing: .upToNextOption, help: "Prompts of the direction to subtract.") var negative: [String] = []
    @Option(help: "A file of positive prompts, one per line.") var positiveFile: String?
    @Option(help: "A file of negative prompts, one per line.") var negativeFile: String?
    @Option(help: "HDF5 file for the vector.") var out: String?
    @Option(name: .customLong("try"), help: "A prompt to continue with the vector added at each α.") var tryPrompt: String?
    @Option(parsing: .upToNextOption, help: "α values for --try (a negative one as --alphas=-0.5).") var alphas: [Float] = [-0.5, 0, 0.5]
    @Option(name: .customLong("max-tokens"), help: "New tokens per --try generation.") var maxTokens = 24

    func run() throws {
        func lines(_ file: String?) throws -> [String] {
            guard let file else { return [] }
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw ValidationError("\(file): cannot read the prompts file") }
            return text.split(separator: "\n").map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        }
        let pos = positive + (try lines(positiveFile)), neg = negative + (try lines(negativeFile))
        let ctx = try ProbeContext(options)
        let m = ctx.model
        let id = try HookID(name: hook, layers: m.transformer.config.nLayers)
        let v = try SteeringVector.compute(m.transformer, tokenizer: m.tokenizer, hook: id, positive: pos, negative: neg)
        if let out { try v.write(to: out, provenance: ctx.provenance) }
        var tries: [[String: String]] = []
        if let tryPrompt {
            for a in alphas {
                let text = try steeredCompletion(m, tryPrompt, maxTokens: maxTokens, hooks: v.hooks(alpha: a))
                tries.append(["alpha": String(a), "text": text])
            }
        }
        if options.json {
            struct R: Encodable { let hook: String; let norm: Double; let positive: Int; let negative: Int; let tries: [[String: String]] }
            return try printJSON(R(hook: v.hook.name, norm: v.norm, positive: pos.count, negative: neg.count, tries: tries))
        }
        print(String(format: "%@: |v| = %.3f from %d positive and %d negative prompts", v.hook.name, v.norm, pos.count, neg.count))
        for t in tries { print("α \(t["alpha"]!): \(tryPrompt!)\(t["text"]!)") }
        if let out { print("wrote \(out)") }
    }
}

/// Greedy continuation of `prompt` with `hooks` on every step.
func steeredCompletion(_ m: LanguageModel, _ prompt: String, maxTokens: Int, hooks: Hooks, sampling: Sampling = .greedy) throws -> String {
    let ids = try m.encode(prompt)
    let out = try m.transformer.generate(ids, maxNewTokens: maxTokens, sampling: sampling, stop: Set([m.tokenizer.eosID].compactMap { $0 }), hooks: hooks)
    return m.tokenizer.decode(out)
}
