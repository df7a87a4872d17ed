import ModelFormats

/// The families Locus runs. They are configurations of one generic block, not subclasses.
public enum Architecture: String, Sendable, Codable, CaseIterable {
    case llama, gemma3, gpt2
}

public enum NormKind: String, Sendable, Codable { case rms, layer }
public enum Activation: String, Sendable, Codable { case silu, geluTanh, gelu }

/// Everything the generic transformer block needs to know about a model family and size.
///
/// Read from GGUF metadata (`ModelConfig(gguf:)`) or built by hand for tests.
public struct ModelConfig: Sendable, Codable, Equatable {
    public var architecture: Architecture
    public var dModel: Int
    public var nLayers: Int
    public var nHeads: Int
    public var nKVHeads: Int
    public var dHead: Int
    public var dMLP: Int
    public var vocabSize: Int
    public var contextLength: Int
    public var norm: NormKind
    public var normEpsilon: Float
    public var activation: Activation
    /// Gated MLP (`act(x·W_gate) ⊙ (x·W_in)`), as in Llama and Gemma.
    public var gatedMLP: Bool
    /// Rotary position embedding (else learned absolute positions).
    public var rotary: Bool
    public var ropeBase: Float
    /// RoPE base of sliding-window layers where it differs (Gemma 3: 10,000).
    public var ropeLocalBase: Float?
    public var ropeDimensions: Int
    /// Sliding-window size for local layers, and which layers are global (Gemma 3: every 6th).
    public var slidingWindow: Int?
    public var slidingWindowPattern: Int?
    /// RMSNorm on each head's query and key (Gemma 3).
    public var qkNorm: Bool
    /// Norms on the attention and MLP outputs before they join the residual stream (Gemma 3).
    public var postNorms: Bool
    /// Multiplier on token embeddings (Gemma: √d_model).
    public var embeddingScale: Float
    /// Multiplier on q·k (1/√d_head, or Gemma's query_pre_attn_scalar^-1/2).
    public var attentionScale: Float

    public init(
        architecture: Architecture, dModel: Int, nLayers: Int, nHeads: Int, nKVHeads: Int, dHead: Int, dMLP: Int,
        vocabSize: Int, contextLength: Int, norm: NormKind, normEpsilon: Float, activation: Activation,
        gatedMLP: Bool, rotary: Bool, ropeBase: Float = 10000, ropeLocalBase: Float? = nil, ropeDimensions: Int? = nil,
        slidingWindow: Int? = nil, slidingWindowPattern: Int? = nil, qkNorm: Bool = false, postNorms: Bool = false,
        embeddingScale: Float = 1, attentionScale: Float? = nil
    ) {
        self.architecture = architecture
        self.dModel = dModel
        self.nLayers = nLayers
        self.nHeads = nHeads
        self.nKVHeads = nKVHeads
        self.dHead = dHead
        self.dMLP = dMLP
        self.vocabSize = vocabSize
        self.contextLength = contextLength
        self.norm = norm
        self.normEpsilon = normEpsilon
        self.activation = activation
        self.gatedMLP = gatedMLP
        self.rotary = rotary
        self.ropeBase = ropeBase
        self.ropeLocalBase = ropeLocalBase
        self.ropeDimensions = ropeDimensions ?? dHead
        self.slidingWindow = slidingWindow
        self.slidingWindowPattern = slidingWindowPattern
        self.qkNorm = qkNorm
        self.postNorms = postNorms
        self.embeddingScale = embeddingScale
        self.attentionScale = attentionScale ?? 1 / Float(dHead).squareRoot()
    }

    /// True for layers that attend only to the last `slidingWindow` positions.
    public func isLocal(layer: Int) -> Bool {
        guard slidingWindow != nil else { return false }
        guard let p = slidingWindowPattern else { return true }
        return (layer + 1) % p != 0
    }

    /// The RoPE base used at a layer.
    public func ropeBase(layer: Int) -> Float {
        isLocal(layer: layer) ? (ropeLocalBase ?? ropeBase) : ropeBase
    }

    public var qWidth: Int { nHeads * dHead }
    public var kvWidth: Int { nKVHeads * dHead }
}

extension ModelConfig {
    /// Reads the configuration from GGUF metadata (`general.architecture` and `<arch>.*` keys).
    public init(gguf: GGUFFile) throws(ModelFormatError) {
        let archName = try gguf.string("general.architecture")
        guard let arch = Architecture(rawValue: archName) else {
            throw ModelFormatError(
                .unsupportedArchitecture, file: gguf.path, field: "metadata.general.architecture",
                expected: Architecture.allCases.map(\.rawValue).joined(separator: ", "), found: archName)
        }
        let p = archName + "."
        let d = try gguf.integer(p + "embedding_length")
        let nLayers = try gguf.integer(p + "block_count")
        let nHeads = try gguf.integer(p + "attention.head_count")
        let nKV = try gguf.optionalInteger(p + "attention.head_count_kv") ?? nHeads
        let dHead = try gguf.optionalInteger(p + "attention.key_length") ?? d / nHeads
        let dMLP = try gguf.integer(p + "feed_forward_length")
        let ctx = try gguf.integer(p + "context_length")
        guard let tokenEmbedding = gguf.tensorInfo("token_embd.weight") else {
            throw ModelFormatError(.missingField, file: gguf.path, field: "tensor.token_embd.weight", expected: "the token embedding", found: "none")
        }
        let vocab = try gguf.optionalInteger(p + "vocab_size") ?? tokenEmbedding.shape[0]
        for (name, value) in [("embedding_length", d), ("block_count", nLayers), ("attention.head_count", nHeads),
                              ("attention.head_count_kv", nKV), ("feed_forward_length", dMLP), ("context_length", ctx)]
        where value <= 0 || value > 1 << 24 {
            throw ModelFormatError(.malformed, file: gguf.path, field: "metadata.\(p)\(name)", expected: "a positive size", found: "\(value)")
        }
        guard nHeads % nKV == 0 else {
            throw ModelFormatError(
                .malformed, file: gguf.path, field: "metadata.\(p)attention.head_count_kv",
                expected: "a divisor of head_count \(nHeads)", found: "\(nKV)")
        }
        switch arch {
        case .llama:
            let eps = try gguf.number(p + "attention.layer_norm_rms_epsilon")
            self.init(
                architecture: arch, dModel: d, nLayers: nLayers, nHeads: nHeads, nKVHeads: nKV, dHead: dHead, dMLP: dMLP,
                vocabSize: vocab, contextLength: ctx, norm: .rms, normEpsilon: Float(eps), activation: .silu,
                gatedMLP: true, rotary: true, ropeBase: Float(try gguf.optionalNumber(p + "rope.freq_base") ?? 10000),
                ropeDimensions: try gguf.optionalInteger(p + "rope.dimension_count"))
        case .gemma3:
            let eps = try gguf.number(p + "attention.layer_norm_rms_epsilon")
            // llama.cpp: Gemma 3 local layers use base 10,000; every 6th layer is global; q·k is scaled by
            // query_pre_attn_scalar^-1/2, which equals d_head for the released sizes.
            self.init(
                architecture: arch, dModel: d, nLayers: nLayers, nHeads: nHeads, nKVHeads: nKV, dHead: dHead, dMLP: dMLP,
                vocabSize: vocab, contextLength: ctx, norm: .rms, normEpsilon: Float(eps), activation: .geluTanh,
                gatedMLP: true, rotary: true, ropeBase: Float(try gguf.optionalNumber(p + "rope.freq_base") ?? 1_000_000),
                ropeLocalBase: 10000, ropeDimensions: dHead,
                slidingWindow: try gguf.optionalInteger(p + "attention.sliding_window"),
                slidingWindowPattern: try gguf.optionalInteger(p + "attention.sliding_window_pattern") ?? 6,
                qkNorm: true, postNorms: true, embeddingScale: Float(d).squareRoot(),
                attentionScale: 1 / Float(dHead).squareRoot())
        case .gpt2:
            let eps = try gguf.number(p + "attention.layer_norm_epsilon")
            self.init(
                architecture: arch, dModel: d, nLayers: nLayers, nHeads: nHeads, nKVHeads: nKV, dHead: dHead, dMLP: dMLP,
                vocabSize: vocab, contextLength: ctx, norm: .layer, normEpsilon: Float(eps), activation: .geluTanh,
                gatedMLP: false, rotary: false)
        }
    }
}
