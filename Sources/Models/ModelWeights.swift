import ModelFormats

/// A norm's parameters: scale, and a bias for LayerNorm.
public struct NormWeights: Sendable, Equatable {
    public var weight: [Float]
    public var bias: [Float]?
    public init(weight: [Float], bias: [Float]? = nil) {
        self.weight = weight
        self.bias = bias
    }
}

/// A linear map in Locus's canonical layout `y = x · W + b`: `W` is `[inputs, outputs]` row-major, so row
/// `i` holds what input `i` adds to every output.
///
/// For the MLP's down projection `W_out` (`[d_mlp, d_model]`) row `i` is therefore the value vector
/// of FFN key `i` (Geva et al. 2021). GGUF and PyTorch store `[outputs, inputs]`: weights are either
/// converted to that layout in Float32 (`.dense`), or kept as the file stores them (`.stored`, one row
/// per output, in the file's type, read in place) and multiplied by `StoredProducts`' kernel. `weight`
/// always reads `[inputs, outputs]` Float32 (converting a stored matrix whole: for editing and tests,
/// not for the forward pass); writing it makes the map dense.
public struct Linear: Sendable, Equatable {
    public enum Storage: Sendable {
        case dense([Float])
        /// Rows are outputs; `order[r]` (when given) is the output that file row `r` computes.
        case stored(StoredMatrix, order: [Int]?)
    }
    public private(set) var storage: Storage
    public var bias: [Float]?
    public let inputs: Int
    public let outputs: Int

    public init(weight: [Float], bias: [Float]? = nil, inputs: Int, outputs: Int) {
        precondition(weight.count == inputs * outputs, "Linear: \(weight.count) weights for \(inputs)×\(outputs)")
        precondition(bias == nil || bias!.count == outputs, "Linear: bias size")
        self.storage = .dense(weight)
        self.bias = bias
        self.inputs = inputs
        self.outputs = outputs
    }

    /// A map kept in its file's type: `stored` is `[outputs, inputs]`.
    public init(stored: StoredMatrix, order: [Int]? = nil, bias: [Float]? = nil) {
        precondition(bias == nil || bias!.count == stored.rows, "Linear: bias size")
        precondition(order == nil || order!.count == stored.rows, "Linear: row order size")
        self.storage = .stored(stored, order: order)
        self.bias = bias
        self.inputs = stored.cols
        self.outputs = stored.rows
    }

    /// True when the weights are read from the file in its type.
    public var isStored: Bool { if case .stored = storage { return true } else { return false } }

    /// Bytes of the weights as held (in the file's type, or Float32).
    public var byteCount: Int {
        switch storage {
        case .dense(let w): return 4 * w.count
        case .stored(let m, _): return m.byteCount
        }
    }

    /// `[inputs, outputs]` in Float32.
    public var weight: [Float] {
        get {
            switch storage {
            case .dense(let w): return w
            case .stored(let m, let order):
                var file = m.floats()  // [outputs (file order), inputs]
                if let order {
                    var out = file
                    for (r, o) in order.enumerated() {
                        for j in 0..<inputs { out[o * inputs + j] = file[r * inputs + j] }
                    }
                    file = out
                }
                return transpose(file, rows: outputs, cols: inputs)
            }
        }
        set {
            precondition(newValue.count == inputs * outputs, "Linear: \(newValue.count) weights for \(inputs)×\(outputs)")
            storage = .dense(newValue)
        }
    }

    /// The weights in the file's type are converted to Float32 once (before an edit writes them).
    public mutating func makeDense() {
        if isStored { storage = .dense(weight) }
    }

    public static func == (a: Linear, b: Linear) -> Bool {
        a.inputs == b.inputs && a.outputs == b.outputs && a.bias == b.bias && a.weight == b.weight
    }
}

/// A `[rows, cols]` row-major matrix of Float32 values or kept in its file's type: the token embedding
/// and the unembedding (`[vocab, d_model]`, row `t` is token `t`'s vector).
public struct RowMatrix: Sendable, Equatable {
    public enum Storage: Sendable {
        case dense([Float])
        case stored(StoredMatrix)
    }
    public private(set) var storage: Storage
    public let rows: Int
    public let cols: Int

    public init(_ values: [Float], rows: Int, cols: Int) {
        precondition(values.count == rows * cols, "RowMatrix: \(values.count) values for \(rows)×\(cols)")
        storage = .dense(values)
        self.rows = rows
        self.cols = cols
    }

    public init(stored: StoredMatrix) {
        storage = .stored(stored)
        rows = stored.rows
        cols = stored.cols
    }

    public var isStored: Bool { if case .stored = storage { return true } else { return false } }

    /// Bytes of the values as held (in the file's type, or Float32).
    public var byteCount: Int {
        switch storage {
        case .dense(let v): return 4 * v.count
        case .stored(let m): return m.byteCount
        }
    }

    /// Every value in Float32.
    public var floats: [Float] {
        switch storage {
        case .dense(let v): return v
        case .stored(let m): return m.floats()
        }
    }

    /// Row `i` into `out` (`cols` floats).
    public func row(_ i: Int, into out: UnsafeMutablePointer<Float>) {
        switch storage {
        case .dense(let v): v.withUnsafeBufferPointer { out.update(from: $0.baseAddress! + i * cols, count: cols) }
        case .stored(let m): m.dequantizeRows(i..<(i + 1), into: out)
        }
    }

    public func row(_ i: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: cols) { b, n in row(i, into: b.baseAddress!); n = cols }
    }

    public static func == (a: RowMatrix, b: RowMatrix) -> Bool { a.rows == b.rows && a.cols == b.cols && a.floats == b.floats }
}

/// One transformer block's parameters. Optional parts are present only in the families that use them.
public struct BlockWeights: Sendable, Equatable {
    public var ln1: NormWeights
    public var wQ: Linear
    public var wK: Linear
    public var wV: Linear
    public var wO: Linear
    /// Per-head RMSNorm of queries and keys (Gemma 3), `[d_head]`.
    public var qNorm: NormWeights?
    public var kNorm: NormWeights?
    /// Norm on the attention output before the residual add (Gemma 3).
    public var postAttentionNorm: NormWeights?
    public var ln2: NormWeights
    /// Gate projection of a gated MLP (`mlp.hook_pre` is `x · W_gate`).
    public var wGate: Linear?
    /// Up projection (`mlp.hook_pre_linear` for gated MLPs, `mlp.hook_pre` otherwise).
    public var wIn: Linear
    /// Down projection; row `i` is the value vector of key `i`.
    public var wOut: Linear
    public var postMLPNorm: NormWeights?
    /// GRACE's codebook on `W_out`'s output (an edit, never read from a model file).
    public var codebook: Codebook?

    public init(
        ln1: NormWeights, wQ: Linear, wK: Linear, wV: Linear, wO: Linear, qNorm: NormWeights? = nil,
        kNorm: NormWeights? = nil, postAttentionNorm: NormWeights? = nil, ln2: NormWeights, wGate: Linear?,
        wIn: Linear, wOut: Linear, postMLPNorm: NormWeights? = nil
    ) {
        self.ln1 = ln1
        self.wQ = wQ
        self.wK = wK
        self.wV = wV
        self.wO = wO
        self.qNorm = qNorm
        self.kNorm = kNorm
        self.postAttentionNorm = postAttentionNorm
        self.ln2 = ln2
        self.wGate = wGate
        self.wIn = wIn
        self.wOut = wOut
        self.postMLPNorm = postMLPNorm
    }
}

/// All parameters of a model, in Float32.
public struct ModelWeights: Sendable, Equatable {
    /// Token embeddings `W_E`, `[vocab, d_model]`: row `t` is token `t`'s embedding.
    public var embedding: RowMatrix
    /// Learned absolute positions (GPT-2), `[context, d_model]`.
    public var positionEmbedding: [Float]?
    public var blocks: [BlockWeights]
    public var finalNorm: NormWeights
    /// Unembedding stored as `[vocab, d_model]` (row `t` is token `t`'s read-out vector), i.e. `W_Uᵀ`.
    /// nil when tied to the embedding.
    public var unembedding: RowMatrix?
    /// Bias of the unembedding (GPT-J's `lm_head.bias`), `[vocab]`.
    public var unembeddingBias: [Float]?

    public init(
        embedding: RowMatrix, positionEmbedding: [Float]? = nil, blocks: [BlockWeights], finalNorm: NormWeights,
        unembedding: RowMatrix? = nil, unembeddingBias: [Float]? = nil
    ) {
        self.unembeddingBias = unembeddingBias
        self.embedding = embedding
        self.positionEmbedding = positionEmbedding
        self.blocks = blocks
        self.finalNorm = finalNorm
        self.unembedding = unembedding
    }

    /// Every parameter array in a fixed order (for fingerprints and comparisons).
    public var allArrays: [[Float]] {
        var out: [[Float]] = [embedding.floats]
        if let p = positionEmbedding { out.append(p) }
        for b in blocks {
            for l in [b.wQ, b.wK, b.wV, b.wO] + (b.wGate.map { [$0] } ?? []) + [b.wIn, b.wOut] {
                out.append(l.weight)
                if let bias = l.bias { out.append(bias) }
            }
            for n in [b.ln1, b.ln2] + [b.qNorm, b.kNorm, b.postAttentionNorm, b.postMLPNorm].compactMap({ $0 }) {
                out.append(n.weight)
                if let bias = n.bias { out.append(bias) }
            }
        }
        out.append(finalNorm.weight)
        if let b = finalNorm.bias { out.append(b) }
        if let u = unembedding { out.append(u.floats) }
        if let b = unembeddingBias { out.append(b) }
        return out
    }

    /// Bytes of the matrices read to compute one token's logits (every block's projections and the
    /// unembedding, as held): what decoding streams from memory per token.
    public var matrixBytesPerToken: Int {
        var n = (unembedding ?? embedding).byteCount
        for b in blocks {
            for l in [b.wQ, b.wK, b.wV, b.wO, b.wIn, b.wOut] + (b.wGate.map { [$0] } ?? []) { n += l.byteCount }
        }
        return n
    }

    /// Number of Float32 parameters held (tied matrices counted once).
    public var parameterCount: Int {
        var n = embedding.rows * embedding.cols + (positionEmbedding?.count ?? 0) + (unembedding.map { $0.rows * $0.cols } ?? 0)
        n += unembeddingBias?.count ?? 0
        n += finalNorm.weight.count + (finalNorm.bias?.count ?? 0)
        for b in blocks {
            for l in [b.wQ, b.wK, b.wV, b.wO, b.wIn, b.wOut] + (b.wGate.map { [$0] } ?? []) {
                n += l.inputs * l.outputs + (l.bias?.count ?? 0)
            }
            for nw in [b.ln1, b.ln2] + [b.qNorm, b.kNorm, b.postAttentionNorm, b.postMLPNorm].compactMap({ $0 }) {
                n += nw.weight.count + (nw.bias?.count ?? 0)
            }
        }
        return n
    }
}
