import Foundation
import ModelFormats

/// A Hugging Face `config.json`, read field by field with errors that name the file and the field,
/// remembering which fields were read so that one Locus does not understand stops the load.
final class ConfigJSON {
    let file: String
    let json: [String: JSONValue]
    private(set) var read: Set<String> = []

    init(file: String) throws(ModelFormatError) {
        self.file = file
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ModelFormatError(
                FileManager.default.fileExists(atPath: file) ? .unreadable : .fileNotFound, file: file, field: "file",
                expected: "a readable config.json", found: "unreadable")
        }
        guard let json = JSONValue.parse(data)?.object else {
            throw ModelFormatError(.malformed, file: file, field: "config.json", expected: "a JSON object", found: "unparseable JSON")
        }
        self.json = json
    }

    private func value(_ key: String) -> JSONValue? {
        read.insert(key)
        guard let v = json[key], !v.isNull else { return nil }
        return v
    }
    private func wrong(_ key: String, _ expected: String, _ v: JSONValue) -> ModelFormatError {
        ModelFormatError(.wrongFieldType, file: file, field: key, expected: expected, found: "\(v)")
    }
    func has(_ key: String) -> Bool { json[key].map { !$0.isNull } ?? false }

    func optionalInt(_ key: String) throws(ModelFormatError) -> Int? {
        guard let v = value(key) else { return nil }
        guard let n = v.integer else { throw wrong(key, "an integer", v) }
        return n
    }
    func int(_ key: String) throws(ModelFormatError) -> Int {
        guard let v = try optionalInt(key) else {
            throw ModelFormatError(.missingField, file: file, field: key, expected: "an integer", found: "no such field")
        }
        return v
    }
    /// A size (width, count, length): checked as it is read, before anything is computed or allocated from it.
    func optionalSize(_ key: String) throws(ModelFormatError) -> Int? {
        guard let n = try optionalInt(key) else { return nil }
        guard n > 0, n <= ModelConfig.maximumSize else {
            throw ModelFormatError(.malformed, file: file, field: key, expected: "a positive size up to 2^24", found: "\(n)")
        }
        return n
    }
    func size(_ key: String) throws(ModelFormatError) -> Int {
        guard let v = try optionalSize(key) else {
            throw ModelFormatError(.missingField, file: file, field: key, expected: "an integer", found: "no such field")
        }
        return v
    }
    func optionalDouble(_ key: String) throws(ModelFormatError) -> Double? {
        guard let v = value(key) else { return nil }
        guard let n = v.number else { throw wrong(key, "a number", v) }
        return n
    }
    func optionalBool(_ key: String) throws(ModelFormatError) -> Bool? {
        guard let v = value(key) else { return nil }
        guard let b = v.bool else { throw wrong(key, "true or false", v) }
        return b
    }
    func optionalString(_ key: String) throws(ModelFormatError) -> String? {
        guard let v = value(key) else { return nil }
        guard let s = v.string else { throw wrong(key, "a string", v) }
        return s
    }
    func optionalObject(_ key: String) throws(ModelFormatError) -> [String: JSONValue]? {
        guard let v = value(key) else { return nil }
        guard let o = v.object else { throw wrong(key, "an object", v) }
        return o
    }
    func optionalStrings(_ key: String) throws(ModelFormatError) -> [String]? {
        guard let v = value(key) else { return nil }
        guard let a = v.array, a.allSatisfy({ $0.string != nil }) else { throw wrong(key, "an array of strings", v) }
        return a.map { $0.string! }
    }

    /// Fields every `PretrainedConfig` may carry that do not change the forward pass.
    static let harmless: Set<String> = [
        "architectures", "model_type", "torch_dtype", "dtype", "transformers_version", "_name_or_path",
        "bos_token_id", "eos_token_id", "pad_token_id", "sep_token_id", "decoder_start_token_id", "initializer_range",
        "use_cache", "attention_dropout", "hidden_dropout", "embd_pdrop", "resid_pdrop", "attn_pdrop", "summary_activation",
        "summary_first_dropout", "summary_proj_to_labels", "summary_type", "summary_use_proj", "task_specific_params",
        "classifier_dropout", "tokenizer_class", "use_bfloat16", "return_dict", "output_hidden_states", "output_attentions",
        "torchscript", "is_encoder_decoder", "is_decoder", "id2label", "label2id", "problem_type", "chunk_size_feed_forward",
        "add_cross_attention", "tie_encoder_decoder", "finetuning_task", "prefix", "bad_words_ids", "begin_suppress_tokens",
        "max_length", "min_length", "do_sample", "early_stopping", "num_beams", "num_beam_groups", "diversity_penalty",
        "temperature", "top_k", "top_p", "typical_p", "repetition_penalty", "length_penalty", "no_repeat_ngram_size",
        "encoder_no_repeat_ngram_size", "num_return_sequences", "output_scores", "return_dict_in_generate",
        "forced_bos_token_id", "forced_eos_token_id", "remove_invalid_values", "exponential_decay_length_penalty",
        "suppress_tokens", "cross_attention_hidden_size", "pruned_heads", "tf_legacy_loss", "use_return_dict",
        "_attn_implementation_autoset", "cache_implementation", "pretraining_tp", "quantization_config_applied",
        "max_window_layers", "n_ctx", "reorder_and_upcast_attn", "gradient_checkpointing", "unk_token_id",
    ]

    /// Every field must have been read or be harmless: the others may change the computation.
    func refuseUnread() throws(ModelFormatError) {
        let unread = json.keys.filter { !read.contains($0) && !Self.harmless.contains($0) }.sorted()
        if let key = unread.first {
            throw ModelFormatError(
                .unsupportedFeature, file: file, field: key,
                expected: "only fields Locus implements for model_type \(json["model_type"]?.string ?? "?")", found: "\(json[key]!) (a field that may change the computation)")
        }
    }
}

extension ModelConfig {
    /// Reads a Hugging Face `config.json` of a supported `model_type`, field by field. Fields that would
    /// change the computation and are not implemented (an unknown rotary scaling, a disabled bias that the
    /// weights contradict, an unknown field) are refused by name.
    init(huggingFace j: ConfigJSON) throws {
        let type = try j.optionalString("model_type") ?? ""
        let known: [String: Architecture] = [
            "llama": .llama, "mistral": .mistral, "qwen2": .qwen2, "qwen3": .qwen3, "phi3": .phi3, "gptj": .gptj,
            "gpt_neox": .gptneox, "gemma2": .gemma2, "gemma3_text": .gemma3, "gemma3": .gemma3, "gpt2": .gpt2,
        ]
        guard let arch = known[type] else {
            throw ModelFormatError(.unsupportedArchitecture, file: j.file, field: "model_type", expected: known.keys.sorted().joined(separator: ", "), found: type)
        }
        let gpt = arch == .gpt2 || arch == .gptj
        let d = try j.size(gpt ? "n_embd" : "hidden_size")
        let nH = try j.size(gpt ? "n_head" : "num_attention_heads")
        let layerNorm = gpt || arch == .gptneox
        let gemma = arch == .gemma2 || arch == .gemma3
        let dHead = try j.optionalSize("head_dim") ?? d / nH
        let eps = try j.optionalDouble(layerNorm ? (arch == .gptneox ? "layer_norm_eps" : "layer_norm_epsilon") : "rms_norm_eps")
        let actKey = gemma ? "hidden_activation" : (gpt ? "activation_function" : "hidden_act")
        let actName = try j.optionalString(actKey) ?? (gemma ? "gelu_pytorch_tanh" : (gpt ? "gelu_new" : "silu"))
        if gemma { _ = try j.optionalString("hidden_act") }
        let activations: [String: Activation] = ["silu": .silu, "swish": .silu, "gelu_pytorch_tanh": .geluTanh, "gelu_new": .geluTanh, "gelu": .gelu]
        guard let act = activations[actName] else {
            throw ModelFormatError(.unsupportedFeature, file: j.file, field: actKey, expected: activations.keys.sorted().joined(separator: ", "), found: actName)
        }
        var c = ModelConfig(
            architecture: arch, dModel: d, nLayers: try j.size(gpt ? "n_layer" : "num_hidden_layers"), nHeads: nH,
            nKVHeads: try j.optionalSize("num_key_value_heads") ?? nH, dHead: dHead,
            dMLP: try j.optionalSize(gpt ? "n_inner" : "intermediate_size") ?? 4 * d, vocabSize: try j.size("vocab_size"),
            contextLength: try j.size(gpt ? "n_positions" : "max_position_embeddings"), norm: layerNorm ? .layer : .rms,
            normEpsilon: Float(eps ?? (layerNorm ? 1e-5 : 1e-6)), activation: act, gatedMLP: !layerNorm, rotary: arch != .gpt2,
            rotaryPairing: arch == .gptj ? .interleaved : .halfSplit, qkNorm: arch == .gemma3 || arch == .qwen3,
            postNorms: gemma, parallelBlock: arch == .gptj, embeddingScale: gemma ? Float(d).squareRoot() : 1)
        if c.rotary { try readRotary(j, into: &c) }
        try readWindows(j, into: &c)
        switch arch {
        case .gpt2:
            if let s = try j.optionalBool("scale_attn_weights"), !s { throw refused(j, "scale_attn_weights", "true", "false") }
            if let s = try j.optionalBool("scale_attn_by_inverse_layer_idx"), s { throw refused(j, "scale_attn_by_inverse_layer_idx", "false", "true") }
        case .gptneox:
            c.parallelBlock = try j.optionalBool("use_parallel_residual") ?? true
            _ = try j.optionalBool("attention_bias")
        case .gemma2, .gemma3:
            if let s = try j.optionalDouble("query_pre_attn_scalar") { c.attentionScale = 1 / Float(s).squareRoot() }
            c.attentionSoftcap = try j.optionalDouble("attn_logit_softcapping").map(Float.init)
            c.finalSoftcap = try j.optionalDouble("final_logit_softcapping").map(Float.init)
        default: break
        }
        // Biases are used when the weights hold them; these fields only say whether they do.
        _ = try j.optionalBool("attention_bias")
        switch arch {
        case .gpt2, .gptj, .gptneox: break
        default:
            if let m = try j.optionalBool("mlp_bias"), m { throw refused(j, "mlp_bias", "false (no MLP biases in this family)", "true") }
        }
        _ = try j.optionalBool("tie_word_embeddings")
        if try j.optionalBool("use_bidirectional_attention") == true { throw refused(j, "use_bidirectional_attention", "false (causal attention)", "true") }
        try j.refuseUnread()
        try c.validate(file: j.file) { $0 }
        self = c
    }
}

private func refused(_ j: ConfigJSON, _ field: String, _ expected: String, _ found: String) -> ModelFormatError {
    ModelFormatError(.unsupportedFeature, file: j.file, field: field, expected: expected, found: found)
}

/// Rotary base, partial rotary and scaling, from the legacy fields (`rope_theta`, `rope_scaling`,
/// `rotary_pct`, `rotary_dim`, `partial_rotary_factor`) or transformers 5's `rope_parameters`
/// (flat, or keyed by layer type as Gemma 3's).
private func readRotary(_ j: ConfigJSON, into c: inout ModelConfig) throws {
    var params = try j.optionalObject("rope_parameters") ?? [:]
    var local: [String: JSONValue]?
    if let full = params["full_attention"]?.object {
        local = params["sliding_attention"]?.object
        params = full
    }
    if let legacy = try j.optionalObject("rope_scaling") { params.merge(legacy) { a, _ in a } }
    let theta = try params["rope_theta"]?.number ?? j.optionalDouble("rope_theta") ?? j.optionalDouble("rotary_emb_base")
    c.ropeBase = Float(theta ?? (c.architecture == .gemma3 ? 1_000_000 : 10000))
    if let lt = local?["rope_type"]?.string, lt != "default" {
        throw ModelFormatError(.unsupportedFeature, file: j.file, field: "rope_parameters.sliding_attention.rope_type", expected: "default", found: lt)
    }
    if c.architecture == .gemma3 {
        c.ropeLocalBase = try Float(local?["rope_theta"]?.number ?? j.optionalDouble("rope_local_base_freq") ?? 10000)
    }
    let fraction = try params["partial_rotary_factor"]?.number ?? j.optionalDouble("partial_rotary_factor") ?? j.optionalDouble("rotary_pct")
    if let dims = try j.optionalInt("rotary_dim") {
        guard dims > 0, dims <= c.dHead, dims % 2 == 0 else {
            throw ModelFormatError(.malformed, file: j.file, field: "rotary_dim", expected: "an even number of dimensions up to head_dim \(c.dHead)", found: "\(dims)")
        }
        c.ropeDimensions = dims
    } else if let fraction {
        guard fraction > 0, fraction <= 1 else {
            throw ModelFormatError(.malformed, file: j.file, field: "partial_rotary_factor", expected: "a fraction in (0, 1]", found: "\(fraction)")
        }
        c.ropeDimensions = Int(Double(c.dHead) * fraction)
    }
    let type = params["rope_type"]?.string ?? params["type"]?.string ?? "default"
    let field = j.has("rope_scaling") ? "rope_scaling" : "rope_parameters"
    let scalingKeys: [String: Set<String>] = [
        "default": [], "linear": ["factor"],
        "llama3": ["factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"],
        "yarn": ["factor", "original_max_position_embeddings", "attention_factor", "beta_fast", "beta_slow", "mscale",
                 "mscale_all_dim", "truncate"],
        "longrope": ["factor", "original_max_position_embeddings", "attention_factor", "short_factor", "long_factor"],
    ]
    guard let keys = scalingKeys[type] else {
        throw ModelFormatError(
            .unsupportedFeature, file: j.file, field: "\(field).rope_type",
            expected: "default, linear, llama3, yarn or longrope (\(type) is not implemented)", found: type)
    }
    let understood = keys.union(["rope_type", "type", "rope_theta", "partial_rotary_factor"])
    if let extra = params.keys.sorted().first(where: { !understood.contains($0) }) {
        throw ModelFormatError(
            .unsupportedFeature, file: j.file, field: "\(field).\(extra)",
            expected: "for rope_type \(type) only " + understood.sorted().joined(separator: ", "), found: "\(params[extra]!)")
    }
    func number(_ k: String) throws -> Double? {
        guard let v = params[k], !v.isNull else { return nil }
        guard let n = v.number else {
            throw ModelFormatError(.malformed, file: j.file, field: "\(field).\(k)", expected: "a number", found: "\(v)")
        }
        return n
    }
    func required(_ k: String) throws -> Double {
        guard let v = try number(k) else {
            throw ModelFormatError(.missingField, file: j.file, field: "\(field).\(k)", expected: "a number for rope_type \(type)", found: "none")
        }
        return v
    }
    // As transformers' `standardize_rope_params`: a top-level original_max_position_embeddings (Phi-3's)
    // wins over the one in the scaling, and the context length stands in for both.
    let topLevelOriginal = try j.optionalSize("original_max_position_embeddings")
    func originalContext() throws -> Int {
        if let topLevelOriginal { return topLevelOriginal }
        guard let n = try number("original_max_position_embeddings") else { return c.contextLength }
        guard let i = Int(exactly: n), i > 0, i <= ModelConfig.maximumSize else {
            throw ModelFormatError(.malformed, file: j.file, field: "\(field).original_max_position_embeddings", expected: "a positive context length up to 2^24", found: "\(n)")
        }
        return i
    }
    let half = c.ropeDimensions / 2
    switch type {
    case "linear":
        c.ropeFrequencyFactors = Array(repeating: Float(try required("factor")), count: half)
    case "llama3":
        c.ropeFrequencyFactors = llama3FrequencyFactors(
            base: c.ropeBase, dimensions: c.ropeDimensions, factor: Float(try required("factor")),
            lowFrequencyFactor: Float(try required("low_freq_factor")), highFrequencyFactor: Float(try required("high_freq_factor")),
            originalContext: try originalContext())
    case "yarn":
        let original = try originalContext()
        // transformers: a null factor is the ratio of the context lengths; beta 0 or null takes the default.
        var y = YaRN(factor: try number("factor") ?? Double(c.contextLength) / Double(original), originalContext: original)
        if let b = try number("beta_fast"), b != 0 { y.betaFast = b }
        if let b = try number("beta_slow"), b != 0 { y.betaSlow = b }
        if let t = params["truncate"], !t.isNull {
            guard let b = t.bool else {
                throw ModelFormatError(.malformed, file: j.file, field: "\(field).truncate", expected: "true or false", found: "\(t)")
            }
            y.truncate = b
        }
        y.attentionFactor = try number("attention_factor")
        y.mscale = try number("mscale")
        y.mscaleAllDimensions = try number("mscale_all_dim")
        c.ropeFrequencyFactors = y.frequencyFactors(base: c.ropeBase, dimensions: c.ropeDimensions)
        c.ropeAttentionFactor = Float(y.cosineScale)
    case "longrope":
        func factors(_ k: String) throws -> [Float] {
            guard let a = params[k]?.array, a.count == half, let f = Optional(a.compactMap(\.number)), f.count == half, f.allSatisfy({ $0 > 0 }) else {
                throw ModelFormatError(.malformed, file: j.file, field: "\(field).\(k)", expected: "\(half) positive numbers (one per rotating pair)", found: "\(params[k] ?? .null)")
            }
            return f.map(Float.init)
        }
        let original = try originalContext()
        // transformers: a null factor is the ratio of the context lengths; the attention factor follows from it.
        let factor = try number("factor") ?? Double(c.contextLength) / Double(original)
        c.ropeFrequencyFactors = try factors("short_factor")
        c.ropeLongFrequencyFactors = try factors("long_factor")
        c.ropeLongAfter = original
        let attention = try number("attention_factor") ?? (factor <= 1 ? 1 : (1 + log(factor) / log(Double(original))).squareRoot())
        c.ropeAttentionFactor = Float(attention)
    default: break
    }
}

/// Sliding windows: Mistral's and Phi-3's on every layer, Qwen2's when `use_sliding_window`, and
/// Gemma's alternating layers (every 2nd (Gemma 2) or 6th (Gemma 3) layer global, or as `layer_types` says).
private func readWindows(_ j: ConfigJSON, into c: inout ModelConfig) throws {
    let window = try j.optionalInt("sliding_window")
    let types = try j.optionalStrings("layer_types")
    let enabled = try j.optionalBool("use_sliding_window")
    let pattern = try j.optionalSize("sliding_window_pattern") ?? j.optionalSize("_sliding_window_pattern")
    if enabled != false, let window {
        c.slidingWindow = window
        switch c.architecture {
        case .gemma2: c.slidingWindowPattern = 2
        case .gemma3: c.slidingWindowPattern = pattern ?? 6
        default: c.slidingWindowPattern = nil
        }
        if let types, c.architecture == .gemma2 || c.architecture == .gemma3, let first = types.firstIndex(of: "full_attention") {
            c.slidingWindowPattern = first + 1
        }
    }
    if let types {
        guard types.count == c.nLayers, types.enumerated().allSatisfy({ ($0.element == "sliding_attention") == c.isLocal(layer: $0.offset) }) else {
            throw ModelFormatError(
                .unsupportedFeature, file: j.file, field: "layer_types",
                expected: "\(c.nLayers) entries matching the windows Locus implements (every layer, or every Nth layer global)", found: "\(types)")
        }
    }
}
