import ArgumentParser
import Foundation
import Locus

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a prompt: the most likely next tokens, and optionally capture activations to HDF5.",
        discussion: "Hook names follow TransformerLens: hook_embed, blocks.5.hook_resid_pre, blocks.5.mlp.hook_post, blocks.3.attn.hook_pattern, ln_final.hook_normalized, ...")

    @OptionGroup var options: ModelOptions
    @Argument(help: "The prompt.") var prompt: String
    @Option(help: "How many next tokens to list.") var top = 10
    @Option(parsing: .upToNextOption, help: "Hook names to capture (TransformerLens names; 'blocks.*.hook_resid_post' means every layer).")
    var capture: [String] = []
    @Option(help: "HDF5 file for the captured activations.") var out: String?

    struct Prediction: Encodable {
        let id: Int
        let piece: String
        let probability: Float
        let logProbability: Float
    }
    struct Report: Encodable {
        let prompt: String
        let tokens: [Int]
        let top: [Prediction]
        let captured: [String: [Int]]
        let out: String?
    }

    func run() throws {
        let m = try options.load()
        let ids = try m.encode(prompt)
        var hooks = Hooks()
        for pattern in capture {
            hooks.capture.formUnion(try expandHookPattern(pattern, config: m.config))
        }
        if !capture.isEmpty && out == nil && !options.json {
            throw ValidationError("--capture needs --out FILE.h5 (or --json to print shapes)")
        }
        let r = try m.transformer.forward([ids], hooks: hooks, logits: .last)
        let lp = r.lastLogProbabilities()
        let best = lp.indices.sorted { lp[$0] > lp[$1] }.prefix(top)
        let preds = best.map { Prediction(id: $0, piece: m.tokenizer.piece($0), probability: expf(lp[$0]), logProbability: lp[$0]) }
        if let out {
            try ActivationStore.save(r.cache, promptIDs: [ids], modelPath: m.path, modelSHA256: try FileHash.sha256(path: m.path), to: out, extraAttributes: ["prompt": .string(prompt)])
        }
        let captured = Dictionary(uniqueKeysWithValues: r.cache.ids.map { ($0.name, r.cache[$0]!.shape) })
        if options.json {
            return try printJSON(Report(prompt: prompt, tokens: ids, top: preds, captured: captured, out: out))
        }
        print("prompt: \(prompt)  (\(ids.count) tokens)")
        for p in preds { print(String(format: "%8.4f  %6d  ", p.probability, p.id) + "'\(visible(p.piece))'") }
        if let out { print("captured \(captured.count) hooks to \(out)") }
    }
}

/// Expands `blocks.*.NAME` to every layer; other names are parsed as they are.
func expandHookPattern(_ pattern: String, config: ModelConfig) throws -> [HookID] {
    let layers = config.nLayers
    let ids: [HookID]
    if pattern.hasPrefix("blocks.*.") {
        let site = String(pattern.dropFirst("blocks.*.".count))
        ids = try (0..<layers).map { try HookID(name: "blocks.\($0).\(site)", layers: layers) }
    } else {
        ids = [try HookID(name: pattern, layers: layers)]
    }
    for id in ids { try config.check(id) }
    return ids
}
