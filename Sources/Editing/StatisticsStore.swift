import ArrayStore
import Datasets
import Foundation
import ModelStore
import Models
import Tokenization

/// Token sequences of a corpus, with the corpus's name and file hash (recorded with statistics).
public struct CorpusTokens: Sendable {
    public let name: String
    public let sha256: String
    /// One sequence per corpus line, truncated so the total is exactly the requested token count.
    public let sequences: [[Int]]
    public let maxSequenceLength: Int

    public init(name: String, sha256: String, sequences: [[Int]], maxSequenceLength: Int) {
        self.name = name
        self.sha256 = sha256
        self.sequences = sequences
        self.maxSequenceLength = maxSequenceLength
    }

    public var tokenCount: Int { sequences.reduce(0) { $0 + $1.count } }

    /// WikiText-2 (raw, test split) as the ROME statistics code reads a text dataset: every
    /// non-empty line is one sequence, tokenized with the model's BOS convention and cut at
    /// `maxSequenceLength` tokens; lines are taken in order until `tokens` tokens are collected
    /// (the last one cut to fit).
    public static func wikiText(tokenizer: Tokenizer, tokens: Int, maxSequenceLength: Int = 1024) throws(EditError) -> CorpusTokens {
        let url: URL
        let text: String
        let hash: String
        do {
            url = try Datasets.wikiTextURL()
            text = try Datasets.wikiText()
            hash = try FileHash.sha256(path: url.path)
        } catch {
            throw .storage(file: "wikitext-2-raw-test.txt", reason: "\(error)")
        }
        var seqs: [[Int]] = []
        var total = 0
        for line in text.split(whereSeparator: \.isNewline) where total < tokens {
            guard line.contains(where: { !$0.isWhitespace }) else { continue }
            var ids = tokenizer.encode(String(line))
            if ids.count > maxSequenceLength { ids = Array(ids.prefix(maxSequenceLength)) }
            if total + ids.count > tokens { ids = Array(ids.prefix(tokens - total)) }
            guard !ids.isEmpty else { continue }
            seqs.append(ids)
            total += ids.count
        }
        guard total == tokens else {
            throw .statisticsMismatch(
                file: url.path, field: "token_count", expected: "at least \(tokens) tokens in the corpus", found: "\(total)")
        }
        return CorpusTokens(name: "wikitext-2-raw-v1/test", sha256: hash, sequences: seqs, maxSequenceLength: maxSequenceLength)
    }

    /// Sequences grouped into forward batches of at most `batchTokens` padded tokens, longest first
    /// (so padding stays small). Deterministic: resuming relies on the same batches in the same order.
    public func batches(batchTokens: Int) -> [[[Int]]] {
        let order = sequences.indices.sorted { sequences[$0].count > sequences[$1].count || (sequences[$0].count == sequences[$1].count && $0 < $1) }
        var out: [[[Int]]] = []
        var cur: [[Int]] = []
        var width = 0
        for i in order {
            let s = sequences[i]
            let w = max(width, s.count)
            if !cur.isEmpty && w * (cur.count + 1) > batchTokens {
                out.append(cur)
                cur = []
                width = 0
            }
            cur.append(s)
            width = max(width, s.count)
        }
        if !cur.isEmpty { out.append(cur) }
        return out
    }
}

/// Progress of a statistics run: tokens done out of the total.
public typealias StatisticsProgress = @Sendable (_ tokensDone: Int, _ tokensTotal: Int) -> Void

/// Computes `Σ k kᵀ` at several layers in one pass over the corpus: each batch is run only through
/// blocks `0...max(layers)` (`forward(stopAfterLayer:)`), the keys are captured with hooks, and each
/// layer's sum gets the batch's `Σ k kᵀ` (Float32 products added into Float64, `KeyMomentAccumulator.add`).
public enum KeyMomentComputation {
    /// Processes batches from `accumulator.nextBatch` on. `checkpoint` is called every
    /// `checkpointEvery` batches with the state so far; `shouldStop` is asked after every batch
    /// (returning true stops early, leaving a resumable state).
    public static func run(
        _ transformer: Transformer, batches: [[[Int]]], accumulator: inout KeyMomentAccumulator, totalTokens: Int,
        checkpointEvery: Int = 0, checkpoint: ((KeyMomentAccumulator) throws(EditError) -> Void)? = nil,
        progress: StatisticsProgress? = nil, shouldStop: () -> Bool = { false }
    ) throws(EditError) {
        let layers = accumulator.layers
        let deepest = layers.max()!
        guard deepest < transformer.config.nLayers, layers.min()! >= 0 else {
            throw .layerOutOfRange(what: "statistics layers", layer: layers.min()! < 0 ? layers.min()! : deepest, layers: transformer.config.nLayers)
        }
        let hooks = Hooks(capture: Set(layers.map { HookID(.mlpPost, layer: $0) }))
        while accumulator.nextBatch < batches.count {
            let batch = batches[accumulator.nextBatch]
            let r: ForwardResult
            do {
                r = try transformer.forward(batch, hooks: hooks, logits: .none, stopAfterLayer: deepest)
            } catch {
                throw .forward(what: "statistics batch \(accumulator.nextBatch)", reason: error.description)
            }
            accumulator.add(r.cache, lengths: r.lengths)
            accumulator.nextBatch += 1
            progress?(accumulator.tokenCount, totalTokens)
            if let checkpoint, checkpointEvery > 0, accumulator.nextBatch % checkpointEvery == 0, accumulator.nextBatch < batches.count {
                try checkpoint(accumulator)
            }
            if shouldStop() { return }
        }
    }
}

/// Where statistics files live and how they are found again: one HDF5 file per (model, layer,
/// token count) under `<LOCUS_HOME>/stats/<model file stem>/`, reused when its attributes match
/// (model SHA-256, hook, layer, token count, corpus SHA-256). An interrupted computation leaves a
/// checkpoint next to them and resumes from it.
public struct StatisticsStore: Sendable {
    public let directory: String
    public let modelPath: String
    public let modelSHA256: String

    public init(directory: String? = nil, modelPath: String, modelSHA256: String) {
        self.directory = directory ?? ModelCache().root + "/stats"
        self.modelPath = modelPath
        self.modelSHA256 = modelSHA256
    }

    var modelStem: String { ((modelPath as NSString).lastPathComponent as NSString).deletingPathExtension }

    public func path(layer: Int, tokens: Int) -> String {
        "\(directory)/\(modelStem)/wikitext-2.blocks.\(layer).mlp.hook_post.\(tokens).h5"
    }

    public func checkpointPath(layers: [Int], tokens: Int) -> String {
        "\(directory)/\(modelStem)/partial.layers-\(layers.sorted().map(String.init).joined(separator: "-")).\(tokens).h5"
    }

    /// Statistics for one layer if a file exists; a file made from another model or corpus is an error.
    public func existing(layer: Int, tokens: Int, corpusSHA256: String?) throws(EditError) -> KeyStatistics? {
        let p = path(layer: layer, tokens: tokens)
        guard FileManager.default.fileExists(atPath: p) else { return nil }
        return try KeyStatistics.load(p, modelSHA256: modelSHA256, layer: layer, tokenCount: tokens, corpusSHA256: corpusSHA256)
    }

    /// Loads the statistics of `layers`, computing (in one pass) those that are missing.
    public func statistics(
        layers: [Int], tokens: Int, model: LanguageModel, transformer: Transformer? = nil, maxSequenceLength: Int = 1024,
        batchTokens: Int = 4096, progress: StatisticsProgress? = nil, shouldStop: () -> Bool = { false }
    ) throws(EditError) -> (statistics: [Int: KeyStatistics], computed: [Int]) {
        let tf = transformer ?? model.transformer
        // Sequences no longer than the model's context (the reference uses the model's n_positions).
        let maxSequenceLength = min(maxSequenceLength, tf.config.contextLength)
        for l in layers where l < 0 || l >= tf.config.nLayers {
            throw .layerOutOfRange(what: "statistics layer", layer: l, layers: tf.config.nLayers)
        }
        var corpusHash: String
        do { corpusHash = try FileHash.sha256(path: Datasets.wikiTextURL().path) } catch {
            throw .storage(file: "wikitext-2-raw-test.txt", reason: "\(error)")
        }
        var out: [Int: KeyStatistics] = [:]
        var missing: [Int] = []
        for l in Set(layers).sorted() {
            if let s = try existing(layer: l, tokens: tokens, corpusSHA256: corpusHash) { out[l] = s } else { missing.append(l) }
        }
        guard !missing.isEmpty else { return (out, []) }
        let corpus = try CorpusTokens.wikiText(tokenizer: model.tokenizer, tokens: tokens, maxSequenceLength: maxSequenceLength)
        corpusHash = corpus.sha256
        let batches = corpus.batches(batchTokens: batchTokens)
        let ckpt = checkpointPath(layers: missing, tokens: tokens)
        let ckptAttributes: [String: AttributeValue] = [
            "model_sha256": .string(modelSHA256), "corpus_sha256": .string(corpus.sha256),
            "max_sequence_length": .int(Int64(maxSequenceLength)), "batch_tokens": .int(Int64(batchTokens)),
            "batch_count": .int(Int64(batches.count)),
        ]
        var acc = KeyMomentAccumulator.resume(from: ckpt, layers: missing, dimension: tf.config.dMLP, attributes: ckptAttributes)
            ?? KeyMomentAccumulator(layers: missing, dimension: tf.config.dMLP)
        progress?(acc.tokenCount, tokens)
        try KeyMomentComputation.run(
            tf, batches: batches, accumulator: &acc, totalTokens: tokens, checkpointEvery: 8,
            checkpoint: { (a: KeyMomentAccumulator) throws(EditError) in try a.save(to: ckpt, attributes: ckptAttributes) },
            progress: progress, shouldStop: shouldStop)
        if acc.nextBatch < batches.count {
            try acc.save(to: ckpt, attributes: ckptAttributes)
            throw .storage(file: ckpt, reason: "stopped after \(acc.tokenCount) of \(tokens) tokens; run again to resume")
        }
        let stats = acc.takeStatistics(modelSHA256: modelSHA256, corpus: corpus.name, corpusSHA256: corpus.sha256)
        for (l, s) in stats.sorted(by: { $0.key < $1.key }) {
            // The spectrum is O(d_mlp³) in Float64 and a copy of C: written for d_mlp up to 8,192 only
            // (an 8B model's 14,336 would take minutes and 1.6 GB more; C's factor checks it when used).
            let cond = (s.dimension > 8192 ? nil : (try? s.eigenvalues()).map { w -> [String: AttributeValue] in
                ["eigenvalue_min": .double(w.first ?? .nan), "eigenvalue_max": .double(w.last ?? .nan),
                 "condition_number": .double((w.first ?? 0) > 0 ? w.last! / w.first! : .infinity)]
            }) ?? [:]
            try s.save(to: path(layer: l, tokens: tokens), modelFile: modelPath, maxSequenceLength: maxSequenceLength, extra: cond)
            out[l] = s
        }
        try? FileManager.default.removeItem(atPath: ckpt)
        return (out, missing)
    }
}
