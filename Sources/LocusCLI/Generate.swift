import ArgumentParser
import Foundation
import Locus

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Continue a prompt (greedy by default; sampled with --temperature).")

    @OptionGroup var options: ModelOptions
    @Argument(help: "The prompt.") var prompt: String
    @Option(name: .customLong("max-tokens"), help: "New tokens to generate.") var maxTokens = 32
    @Option(help: "Sampling temperature (0 = greedy).") var temperature: Float = 0
    @Option(name: .customLong("top-k"), help: "Sample from the k most likely tokens (0 = all).") var topK = 0
    @Option(name: .customLong("top-p"), help: "Nucleus sampling mass.") var topP: Float = 1
    @Option(help: "Random seed for sampling.") var seed: UInt64 = 0
    @Option(help: "Add a steering vector (from `locus steer --out FILE`) × ALPHA at its hook, as FILE:ALPHA.") var steer: String?

    struct Report: Encodable {
        let prompt: String
        let promptTokens: [Int]
        let tokens: [Int]
        let text: String
        let seconds: Double
    }

    func run() throws {
        let m = try options.load()
        let start = Date()
        let ids = try m.encode(prompt)
        let sampling = Sampling(temperature: temperature, topK: topK, topP: topP, seed: seed)
        var hooks = Hooks()
        if let steer {
            guard let colon = steer.lastIndex(of: ":"), let alpha = Float(steer[steer.index(after: colon)...]) else {
                throw ValidationError("--steer: expected FILE:ALPHA (e.g. vec.h5:4), found '\(steer)'")
            }
            let sha = try FileHash.sha256(path: m.path)
            hooks = try SteeringVector.read(String(steer[..<colon]), modelSHA256: sha, dModel: m.transformer.config.dModel).hooks(alpha: alpha)
        }
        let out = try m.transformer.generate(ids, maxNewTokens: maxTokens, sampling: sampling, stop: Set([m.tokenizer.eosID].compactMap { $0 }), hooks: hooks)
        let r = (ids: out, text: m.tokenizer.decode(out))
        let report = Report(prompt: prompt, promptTokens: ids, tokens: r.ids, text: r.text, seconds: Date().timeIntervalSince(start))
        if options.json { return try printJSON(report) }
        print(prompt + r.text)
    }
}
