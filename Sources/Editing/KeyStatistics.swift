import ArrayStore
import Foundation
import Linalg
import Models

/// The uncentred second moment `C = E[k kᵀ]` of the MLP keys `k` (`blocks.L.mlp.hook_post`, the
/// input of the down projection `W_out`) at one layer, over the tokens of a corpus — ROME's and
/// MEMIT's `mom2`.
///
/// Stored in Float64 (`d_mlp × d_mlp`, both triangles filled), with what produced it.
public struct KeyStatistics: Sendable, Equatable {
    public let layer: Int
    /// `d_mlp`.
    public let dimension: Int
    /// Tokens averaged over (padding excluded).
    public let tokenCount: Int
    /// Row-major `dimension × dimension`, symmetric.
    public var moment: [Double]
    public let modelSHA256: String
    public let corpus: String
    public let corpusSHA256: String

    public init(
        layer: Int, dimension: Int, tokenCount: Int, moment: [Double], modelSHA256: String, corpus: String,
        corpusSHA256: String
    ) {
        precondition(moment.count == dimension * dimension)
        self.layer = layer
        self.dimension = dimension
        self.tokenCount = tokenCount
        self.moment = moment
        self.modelSHA256 = modelSHA256
        self.corpus = corpus
        self.corpusSHA256 = corpusSHA256
    }

    public var hook: HookID { HookID(.mlpPost, layer: layer) }

    /// Eigenvalues of C, ascending (LAPACK dsyevd).
    public func eigenvalues() throws(EditError) -> [Double] {
        var a = moment
        do {
            return try a.withUnsafeMutableBufferPointer { p throws(LinalgError) in
                try LAPACK.symmetricEigen(n: dimension, a: p.baseAddress!)
            }
        } catch {
            throw .linearAlgebra(what: "eigenvalues of C at layer \(layer)", reason: error.description)
        }
    }

    /// λ_max / λ_min of C (infinite when C is singular).
    public func conditionNumber() throws(EditError) -> Double {
        let w = try eigenvalues()
        guard let lo = w.first, let hi = w.last else { return .nan }
        return lo > 0 ? hi / lo : .infinity
    }

    // MARK: storage

    /// Attributes every statistics file carries.
    static let formatVersion: Int64 = 1

    /// Writes the statistics to `path` (temporary name, then rename).
    public func save(to path: String, modelFile: String, maxSequenceLength: Int, extra: [String: AttributeValue] = [:]) throws(EditError) {
        var attrs: [String: AttributeValue] = [
            "model_sha256": .string(modelSHA256), "model_file": .string((modelFile as NSString).lastPathComponent),
            "layer": .int(Int64(layer)), "hook": .string(hook.name), "token_count": .int(Int64(tokenCount)),
            "corpus": .string(corpus), "corpus_sha256": .string(corpusSHA256), "dtype": .string("float64"),
            "statistic": .string("mom2 = E[k kᵀ] = (Σ k kᵀ) / token_count, uncentred"),
            "max_sequence_length": .int(Int64(maxSequenceLength)), "format_version": .int(Self.formatVersion),
            "created_by": .string("locus Editing"),
        ]
        for (k, v) in extra { attrs[k] = v }
        do {
            try H5File.write(path) { f in
                try f.write(doubles: moment, shape: [dimension, dimension], at: "mom2", attributes: attrs)
                try f.setAttributes(attrs)
            }
        } catch {
            throw .storage(file: path, reason: "\(error)")
        }
    }

    /// Reads statistics and checks that they belong to this model, layer, corpus and token count.
    public static func load(
        _ path: String, modelSHA256: String, layer: Int, tokenCount: Int?, corpusSHA256: String?
    ) throws(EditError) -> KeyStatistics {
        let attrs: [String: AttributeValue]
        let values: [Double]
        let shape: [Int]
        do {
            let f = try H5File.open(path)
            attrs = try f.attributes(of: "mom2")
            (values, shape) = try f.readDoubles("mom2")
        } catch {
            throw .storage(file: path, reason: "\(error)")
        }
        func attr(_ k: String) -> String { attrs[k]?.description ?? "none" }
        guard attr("model_sha256") == modelSHA256 else {
            throw .statisticsMismatch(file: path, field: "model_sha256", expected: modelSHA256, found: attr("model_sha256"))
        }
        guard attr("hook") == HookID(.mlpPost, layer: layer).name else {
            throw .statisticsMismatch(file: path, field: "hook", expected: HookID(.mlpPost, layer: layer).name, found: attr("hook"))
        }
        if let tokenCount, attr("token_count") != String(tokenCount) {
            throw .statisticsMismatch(file: path, field: "token_count", expected: String(tokenCount), found: attr("token_count"))
        }
        if let corpusSHA256, attr("corpus_sha256") != corpusSHA256 {
            throw .statisticsMismatch(file: path, field: "corpus_sha256", expected: corpusSHA256, found: attr("corpus_sha256"))
        }
        guard shape.count == 2, shape[0] == shape[1] else {
            throw .statisticsMismatch(file: path, field: "mom2.shape", expected: "a square matrix", found: "\(shape)")
        }
        guard case .int(let n)? = attrs["token_count"] else {
            throw .statisticsMismatch(file: path, field: "token_count", expected: "an integer", found: attr("token_count"))
        }
        return KeyStatistics(
            layer: layer, dimension: shape[0], tokenCount: Int(n), moment: values, modelSHA256: modelSHA256,
            corpus: attr("corpus"), corpusSHA256: attr("corpus_sha256"))
    }
}

/// Running sums `Σ k kᵀ` for several layers, and how far through the corpus they got.
public struct KeyMomentAccumulator: Sendable, Equatable {
    public let layers: [Int]
    public let dimension: Int
    /// The upper triangles (and diagonal blocks) are what `add` writes; `statistics` fills the lower ones.
    public var sums: [Int: [Double]]
    public var tokenCount: Int
    /// Index of the next batch to process.
    public var nextBatch: Int

    public init(layers: [Int], dimension: Int) {
        self.layers = layers.sorted()
        self.dimension = dimension
        sums = Dictionary(uniqueKeysWithValues: layers.map { ($0, [Double](repeating: 0, count: dimension * dimension)) })
        tokenCount = 0
        nextBatch = 0
    }

    /// Adds every real (unpadded) key of one forward call: `Σ k kᵀ` of the call in Float32 products (rows
    /// of C a block at a time, upper part only, into a small scratch), each block added into the
    /// Float64 sums. No copy of the keys and no second C: the memory beyond the sums is one block of
    /// rows (256 × d_mlp floats).
    mutating func add(_ cache: ActivationCache, lengths: [Int]) {
        let F = dimension
        let n = lengths.reduce(0, +)
        guard n > 0 else { return }
        let block = Swift.min(F, 256)
        var partial = [Float](repeating: 0, count: block * F)
        for l in layers {
            let keys = cache[HookID(.mlpPost, layer: l)]!
            let T = keys.shape[1]
            keys.data.withUnsafeBufferPointer { k in
                partial.withUnsafeMutableBufferPointer { p in
                    sums[l]!.withUnsafeMutableBufferPointer { c in
                        for i0 in stride(from: 0, to: F, by: block) {
                            let b = Swift.min(block, F - i0), w = F - i0
                            // partial[b, w] = Σ over sequences of K[:, i0..<i0+b]ᵀ · K[:, i0..<F] (their real tokens):
                            // rows i0..<i0+b of C from the diagonal on.
                            var first = true
                            for (s, len) in lengths.enumerated() where len > 0 {
                                let ks = k.baseAddress! + s * T * F + i0
                                BLAS.gemm(
                                    transposeA: true, m: b, n: w, k: len, a: ks, lda: F, b: ks, ldb: F, beta: first ? 0 : 1,
                                    c: p.baseAddress!, ldc: w)
                                first = false
                            }
                            for i in 0..<b {
                                let src = p.baseAddress! + i * w, dst = c.baseAddress! + (i0 + i) * F + i0
                                for j in 0..<w { dst[j] += Double(src[j]) }
                            }
                        }
                    }
                }
            }
        }
        tokenCount += n
    }

    /// `E[k kᵀ]` per layer: the sums over the token count, with the lower triangle filled.
    public func statistics(modelSHA256: String, corpus: String, corpusSHA256: String) -> [Int: KeyStatistics] {
        var copy = self
        return copy.takeStatistics(modelSHA256: modelSHA256, corpus: corpus, corpusSHA256: corpusSHA256)
    }

    /// `statistics(…)` made in the sums' own storage, which the accumulator gives up (at d_mlp 14,336
    /// one copy of C is 1.6 GB).
    public mutating func takeStatistics(modelSHA256: String, corpus: String, corpusSHA256: String) -> [Int: KeyStatistics] {
        var out: [Int: KeyStatistics] = [:]
        let F = dimension
        let scale = 1 / Double(max(tokenCount, 1))
        for l in layers {
            var m = sums.removeValue(forKey: l)!
            m.withUnsafeMutableBufferPointer { p in
                for i in 0..<F {
                    for j in i..<F {
                        let v = p[i * F + j] * scale
                        p[i * F + j] = v
                        p[j * F + i] = v
                    }
                }
            }
            out[l] = KeyStatistics(
                layer: l, dimension: F, tokenCount: tokenCount, moment: m, modelSHA256: modelSHA256, corpus: corpus,
                corpusSHA256: corpusSHA256)
        }
        return out
    }

    // MARK: checkpoints (resumable accumulation)

    func save(to path: String, attributes: [String: AttributeValue]) throws(EditError) {
        do {
            try H5File.write(path) { f in
                for l in layers {
                    try f.write(doubles: sums[l]!, shape: [dimension, dimension], at: "sums/layer_\(l)")
                }
                var a = attributes
                a["layers"] = .integers(layers.sorted().map(Int64.init), shape: [layers.count])
                a["token_count"] = .int(Int64(tokenCount))
                a["next_batch"] = .int(Int64(nextBatch))
                a["dimension"] = .int(Int64(dimension))
                try f.setAttributes(a)
            }
        } catch {
            throw .storage(file: path, reason: "\(error)")
        }
    }

    /// A checkpoint written by `save`, if its attributes match `attributes` exactly; nil otherwise.
    static func resume(from path: String, layers: [Int], dimension: Int, attributes: [String: AttributeValue]) -> KeyMomentAccumulator? {
        guard FileManager.default.fileExists(atPath: path), let f = try? H5File.open(path), let a = try? f.attributes() else { return nil }
        for (k, v) in attributes where a[k] != v { return nil }
        guard a["layers"] == .integers(layers.sorted().map(Int64.init), shape: [layers.count]),
            a["dimension"] == .int(Int64(dimension)),
            case .int(let tokens)? = a["token_count"], case .int(let next)? = a["next_batch"]
        else { return nil }
        var acc = KeyMomentAccumulator(layers: layers, dimension: dimension)
        for l in layers {
            guard let (v, s) = try? f.readDoubles("sums/layer_\(l)"), s == [dimension, dimension] else { return nil }
            acc.sums[l] = v
        }
        acc.tokenCount = Int(tokens)
        acc.nextBatch = Int(next)
        return acc
    }
}
