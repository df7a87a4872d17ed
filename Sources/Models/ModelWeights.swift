/// A norm's parameters: scale, and a bias for LayerNorm.
public struct NormWeights: Sendable, Equatable {
    public var weight: [Float]
    public var bias: [Float]?
    public init(weight: [Float], bias: [Float]? = nil) {
        self.weight = weight
        self.bias = bias
    }
}

/// A linear map in Locus's canonical layout `y = x · W + b`: `W` is stored row-major as
/// `[inputs, outputs]`, so row `i` holds what input `i` adds to every output.
///
/// For the MLP's down projection `W_out` (`[d_mlp, d_model]`) row `i` is therefore the value vector
/// of FFN key `i` (Geva et al. 2021). GGUF and PyTorch store `[outputs, inputs]`; loaders transpose.
public struct Linear: Sendable, Equatable {
    public var weight: [Float]
    public var bias: [Float]?
    public let inputs: Int
    public let outputs: Int

    public init(weight: [Float], bias: [Float]? = nil, inputs: Int, outputs: Int) {
        precondition(weight.count == inputs * outputs, "Linear: \(weight.count) weights for \(inputs)×\(outputs)")
        precondition(bias == nil || bias!.count == outputs, "Linear: bias size")
        self.weight = weight
        self.bias = bias
        self.inputs = inputs
        self.outputs = outputs
    }
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
    public var embedding: [Float]
    /// Learned absolute positions (GPT-2), `[context, d_model]`.
    public var positionEmbedding: [Float]?
    public var blocks: [BlockWeights]
    public var finalNorm: NormWeights
    /// Unembedding stored as `[vocab, d_model]` (row `t` is token `t`'s read-out vector), i.e. `W_Uᵀ`.
    /// nil when tied to the embedding.
    public var unembedding: [Float]?
    /// Bias of the unembedding (GPT-J's `lm_head.bias`), `[vocab]`.
    public var unembeddingBias: [Float]?

    public init(
        embedding: [Float], positionEmbedding: [Float]? = nil, blocks: [BlockWeights], finalNorm: NormWeights,
        unembedding: [Float]? = nil, unembeddingBias: [Float]? = nil
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
        var out: [[Float]] = [embedding]
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
        if let u = unembedding { out.append(u) }
        if let b = unembeddingBias { out.append(b) }
        return out
    }

    /// Number of Float32 parameters held (tied matrices counted once).
    public var parameterCount: Int {
        var n = embedding.count + (positionEmbedding?.count ?? 0) + (unembedding?.count ?? 0) + (unembeddingBias?.count ?? 0)
        n += finalNorm.weight.count + (finalNorm.bias?.count ?? 0)
        for b in blocks {
            for l in [b.wQ, b.wK, b.wV, b.wO, b.wIn, b.wOut] + (b.wGate.map { [$0] } ?? []) {
                n += l.weight.count + (l.bias?.count ?? 0)
            }
            for nw in [b.ln1, b.ln2] + [b.qNorm, b.kNorm, b.postAttentionNorm, b.postMLPNorm].compactMap({ $0 }) {
                n += nw.weight.count + (nw.bias?.count ?? 0)
            }
        }
        return n
    }
}
