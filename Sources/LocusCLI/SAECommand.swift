import ArgumentParser
import Foundation
import Locus

struct SAECommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sae",
        abstract: "Attach a sparse autoencoder (SAELens folder: cfg.json + sae_weights.safetensors) at its hook: a prompt's top features, reconstruction error, L0, the loss with the SAE spliced in, and runs with features ablated or clamped.")

    @OptionGroup var options: ModelOptions
    @Argument(help: "The SAE folder.") var folder: String
    @Argument(help: "The prompt.") var prompt: String
    @Option(help: "Hook point (default: the SAE's own hook_name).") var hook: String?
    @Option(help: "Token position for the top features (default: the last).") var position: Int?
    @Option(help: "Top features listed.") var top = 10
    @Option(parsing: .upToNextOption, help: "Features set to 0 at every position (with the error term kept).") var ablate: [Int] = []
    @Option(parsing: .upToNextOption, help: "Features clamped, as FEATURE=VALUE.") var clamp: [String] = []

    struct Report: Encodable {
        struct Feature: Encodable { let index: Int; let activation: Float }
        let hook: String
        let position: Int
        let topFeatures: [Feature]
        let l0: [Int]
        let reconstructionMSE: Double
        let loss: Double
        let lossWithSAE: Double
        let nextTokens: [String]
        let nextTokensEdited: [String]?
    }

    func run() throws {
        let sae = try SparseAutoencoder.load(folder)
        let ctx = try ProbeContext(options)
        let m = ctx.model
        let c = m.transformer.config
        let id = try hook.map { try HookID(name: $0, layers: c.nLayers) } ?? sae.hook
        guard let id else { throw ValidationError("\(folder)/cfg.json names no hook_name: give --hook") }
        guard sae.dIn == c.dModel, [.residPre, .residMid, .residPost, .attnOut, .mlpOut].contains(id.site) else {
            throw ValidationError("\(folder): d_in \(sae.dIn) at \(id.name); this model's d_model-wide hooks have \(c.dModel)")
        }
        var clamps: [(Int, Float)] = []
        for s in clamp {
            let parts = s.split(separator: "=")
            guard parts.count == 2, let f = Int(parts[0]), let v = Float(parts[1]), f >= 0, f < sae.dSAE else {
                throw ValidationError("--clamp: expected FEATURE=VALUE with FEATURE in 0..<\(sae.dSAE), found '\(s)'")
            }
            clamps.append((f, v))
        }
        if let bad = ablate.first(where: { $0 < 0 || $0 >= sae.dSAE }) { throw ValidationError("--ablate: feature \(bad) is not in 0..<\(sae.dSAE)") }

        let ids = try m.encode(prompt)
        let T = ids.count, d = c.dModel, V = c.vocabSize, n = sae.dSAE
        let pos = position ?? T - 1
        guard pos >= 0 && pos < T else { throw ValidationError("--position \(pos) is not in 0..<\(T)") }
        let plain = try m.transformer.forward([ids], hooks: Hooks(capture: [id]), logits: .all)
        let x = plain.cache[id]!.data
        let (_, f, norms) = sae.encode(x, rows: T)
        let recon = sae.decode(f, rows: T, norms: norms)
        // As the SAE is trained and spliced: without the first position (BOS or the attention sink).
        let mse = T > 1 ? zip(x[d...], recon[d...]).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) } / Double(x.count - d) : .nan
        let l0 = (0..<T).map { r in f[(r * n)..<((r + 1) * n)].filter { $0 > 0 }.count }
        let spliced = try m.transformer.forward([ids], hooks: sae.splice(at: id), logits: .all)
        func loss(_ logits: [Float]) -> Double {
            guard T > 1 else { return .nan }
            return (0..<(T - 1)).reduce(0.0) { $0 + crossEntropy(logits, row: $1, vocab: V, target: ids[$1 + 1]) } / Double(T - 1)
        }
        func topTokens(_ logits: [Float]) -> [String] {
            let last = Array(logits[((T - 1) * V)..<(T * V)])
            return last.indices.sorted { last[$0] > last[$1] }.prefix(5).map { m.tokenizer.decode([$0]) }
        }
        var edited: [String]?
        if !ablate.isEmpty || !clamps.isEmpty {
            let ab = ablate, cl = clamps
            let hooks = sae.splice(at: id, keepError: true) { acts, rows in
                for r in 0..<rows {
                    for i in ab { acts[r * n + i] = 0 }
                    for (i, v) in cl { acts[r * n + i] = v }
                }
            }
            edited = topTokens(try m.transformer.forward([ids], hooks: hooks, logits: .all).logits.data)
        }
        let row = Array(f[(pos * n)..<((pos + 1) * n)])
        let best = row.indices.filter { row[$0] > 0 }.sorted { row[$0] > row[$1] }.prefix(top).map { Report.Feature(index: $0, activation: row[$0]) }
        let r = Report(
            hook: id.name, position: pos, topFeatures: best, l0: l0, reconstructionMSE: mse, loss: loss(plain.logits.data),
            lossWithSAE: loss(spliced.logits.data), nextTokens: topTokens(plain.logits.data), nextTokensEdited: edited)
        if options.json { return try printJSON(r) }
        print("\(id.name): \(sae.architecture.rawValue) SAE, d_sae \(n); L0 per token \(l0); reconstruction MSE \(String(format: "%.4g", mse))")
        print(String(format: "next-token loss %.4f, with the SAE spliced in %.4f", r.loss, r.lossWithSAE))
        print("top features at position \(pos) '\(visible(m.tokenizer.decode([ids[pos]])))': " + best.map { String(format: "%d (%.3f)", $0.index, $0.activation) }.joined(separator: "  "))
        print("next tokens: " + r.nextTokens.map { "'\(visible($0))'" }.joined(separator: " "))
        if let edited { print("with the features edited: " + edited.map { "'\(visible($0))'" }.joined(separator: " ")) }
    }
}
