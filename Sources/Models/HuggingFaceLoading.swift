import Foundation
import ModelFormats

/// Loads a Hugging Face checkpoint folder (`config.json` + `model.safetensors`, F32/F16/BF16) of a
/// supported family into the same `Transformer` a GGUF file gives.
///
/// Layout mapping: `nn.Linear` weights are `[outputs, inputs]` and are transposed to Locus's
/// `[inputs, outputs]`; GPT-2's `Conv1D` weights are already `[inputs, outputs]`; Gemma stores RMSNorm
/// weights as `w` with scale `1 + w`, so 1 is added (as llama.cpp's converter does).
extension Transformer {
    public init(huggingFaceDirectory dir: String) throws {
        let configPath = dir + "/config.json"
        guard let data = FileManager.default.contents(atPath: configPath),
            let json = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        else {
            throw ModelFormatError(.unreadable, file: configPath, field: "config.json", expected: "a JSON object", found: "unreadable")
        }
        let st = try SafetensorsFile(path: dir + "/model.safetensors")
        let hf = HFReader(json: json, file: configPath, st: st)
        let config = try hf.config()
        self.init(config: config, weights: try hf.weights(config))
    }
}

private struct HFReader {
    let json: [String: Any]
    let file: String
    let st: SafetensorsFile

    func int(_ key: String) throws -> Int {
        guard let v = json[key] as? Int else { throw ModelFormatError(.missingField, file: file, field: key, expected: "an integer", found: "\(json[key] ?? "nothing")") }
        return v
    }
    func double(_ key: String) -> Double? { (json[key] as? NSNumber)?.doubleValue }

    func ropeTheta(_ kind: String?) -> Double? {
        if let p = json["rope_parameters"] as? [String: Any] {
            if let kind, let sub = p[kind] as? [String: Any] { return (sub["rope_theta"] as? NSNumber)?.doubleValue }
            return (p["rope_theta"] as? NSNumber)?.doubleValue
        }
        return nil
    }

    func config() throws -> ModelConfig {
        let type = json["model_type"] as? String ?? ""
        switch type {
        case "llama":
            let d = try int("hidden_size"), h = try int("num_attention_heads")
            return ModelConfig(
                architecture: .llama, dModel: d, nLayers: try int("num_hidden_layers"), nHeads: h,
                nKVHeads: (json["num_key_value_heads"] as? Int) ?? h, dHead: (json["head_dim"] as? Int) ?? d / h,
                dMLP: try int("intermediate_size"), vocabSize: try int("vocab_size"), contextLength: try int("max_position_embeddings"),
                norm: .rms, normEpsilon: Float(double("rms_norm_eps") ?? 1e-6), activation: .silu, gatedMLP: true, rotary: true,
                ropeBase: Float(ropeTheta(nil) ?? double("rope_theta") ?? 10000))
        case "gemma3_text", "gemma3":
            let d = try int("hidden_size"), h = try int("num_attention_heads")
            let dh = (json["head_dim"] as? Int) ?? 256
            let types = json["layer_types"] as? [String]
            let n = try int("num_hidden_layers")
            var pattern = (json["sliding_window_pattern"] as? Int) ?? (json["_sliding_window_pattern"] as? Int) ?? 6
            if let types {
                let full = types.enumerated().filter { $0.element == "full_attention" }.map(\.offset)
                if let first = full.first { pattern = first + 1 }
                guard types.count == n, types.enumerated().allSatisfy({ ($0.element == "full_attention") == (($0.offset + 1) % pattern == 0) }) else {
                    throw ModelFormatError(.malformed, file: file, field: "layer_types", expected: "every Nth layer global", found: "\(types)")
                }
            }
            return ModelConfig(
                architecture: .gemma3, dModel: d, nLayers: n, nHeads: h, nKVHeads: (json["num_key_value_heads"] as? Int) ?? h,
                dHead: dh, dMLP: try int("intermediate_size"), vocabSize: try int("vocab_size"),
                contextLength: try int("max_position_embeddings"), norm: .rms, normEpsilon: Float(double("rms_norm_eps") ?? 1e-6),
                activation: .geluTanh, gatedMLP: true, rotary: true,
                ropeBase: Float(ropeTheta("full_attention") ?? double("rope_theta") ?? 1_000_000),
                ropeLocalBase: Float(ropeTheta("sliding_attention") ?? double("rope_local_base_freq") ?? 10000), ropeDimensions: dh,
                slidingWindow: json["sliding_window"] as? Int, slidingWindowPattern: pattern, qkNorm: true, postNorms: true,
                embeddingScale: Float(d).squareRoot(), attentionScale: 1 / Float(double("query_pre_attn_scalar") ?? Double(dh)).squareRoot())
        case "gpt2":
            let d = try int("n_embd")
            return ModelConfig(
                architecture: .gpt2, dModel: d, nLayers: try int("n_layer"), nHeads: try int("n_head"), nKVHeads: try int("n_head"),
                dHead: d / (try int("n_head")), dMLP: (json["n_inner"] as? Int) ?? 4 * d, vocabSize: try int("vocab_size"),
                contextLength: try int("n_positions"), norm: .layer, normEpsilon: Float(double("layer_norm_epsilon") ?? 1e-5),
                activation: .geluTanh, gatedMLP: false, rotary: false)
        default:
            throw ModelFormatError(.unsupportedArchitecture, file: file, field: "model_type", expected: "llama, gemma3_text or gpt2", found: type)
        }
    }

    func tensor(_ name: String) throws -> [Float] { try st.tensor(name).data }

    /// An `nn.Linear` weight `[out, in]` → `Linear` `[in, out]`.
    func linear(_ prefix: String, inputs: Int, outputs: Int, bias: Bool = false) throws -> Linear {
        Linear(
            weight: transpose(try tensor(prefix + ".weight"), rows: outputs, cols: inputs),
            bias: bias ? try tensor(prefix + ".bias") : nil, inputs: inputs, outputs: outputs)
    }

    func norm(_ name: String, plusOne: Bool = false, bias: Bool = false) throws -> NormWeights {
        var w = try tensor(name + ".weight")
        if plusOne { w = w.map { $0 + 1 } }
        return NormWeights(weight: w, bias: bias ? try tensor(name + ".bias") : nil)
    }

    func weights(_ c: ModelConfig) throws -> ModelWeights {
        let d = c.dModel
        switch c.architecture {
        case .llama, .gemma3:
            let gemma = c.architecture == .gemma3
            var blocks: [BlockWeights] = []
            for l in 0..<c.nLayers {
                let p = "model.layers.\(l)."
                blocks.append(BlockWeights(
                    ln1: try norm(p + "input_layernorm", plusOne: gemma),
                    wQ: try linear(p + "self_attn.q_proj", inputs: d, outputs: c.qWidth),
                    wK: try linear(p + "self_attn.k_proj", inputs: d, outputs: c.kvWidth),
                    wV: try linear(p + "self_attn.v_proj", inputs: d, outputs: c.kvWidth),
                    wO: try linear(p + "self_attn.o_proj", inputs: c.qWidth, outputs: d),
                    qNorm: gemma ? try norm(p + "self_attn.q_norm", plusOne: true) : nil,
                    kNorm: gemma ? try norm(p + "self_attn.k_norm", plusOne: true) : nil,
                    postAttentionNorm: gemma ? try norm(p + "post_attention_layernorm", plusOne: true) : nil,
                    ln2: try norm(p + (gemma ? "pre_feedforward_layernorm" : "post_attention_layernorm"), plusOne: gemma),
                    wGate: try linear(p + "mlp.gate_proj", inputs: d, outputs: c.dMLP),
                    wIn: try linear(p + "mlp.up_proj", inputs: d, outputs: c.dMLP),
                    wOut: try linear(p + "mlp.down_proj", inputs: c.dMLP, outputs: d),
                    postMLPNorm: gemma ? try norm(p + "post_feedforward_layernorm", plusOne: true) : nil))
            }
            return ModelWeights(
                embedding: try tensor("model.embed_tokens.weight"), blocks: blocks, finalNorm: try norm("model.norm", plusOne: gemma),
                unembedding: st.entries["lm_head.weight"] == nil ? nil : try tensor("lm_head.weight"))
        case .gpt2:
            var blocks: [BlockWeights] = []
            for l in 0..<c.nLayers {
                let p = "transformer.h.\(l)."
                // Conv1D weights are [inputs, outputs] already.
                let qkv = Linear(weight: try tensor(p + "attn.c_attn.weight"), bias: try tensor(p + "attn.c_attn.bias"), inputs: d, outputs: 3 * d)
                let (q, k, v) = WeightLoader.splitColumns(qkv, widths: [d, d, d])
                blocks.append(BlockWeights(
                    ln1: try norm(p + "ln_1", bias: true), wQ: q, wK: k, wV: v,
                    wO: Linear(weight: try tensor(p + "attn.c_proj.weight"), bias: try tensor(p + "attn.c_proj.bias"), inputs: d, outputs: d),
                    ln2: try norm(p + "ln_2", bias: true), wGate: nil,
                    wIn: Linear(weight: try tensor(p + "mlp.c_fc.weight"), bias: try tensor(p + "mlp.c_fc.bias"), inputs: d, outputs: c.dMLP),
                    wOut: Linear(weight: try tensor(p + "mlp.c_proj.weight"), bias: try tensor(p + "mlp.c_proj.bias"), inputs: c.dMLP, outputs: d)))
            }
            return ModelWeights(
                embedding: try tensor("transformer.wte.weight"), positionEmbedding: try tensor("transformer.wpe.weight"), blocks: blocks,
                finalNorm: try norm("transformer.ln_f", bias: true))
        }
    }
}
