import ModelFormats

/// Reads `general.architecture` and the `<arch>.*` keys of a GGUF file, remembering which it read, so
/// that a key Locus does not understand stops the load instead of being ignored.
final class ArchitectureKeys {
    let gguf: GGUFFile
    let prefix: String
    private(set) var read: Set<String> = []

    init(_ gguf: GGUFFile, prefix: String) {
        self.gguf = gguf
        self.prefix = prefix
    }

    private func note(_ key: String) -> String {
        read.insert(prefix + key)
        return prefix + key
    }
    func has(_ key: String) -> Bool { gguf.metadata[prefix + key] != nil }
    func integer(_ key: String) throws(ModelFormatError) -> Int { try gguf.integer(note(key)) }
    func optionalInteger(_ key: String) throws(ModelFormatError) -> Int? { try gguf.optionalInteger(note(key)) }
    func number(_ key: String) throws(ModelFormatError) -> Double { try gguf.number(note(key)) }
    func optionalNumber(_ key: String) throws(ModelFormatError) -> Double? { try gguf.optionalNumber(note(key)) }
    func optionalBool(_ key: String) throws(ModelFormatError) -> Bool? { try gguf.optionalBool(note(key)) }
    func optionalString(_ key: String) throws(ModelFormatError) -> String? {
        guard has(key) else { _ = note(key); return nil }
        return try gguf.string(note(key))
    }

    /// Every `<arch>.*` key must have been read: the others may change the computation.
    func refuseUnread() throws(ModelFormatError) {
        let unread = gguf.metadataKeys.filter { $0.hasPrefix(prefix) && !read.contains($0) }
        if let key = unread.first {
            throw ModelFormatError(
                .unsupportedFeature, file: gguf.path, field: "metadata.\(key)",
                expected: "only keys Locus implements (\(prefix)* keys it reads: \(read.sorted().joined(separator: ", ")))",
                found: "\(gguf.metadata[key].map { "\($0.valueType) \($0.summary)" } ?? "a key") that may change the computation")
        }
    }
}

extension ModelConfig {
    /// Reads the configuration from GGUF metadata (`general.architecture` and `<arch>.*` keys), the
    /// way llama.cpp reads them for each architecture. Refuses any `<arch>.*` key it does not read,
    /// and rotary scaling types it does not implement, by name.
    public init(gguf: GGUFFile) throws(ModelFormatError) {
        let archName = try gguf.string("general.architecture")
        let known: [String: Architecture] = [
            "llama": .llama, "qwen2": .qwen2, "qwen3": .qwen3, "phi3": .phi3, "gptneox": .gptneox,
            "gemma2": .gemma2, "gemma3": .gemma3, "gpt2": .gpt2, "gptj": .gptj,
        ]
        guard let arch = known[archName] else {
            throw ModelFormatError(
                .unsupportedArchitecture, file: gguf.path, field: "metadata.general.architecture",
                expected: known.keys.sorted().joined(separator: ", "), found: archName)
        }
        let k = ArchitectureKeys(gguf, prefix: archName + ".")
        let d = try k.integer("embedding_length")
        let nHeads = try k.integer("attention.head_count")
        let dHead = try k.optionalInteger("attention.key_length") ?? d / max(nHeads, 1)
        if let dv = try k.optionalInteger("attention.value_length"), dv != dHead {
            throw ModelFormatError(.unsupportedFeature, file: gguf.path, field: "metadata.\(archName).attention.value_length", expected: "equal to key_length \(dHead)", found: "\(dv)")
        }
        if let causal = try k.optionalBool("attention.causal"), !causal {
            throw ModelFormatError(.unsupportedFeature, file: gguf.path, field: "metadata.\(archName).attention.causal", expected: "true (causal language models)", found: "false")
        }
        guard let tokenEmbedding = gguf.tensorInfo("token_embd.weight") else {
            throw ModelFormatError(.missingField, file: gguf.path, field: "tensor.token_embd.weight", expected: "the token embedding", found: "none")
        }
        let layerNorm = [.gptneox, .gpt2, .gptj].contains(arch)
        let eps = try k.number(layerNorm ? "attention.layer_norm_epsilon" : "attention.layer_norm_rms_epsilon")
        let rotary = arch != .gpt2
        let gemma = arch == .gemma2 || arch == .gemma3
        var c = ModelConfig(
            architecture: arch, dModel: d, nLayers: try k.integer("block_count"), nHeads: nHeads,
            nKVHeads: try k.optionalInteger("attention.head_count_kv") ?? nHeads, dHead: dHead,
            dMLP: try k.integer("feed_forward_length"),
            vocabSize: try k.optionalInteger("vocab_size") ?? tokenEmbedding.shape[0],
            contextLength: try k.integer("context_length"), norm: layerNorm ? .layer : .rms, normEpsilon: Float(eps),
            activation: gemma || arch == .gpt2 || arch == .gptj ? .geluTanh : (arch == .gptneox ? .gelu : .silu),
            gatedMLP: !layerNorm, rotary: rotary,
            rotaryPairing: arch == .gptj ? .interleaved : .halfSplit,
            qkNorm: arch == .gemma3 || arch == .qwen3, postNorms: gemma,
            parallelBlock: arch == .gptj, embeddingScale: gemma ? Float(d).squareRoot() : 1)
        if rotary {
            c.ropeBase = Float(try k.optionalNumber("rope.freq_base") ?? (arch == .gemma3 ? 1_000_000 : 10000))
            c.ropeDimensions = try k.optionalInteger("rope.dimension_count") ?? dHead
            let scaling = try ropeScaling(k, gguf: gguf, base: c.ropeBase, dimensions: c.ropeDimensions, context: c.contextLength)
            (c.ropeFrequencyFactors, c.ropeAttentionFactor) = (scaling.factors, scaling.cosineScale)
            (c.ropeLongFrequencyFactors, c.ropeLongAfter) = (scaling.long?.factors, scaling.long?.after)
        }
        // llama.cpp's converter writes 0 for "no window" (Phi-3 without one); Gemma 2 always has one (4,096 by default).
        let window = try k.optionalInteger("attention.sliding_window") ?? (arch == .gemma2 ? 4096 : 0)
        if window != 0 {
            c.slidingWindow = window
            switch arch {
            // Gemma 3: local layers have their own base (10,000 unless rope.freq_base_swa says) and no scaling;
            // every 6th layer is global. Gemma 2: even layers are local.
            case .gemma3:
                c.ropeLocalBase = Float(try k.optionalNumber("rope.freq_base_swa") ?? 10000)
                c.slidingWindowPattern = try k.optionalInteger("attention.sliding_window_pattern") ?? 6
            case .gemma2:
                c.slidingWindowPattern = try k.optionalInteger("attention.sliding_window_pattern") ?? 2
            // Phi-3 (and any other) with a window: every layer is local.
            default: break
            }
        }
        if arch == .gptneox { c.parallelBlock = try k.optionalBool("use_parallel_residual") ?? true }
        if arch == .gemma2 { c.attentionSoftcap = try k.optionalNumber("attn_logit_softcapping").map(Float.init) }
        if gemma {
            c.finalSoftcap = try k.optionalNumber("final_logit_softcapping").map(Float.init).flatMap { $0 > 0 ? $0 : nil }
        }
        // llama.cpp scales q·k by 1/√key_length, except Gemma 2 and 3 27B (46 and 62 blocks), whose
        // query_pre_attn_scalar is d_model / heads; the GGUF has no key for it.
        let gemma27B = (arch == .gemma2 && c.nLayers == 46) || (arch == .gemma3 && c.nLayers == 62)
        c.attentionScale = 1 / Float(gemma27B ? d / nHeads : dHead).squareRoot()
        try k.refuseUnread()
        try c.validate(file: gguf.path) { "metadata.\(archName).\($0)" }
        self = c
    }
}

/// The rotary scaling a GGUF file asks for, as divisors of the inverse frequencies and a multiplier on the
/// cosines and sines: `rope.scaling.type` none, linear (factor) or yarn, llama.cpp's `rope_freqs.weight`
/// tensor (Llama 3), Phi-3's LongRoPE `rope_factors_long/short.weight` tensors, and `rope.scaling.attn_factor`.
/// YaRN's extrapolation factor and DeepSeek's log multiplier are refused by name.
private func ropeScaling(
    _ k: ArchitectureKeys, gguf: GGUFFile, base: Float, dimensions: Int, context: Int
) throws(ModelFormatError) -> (factors: [Float]?, cosineScale: Float?, long: (factors: [Float], after: Int)?) {
    var factors: [Float]?
    var cosineScale = Float(try k.optionalNumber("rope.scaling.attn_factor") ?? 1)
    let type = try k.optionalString("rope.scaling.type") ?? "none"
    let factor = try k.optionalNumber("rope.scaling.factor")
    let original = try k.optionalInteger("rope.scaling.original_context_length")
    _ = try k.optionalNumber("rope.scale_linear")
    _ = try k.optionalBool("rope.scaling.finetuned")
    let yarnKeys = ["yarn_ext_factor", "yarn_attn_factor", "yarn_beta_fast", "yarn_beta_slow", "yarn_log_multiplier"]
    var yarnValues: [String: Double] = [:]
    for key in yarnKeys { yarnValues[key] = try k.optionalNumber("rope.scaling.\(key)") }
    if type != "yarn", let key = yarnKeys.first(where: { yarnValues[$0] != nil }) {
        throw ModelFormatError(.malformed, file: gguf.path, field: "metadata.\(k.prefix)rope.scaling.\(key)", expected: "only with rope.scaling.type yarn", found: type)
    }
    func requiredFactor(_ what: String, or legacy: Double? = nil) throws(ModelFormatError) -> Double {
        guard let f = factor ?? legacy, f > 0 else {
            throw ModelFormatError(.missingField, file: gguf.path, field: "metadata.\(k.prefix)rope.scaling.factor", expected: "a positive factor for \(what)", found: "none")
        }
        return f
    }
    switch type {
    case "none":
        if let f = try k.optionalNumber("rope.scale_linear"), f != 1 { factors = Array(repeating: Float(f), count: dimensions / 2) }
    case "linear":
        let f = try requiredFactor("linear scaling", or: try k.optionalNumber("rope.scale_linear"))
        if f != 1 { factors = Array(repeating: Float(f), count: dimensions / 2) }
    case "yarn":
        // llama.cpp's extrapolation factor (1 in every converted model) and DeepSeek's log multiplier are
        // not part of transformers' YaRN: refused rather than guessed.
        if let e = yarnValues["yarn_ext_factor"], e != 1 {
            throw ModelFormatError(.unsupportedFeature, file: gguf.path, field: "metadata.\(k.prefix)rope.scaling.yarn_ext_factor", expected: "1 (other extrapolation factors are not implemented)", found: "\(e)")
        }
        if let m = yarnValues["yarn_log_multiplier"], m != 0 {
            throw ModelFormatError(.unsupportedFeature, file: gguf.path, field: "metadata.\(k.prefix)rope.scaling.yarn_log_multiplier", expected: "0 (DeepSeek's attention scaling is not implemented)", found: "\(m)")
        }
        var y = YaRN(factor: try requiredFactor("yarn scaling"), originalContext: original ?? context)
        if let b = yarnValues["yarn_beta_fast"] { y.betaFast = b }
        if let b = yarnValues["yarn_beta_slow"] { y.betaSlow = b }
        // The converter writes transformers' attention_factor here; it replaces 0.1·ln(factor) + 1 as there.
        y.attentionFactor = yarnValues["yarn_attn_factor"]
        factors = y.frequencyFactors(base: base, dimensions: dimensions)
        cosineScale *= Float(y.cosineScale)
    case "longrope": break  // the factor tensors below
    default:
        throw ModelFormatError(
            .unsupportedFeature, file: gguf.path, field: "metadata.\(k.prefix)rope.scaling.type",
            expected: "none, linear, yarn or longrope (with Llama 3's rope_freqs.weight or Phi-3's rope_factors_long/short tensors); \(type) is not implemented", found: type)
    }
    func pairFactors(_ name: String) throws(ModelFormatError) -> [Float]? {
        guard let info = gguf.tensorInfo(name) else { return nil }
        guard info.shape == [dimensions / 2] else {
            throw ModelFormatError(.shapeMismatch, file: gguf.path, field: "tensor.\(name).shape", expected: "[\(dimensions / 2)]", found: "\(info.shape)")
        }
        return try gguf.floats(info)
    }
    // LongRoPE (Phi-3 128k, Phi-3.5): short factors up to the original context, long ones in a pass
    // beyond it. llama.cpp picks by the context size it is run with; Locus by the pass, as transformers.
    var long: (factors: [Float], after: Int)?
    let llama3Factors = try pairFactors("rope_freqs.weight")
    let longFactors = try pairFactors("rope_factors_long.weight"), shortFactors = try pairFactors("rope_factors_short.weight")
    if longFactors != nil || shortFactors != nil || type == "longrope" {
        guard type == "none" || type == "longrope", factors == nil, llama3Factors == nil else {
            throw ModelFormatError(.unsupportedFeature, file: gguf.path, field: "metadata.\(k.prefix)rope.scaling.type", expected: "none or longrope with rope_factors_long/short tensors", found: type)
        }
        guard let longFactors, let shortFactors else {
            throw ModelFormatError(.missingField, file: gguf.path, field: "tensor.rope_factors_\(longFactors == nil ? "long" : "short").weight", expected: "both LongRoPE factor tensors", found: "none")
        }
        guard let original else {
            throw ModelFormatError(.missingField, file: gguf.path, field: "metadata.\(k.prefix)rope.scaling.original_context_length", expected: "the context LongRoPE's long factors start after", found: "none")
        }
        factors = shortFactors
        long = (longFactors, original)
    }
    if let f = llama3Factors { factors = factors.map { zip($0, f).map { $0 * $1 } } ?? f }
    return (factors, cosineScale == 1 ? nil : cosineScale, long)
}
