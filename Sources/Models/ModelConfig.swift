import ModelFormats

/// The families Locus runs. They are configurations of one generic block (`ModelConfig`), not
/// subclasses: the name says which file layout the loaders read and is shown to the user; every
/// difference in the computation is a field of `ModelConfig`.
public enum Architecture: String, Sendable, Codable, CaseIterable {
    case llama, mistral, qwen2, qwen3, phi3, gptj, gptneox, gemma2, gemma3, gpt2
}

public enum NormKind: String, Sendable, Codable { case rms, layer }
public enum Activation: String, Sendable, Codable { case silu, geluTanh, gelu }

/// Which dimensions of a head rotate together: `i` with `i + r/2` (Llama, NeoX; `rotate_half`), or
/// `2i` with `2i + 1` (GPT-J; `rotate_every_two`), over the first `r = ropeDimensions` dimensions.
public enum RotaryPairing: String, Sendable, Codable { case halfSplit, interleaved }

/// Everything the generic transformer block needs to know about a model family and size.
///
/// Read from GGUF metadata (`ModelConfig(gguf:)`) or a Hugging Face `config.json`; never guessed:
/// a key that would change the computation and is not understood stops the load.
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
    /// Dimensions of each head that rotate (the first ones; the rest pass through). `dHead` unless partial.
    public var ropeDimensions: Int
    public var rotaryPairing: RotaryPairing
    /// Divisors of the rotary inverse frequencies, one per rotating pair (`ropeDimensions / 2`): Llama 3's
    /// scaling (`rope_freqs.weight` in GGUF), and linear scaling (all equal to the factor). nil: none.
    public var ropeFrequencyFactors: [Float]?
    /// Multiplier on the rotary cosines and sines, so on q and k after rotation (YaRN's attention factor,
    /// `attention_scaling` in transformers). nil: 1.
    public var ropeAttentionFactor: Float?
    /// LongRoPE (Phi-3 128k, Phi-3.5): the divisors used instead of `ropeFrequencyFactors` (the short
    /// ones) in a pass whose largest position reaches `ropeLongAfter` or beyond, as transformers picks them.
    public var ropeLongFrequencyFactors: [Float]?
    public var ropeLongAfter: Int?
    /// Sliding-window size for local layers, and which layers are global (Gemma 3: every 6th;
    /// Gemma 2: every 2nd; nil pattern: every layer is local, as Mistral).
    public var slidingWindow: Int?
    public var slidingWindowPattern: Int?
    /// RMSNorm on each head's query and key (Gemma 3, Qwen3).
    public var qkNorm: Bool
    /// Norms on the attention and MLP outputs before they join the residual stream (Gemma 2 and 3).
    public var postNorms: Bool
    /// Attention and MLP both read `resid_pre` and are added to it together (GPT-J, GPT-NeoX with
    /// `use_parallel_residual`); there is no `hook_resid_mid`.
    public var parallelBlock: Bool
    /// Multiplier on token embeddings (Gemma: √d_model).
    public var embeddingScale: Float
    /// Multiplier on q·k (1/√d_head, or Gemma's query_pre_attn_scalar^-1/2).
    public var attentionScale: Float
    /// Soft-capping `c·tanh(x/c)` of the attention scores and of the final logits (Gemma 2).
    public var attentionSoftcap: Float?
    public var finalSoftcap: Float?

    public init(
        architecture: Architecture, dModel: Int, nLayers: Int, nHeads: Int, nKVHeads: Int, dHead: Int, dMLP: Int,
        vocabSize: Int, contextLength: Int, norm: NormKind, normEpsilon: Float, activation: Activation,
        gatedMLP: Bool, rotary: Bool, ropeBase: Float = 10000, ropeLocalBase: Float? = nil, ropeDimensions: Int? = nil,
        rotaryPairing: RotaryPairing = .halfSplit, ropeFrequencyFactors: [Float]? = nil, ropeAttentionFactor: Float? = nil,
        slidingWindow: Int? = nil, slidingWindowPattern: Int? = nil, qkNorm: Bool = false, postNorms: Bool = false,
        parallelBlock: Bool = false, embeddingScale: Float = 1, attentionScale: Float? = nil,
        attentionSoftcap: Float? = nil, finalSoftcap: Float? = nil
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
        self.rotaryPairing = rotaryPairing
        self.ropeFrequencyFactors = ropeFrequencyFactors
        self.ropeAttentionFactor = ropeAttentionFactor
        self.slidingWindow = slidingWindow
        self.slidingWindowPattern = slidingWindowPattern
        self.qkNorm = qkNorm
        self.postNorms = postNorms
        self.parallelBlock = parallelBlock
        self.embeddingScale = embeddingScale
        self.attentionScale = attentionScale ?? 1 / Float(dHead).squareRoot()
        self.attentionSoftcap = attentionSoftcap
        self.finalSoftcap = finalSoftcap
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

    /// The rotary frequency divisors at a layer, in a pass over `positions` positions: none on local layers
    /// that have their own base (Gemma 3's scaling is for its global layers only); LongRoPE's long ones
    /// when the pass goes past `ropeLongAfter` positions.
    public func ropeFrequencyFactors(layer: Int, positions: Int) -> [Float]? {
        if isLocal(layer: layer) && ropeLocalBase != nil { return nil }
        return usesLongFactors(positions: positions) ? ropeLongFrequencyFactors : ropeFrequencyFactors
    }

    /// Whether a pass over `positions` positions (its largest position + 1) takes LongRoPE's long factors.
    public func usesLongFactors(positions: Int) -> Bool {
        guard ropeLongFrequencyFactors != nil, let after = ropeLongAfter else { return false }
        return positions > after
    }

    /// The multiplier on the rotary cosines and sines at a layer (1 where the scaling does not apply).
    public func ropeAttentionFactor(layer: Int) -> Float {
        isLocal(layer: layer) && ropeLocalBase != nil ? 1 : (ropeAttentionFactor ?? 1)
    }

    public var qWidth: Int { nHeads * dHead }
    public var kvWidth: Int { nKVHeads * dHead }

    /// The largest width, count or length a configuration may declare (2^24).
    static let maximumSize = 1 << 24

    /// Checks the sizes against each other, naming the field of `file` that is wrong.
    func validate(file: String, field: (String) -> String) throws(ModelFormatError) {
        for (name, value) in [("d_model", dModel), ("layers", nLayers), ("heads", nHeads), ("kv_heads", nKVHeads),
                              ("d_head", dHead), ("d_mlp", dMLP), ("vocab", vocabSize), ("context", contextLength)]
        where value <= 0 || value > Self.maximumSize {
            throw ModelFormatError(.malformed, file: file, field: field(name), expected: "a positive size", found: "\(value)")
        }
        guard nHeads % nKVHeads == 0 else {
            throw ModelFormatError(.malformed, file: file, field: field("kv_heads"), expected: "a divisor of the head count \(nHeads)", found: "\(nKVHeads)")
        }
        guard !rotary || (ropeDimensions > 0 && ropeDimensions <= dHead && ropeDimensions % 2 == 0) else {
            throw ModelFormatError(.malformed, file: file, field: field("rope_dimensions"), expected: "an even number of dimensions up to d_head \(dHead)", found: "\(ropeDimensions)")
        }
        if let f = ropeFrequencyFactors, f.count != ropeDimensions / 2 || !f.allSatisfy({ $0.isFinite && $0 > 0 }) {
            throw ModelFormatError(.malformed, file: file, field: field("rope_frequency_factors"), expected: "\(ropeDimensions / 2) positive factors", found: "\(f.count) values")
        }
        if let f = ropeLongFrequencyFactors, f.count != ropeDimensions / 2 || !f.allSatisfy({ $0.isFinite && $0 > 0 }) || ropeLongAfter == nil {
            throw ModelFormatError(.malformed, file: file, field: field("rope_long_frequency_factors"), expected: "\(ropeDimensions / 2) positive factors and an original context", found: "\(f.count) values")
        }
        if let a = ropeAttentionFactor, !(a > 0 && a.isFinite) {
            throw ModelFormatError(.malformed, file: file, field: field("rope_attention_factor"), expected: "a positive factor", found: "\(a)")
        }
        if let w = slidingWindow, w <= 0 {
            throw ModelFormatError(.malformed, file: file, field: field("sliding_window"), expected: "a positive window", found: "\(w)")
        }
        for (name, cap) in [("attention_softcap", attentionSoftcap), ("final_softcap", finalSoftcap)] {
            if let cap, !(cap > 0 && cap.isFinite) {
                throw ModelFormatError(.malformed, file: file, field: field(name), expected: "a positive soft-cap", found: "\(cap)")
            }
        }
    }
}

