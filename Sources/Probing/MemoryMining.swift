import ArrayStore
import Foundation
import Models
import Tensors
import Tokenization

/// Which corpus prefixes trigger each FFN key most (Geva et al. 2021, §3): the model reads a corpus in windows,
/// and for every key of the chosen blocks the `top` largest coefficients (`mlp.hook_post`) are kept with the
/// window and position where they occurred. The prefix ending at that position is the key's trigger.
///
/// Results are stored in HDF5 (one file per model, corpus and settings) so later queries only read:
/// `/tokens` Int64 `[windows, context]` (the corpus tokens read), and per block `/layer_<l>/coefficient` Float32,
/// `/layer_<l>/window` and `/layer_<l>/position` Int64, each `[d_mlp, top]`, best first.
public struct MemoryMining: Sendable {
    public struct Trigger: Codable, Sendable {
        public let coefficient: Double
        public let window: Int
        public let position: Int
        /// The prefix up to and including the trigger token (at most `shown` tokens), and the trigger token.
        public let prefix: String
        public let token: String
    }

    public let path: String
    public let layers: [Int]
    public let tokens: [[Int]]
    public let context: Int
    public let top: Int

    /// Settings that name a cache file. Triggers are searched at window positions whose prefix holds at least
    /// `minimumPrefix` corpus tokens.
    public static func fileName(corpus: String, tokens: Int, context: Int, top: Int, minimumPrefix: Int, layers: [Int]) -> String {
        "mine-\(corpus)-\(tokens)tok-ctx\(context)-top\(top)-min\(minimumPrefix)-layers\(layers.map(String.init).joined(separator: "_")).h5"
    }

    /// Reads a mined file, or mines `text` and writes it.
    public static func loadOrMine(
        _ model: Transformer, tokenizer: Tokenizer, text: String, corpusName: String, corpusSHA256: String, layers: [Int], maxTokens: Int,
        context: Int = 64, top: Int = 10, minimumPrefix: Int = 4, directory: String, provenance: Provenance, progress: ((Int, Int) -> Void)? = nil
    ) throws -> MemoryMining {
        let L = model.config.nLayers
        if let bad = layers.first(where: { $0 < 0 || $0 >= L }) {
            throw ProbingError.invalidOption(name: "layers", expected: "blocks 0..<\(L)", found: "\(bad)")
        }
        guard maxTokens >= context, context >= 2 else {
            throw ProbingError.invalidOption(name: "tokens", expected: "at least one window of \(context) tokens", found: "\(maxTokens)")
        }
        let path = directory + "/" + fileName(corpus: corpusName, tokens: maxTokens, context: context, top: top, minimumPrefix: minimumPrefix, layers: layers)
        if let m = try? load(path, provenance: provenance) { return m }

        // Windows of `context` tokens from the corpus's non-empty lines, each with the model's BOS if it uses one.
        let bos = tokenizer.encode("a").count > tokenizer.encode("a", addSpecialTokens: false).count ? tokenizer.bosID : nil
        let body = context - (bos == nil ? 0 : 1)
        var stream: [Int] = []
        let perWindow = body
        let windowsWanted = maxTokens / context
        for line in text.split(separator: "\n") where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            stream += tokenizer.encode(String(line), addSpecialTokens: false)
            if stream.count >= windowsWanted * perWindow { break }
        }
        let windows = (0..<min(windowsWanted, stream.count / perWindow)).map { w in (bos.map { [$0] } ?? []) + Array(stream[(w * perWindow)..<((w + 1) * perWindow)]) }
        guard !windows.isEmpty else { throw ProbingError.emptyDatasetSlice(dataset: corpusName, range: "first \(maxTokens) tokens", available: stream.count) }

        let F = model.config.dMLP
        // Per block: for each key its `top` best (coefficient, window, position), sorted best first.
        var value = [Int: [Float]](), where_ = [Int: [(Int, Int)]]()
        for l in layers {
            value[l] = [Float](repeating: -.infinity, count: F * top)
            where_[l] = Array(repeating: (0, 0), count: F * top)
        }
        let batch = 8
        for w0 in stride(from: 0, to: windows.count, by: batch) {
            let chunk = Array(windows[w0..<min(windows.count, w0 + batch)])
            let r = try model.forward(chunk, hooks: Hooks(capture: Set(layers.map { HookID(.mlpPost, layer: $0) })), logits: .none, stopAfterLayer: layers.max()!)
            for l in layers {
                let a = r.cache[HookID(.mlpPost, layer: l)]!.data
                var vals = value[l]!, wh = where_[l]!
                value[l] = []
                for (b, seq) in chunk.enumerated() {
                    // Prefixes of at least `minimumPrefix` corpus tokens: the first positions of a window carry huge,
                    // content-free activations (the attention-sink position) that would otherwise top every key.
                    for t in ((bos == nil ? 0 : 1) + minimumPrefix - 1)..<seq.count {
                        let o = (b * context + t) * F
                        for i in 0..<F {
                            let v = a[o + i], base = i * top
                            guard v > vals[base + top - 1] else { continue }
                            var j = top - 1
                            while j > 0 && vals[base + j - 1] < v {
                                vals[base + j] = vals[base + j - 1]
                                wh[base + j] = wh[base + j - 1]
                                j -= 1
                            }
                            vals[base + j] = v
                            wh[base + j] = (w0 + b, t)
                        }
                    }
                }
                value[l] = vals
                where_[l] = wh
            }
            progress?(min(windows.count, w0 + batch), windows.count)
        }
        try H5File.write(path) { f in
            try f.write(integers: windows.flatMap { $0.map(Int64.init) }, shape: [windows.count, context], at: "tokens")
            for l in layers {
                try f.write(Tensor(shape: [F, top], data: value[l]!), at: "layer_\(l)/coefficient")
                try f.write(integers: where_[l]!.map { Int64($0.0) }, shape: [F, top], at: "layer_\(l)/window")
                try f.write(integers: where_[l]!.map { Int64($0.1) }, shape: [F, top], at: "layer_\(l)/position")
            }
            var a = provenance.attributes
            a["corpus"] = .string(corpusName)
            a["corpus_sha256"] = .string(corpusSHA256)
            a["token_count"] = .int(Int64(windows.count * context))
            a["context"] = .int(Int64(context))
            a["top"] = .int(Int64(top))
            a["layers"] = .integers(layers.map(Int64.init), shape: [layers.count])
            a["hook"] = .string("blocks.{l}.mlp.hook_post")
            a["minimum_prefix"] = .int(Int64(minimumPrefix))
            try f.setAttributes(a)
        }
        return try load(path, provenance: provenance)
    }

    /// Opens a mined file made for this model (a typed error when it was made for another).
    public static func load(_ path: String, provenance: Provenance) throws -> MemoryMining {
        let f = try H5File.open(path)
        let sha = try f.requiredString("model_sha256")
        guard sha == provenance.modelSHA256 else {
            throw ProbingError.badFile(path: path, field: "model_sha256", expected: provenance.modelSHA256, found: sha)
        }
        let layers = try f.requiredIntegers("layers")
        let (ids, shape) = try f.readIntegers("tokens")
        let tokens = (0..<shape[0]).map { w in (0..<shape[1]).map { Int(ids[w * shape[1] + $0]) } }
        let top = try f.shape(of: "layer_\(layers[0])/coefficient")[1]
        return MemoryMining(path: path, layers: layers, tokens: tokens, context: shape[1], top: top)
    }

    /// The prefixes that trigger key `key` of block `layer` most, best first.
    public func triggers(layer: Int, key: Int, tokenizer: Tokenizer, shown: Int = 12) throws -> [Trigger] {
        guard layers.contains(layer) else { throw ProbingError.invalidOption(name: "layer", expected: "a mined block \(layers)", found: "\(layer)") }
        let f = try H5File.open(path)
        let c = try f.readTensor("layer_\(layer)/coefficient")
        guard key >= 0 && key < c.shape[0] else { throw ProbingError.invalidOption(name: "key", expected: "0..<\(c.shape[0])", found: "\(key)") }
        let w = try f.readIntegers("layer_\(layer)/window").values, p = try f.readIntegers("layer_\(layer)/position").values
        let n = c.shape[1]
        return (0..<n).map { j in
            let win = Int(w[key * n + j]), pos = Int(p[key * n + j])
            let seq = tokens[win]
            return Trigger(
                coefficient: Double(c.data[key * n + j]), window: win, position: pos,
                prefix: tokenizer.decode(Array(seq[max(0, pos - shown + 1)...pos])), token: tokenizer.decode([seq[pos]]))
        }
    }
}
