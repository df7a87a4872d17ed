import Foundation
import ModelFormats

/// Loads a Hugging Face checkpoint folder (`config.json` + `model.safetensors` or sharded
/// `model-0000k-of-0000n.safetensors` with `model.safetensors.index.json`; F32/F16/BF16) of a supported
/// family into the same `Transformer` a GGUF file gives.
///
/// Layout mapping: `nn.Linear` weights are `[outputs, inputs]` and are transposed to Locus's
/// `[inputs, outputs]`; GPT-2's `Conv1D` weights are already `[inputs, outputs]`; Gemma stores RMSNorm
/// weights as `w` with scale `1 + w`, so 1 is added (as llama.cpp's converter does). Fused projections
/// are split by output rows: Phi-3's `qkv_proj` (q|k|v) and `gate_up_proj` (gate|up), GPT-NeoX's
/// `query_key_value` (per head: q, k, v). Every tensor in the checkpoint must be used.
extension Transformer {
    public init(huggingFaceDirectory dir: String, weights policy: WeightPolicy = .automatic) throws {
        let config = try ModelConfig(huggingFace: try ConfigJSON(file: dir + "/config.json"))
        let st = try SafetensorsCheckpoint(directory: dir)
        let hf = HFWeights(st: st, config: config, stored: policy.keepsFileType(float32Bytes: st.float32Bytes))
        let weights = try hf.weights()
        if let name = st.unused.first {
            throw ModelFormatError(
                .unexpectedTensor, file: st.file(of: name), field: name,
                expected: "only tensors the \(config.architecture.rawValue) configuration uses (\(st.unused.count) left over)",
                found: "a tensor Locus would ignore")
        }
        self.init(config: config, weights: weights)
    }
}

private struct HFWeights {
    let st: SafetensorsCheckpoint
    let config: ModelConfig
    /// Keep `nn.Linear` weights and embeddings in the file's type.
    let stored: Bool

    func tensor(_ name: String, shape: [Int]) throws -> [Float] {
        let t = try st.tensor(name)
        guard t.shape == shape else {
            throw ModelFormatError(.shapeMismatch, file: st.file(of: name), field: "\(name).shape", expected: "\(shape)", found: "\(t.shape)")
        }
        return t.data
    }
    func optional(_ name: String, shape: [Int]) throws -> [Float]? { st.has(name) ? try tensor(name, shape: shape) : nil }

    func checkShape(_ name: String, _ shape: [Int]) throws {
        guard let e = st.entry(name) else { return }
        guard e.shape == shape else {
            throw ModelFormatError(.shapeMismatch, file: st.file(of: name), field: "\(name).shape", expected: "\(shape)", found: "\(e.shape)")
        }
    }

    /// `[vocab, d_model]` embeddings, kept or converted.
    func rows(_ name: String, shape: [Int]) throws -> RowMatrix {
        if stored {
            try checkShape(name, shape)
            return RowMatrix(stored: try st.storedMatrix(name))
        }
        return RowMatrix(try tensor(name, shape: shape), rows: shape[0], cols: shape[1])
    }
    func optionalRows(_ name: String, shape: [Int]) throws -> RowMatrix? { st.has(name) ? try rows(name, shape: shape) : nil }

    /// An `nn.Linear` weight `[out, in]` (and its bias when present) → `Linear` `[in, out]`, kept or converted.
    func linear(_ prefix: String, inputs: Int, outputs: Int) throws -> Linear {
        if stored {
            try checkShape(prefix + ".weight", [outputs, inputs])
            return Linear(stored: try st.storedMatrix(prefix + ".weight"), bias: try optional(prefix + ".bias", shape: [outputs]))
        }
        return Linear(
            weight: transpose(try tensor(prefix + ".weight", shape: [outputs, inputs]), rows: outputs, cols: inputs),
            bias: try optional(prefix + ".bias", shape: [outputs]), inputs: inputs, outputs: outputs)
    }
    func denseLinear(_ prefix: String, inputs: Int, outputs: Int) throws -> Linear {
        Linear(
            weight: transpose(try tensor(prefix + ".weight", shape: [outputs, inputs]), rows: outputs, cols: inputs),
            bias: try optional(prefix + ".bias", shape: [outputs]), inputs: inputs, outputs: outputs)
    }

    /// A GPT-2 `Conv1D` weight, already `[in, out]`.
    func conv1D(_ prefix: String, inputs: Int, outputs: Int) throws -> Linear {
        Linear(weight: try tensor(prefix + ".weight", shape: [inputs, outputs]), bias: try optional(prefix + ".bias", shape: [outputs]), inputs: inputs, outputs: outputs)
    }
    func norm(_ name: String, size: Int, plusOne: Bool = false) throws -> NormWeights {
        var w = try tensor(name + ".weight", shape: [size])
        if plusOne { w = w.map { $0 + 1 } }
        return NormWeights(weight: w, bias: try optional(name + ".bias", shape: [size]))
    }

    func weights() throws -> ModelWeights {
        switch config.architecture {
        case .gpt2: return try gpt2()
        case .gptj: return try gptj()
        case .gptneox: return try gptneox()
        default: return try llamaLike()
        }
    }

    /// Llama, Mistral, Qwen2/3, Phi-3, Gemma 2/3: `model.layers.N.{self_attn, mlp}`.
    func llamaLike() throws -> ModelWeights {
        let c = config, d = c.dModel, F = c.dMLP
        let gemma = c.postNorms
        var blocks: [BlockWeights] = []
        for l in 0..<c.nLayers {
            let p = "model.layers.\(l)."
            let q: Linear, k: Linear, v: Linear, gate: Linear, up: Linear
            if c.architecture == .phi3 {
                let qkv = WeightLoader.splitColumns(try linear(p + "self_attn.qkv_proj", inputs: d, outputs: c.qWidth + 2 * c.kvWidth), widths: [c.qWidth, c.kvWidth, c.kvWidth])
                (q, k, v) = (qkv[0], qkv[1], qkv[2])
                let gu = WeightLoader.splitColumns(try linear(p + "mlp.gate_up_proj", inputs: d, outputs: 2 * F), widths: [F, F])
                (gate, up) = (gu[0], gu[1])
            } else {
                q = try linear(p + "self_attn.q_proj", inputs: d, outputs: c.qWidth)
                k = try linear(p + "self_attn.k_proj", inputs: d, outputs: c.kvWidth)
                v = try linear(p + "self_attn.v_proj", inputs: d, outputs: c.kvWidth)
                gate = try linear(p + "mlp.gate_proj", inputs: d, outputs: F)
                up = try linear(p + "mlp.up_proj", inputs: d, outputs: F)
            }
            blocks.append(BlockWeights(
                ln1: try norm(p + "input_layernorm", size: d, plusOne: gemma),
                wQ: q, wK: k, wV: v,
                wO: try linear(p + "self_attn.o_proj", inputs: c.qWidth, outputs: d),
                qNorm: c.qkNorm ? try norm(p + "self_attn.q_norm", size: c.dHead, plusOne: gemma) : nil,
                kNorm: c.qkNorm ? try norm(p + "self_attn.k_norm", size: c.dHead, plusOne: gemma) : nil,
                postAttentionNorm: gemma ? try norm(p + "post_attention_layernorm", size: d, plusOne: true) : nil,
                ln2: try norm(p + (gemma ? "pre_feedforward_layernorm" : "post_attention_layernorm"), size: d, plusOne: gemma),
                wGate: gate, wIn: up,
                wOut: try linear(p + "mlp.down_proj", inputs: F, outputs: d),
                postMLPNorm: gemma ? try norm(p + "post_feedforward_layernorm", size: d, plusOne: true) : nil))
        }
        return ModelWeights(
            embedding: try rows("model.embed_tokens.weight", shape: [c.vocabSize, d]), blocks: blocks,
            finalNorm: try norm("model.norm", size: d, plusOne: gemma),
            unembedding: try optionalRows("lm_head.weight", shape: [c.vocabSize, d]))
    }

    func gpt2() throws -> ModelWeights {
        let c = config, d = c.dModel
        var blocks: [BlockWeights] = []
        for l in 0..<c.nLayers {
            let p = "transformer.h.\(l)."
            let qkv = WeightLoader.splitColumns(try conv1D(p + "attn.c_attn", inputs: d, outputs: 3 * d), widths: [d, d, d])
            blocks.append(BlockWeights(
                ln1: try norm(p + "ln_1", size: d), wQ: qkv[0], wK: qkv[1], wV: qkv[2],
                wO: try conv1D(p + "attn.c_proj", inputs: d, outputs: d),
                ln2: try norm(p + "ln_2", size: d), wGate: nil,
                wIn: try conv1D(p + "mlp.c_fc", inputs: d, outputs: c.dMLP),
                wOut: try conv1D(p + "mlp.c_proj", inputs: c.dMLP, outputs: d)))
        }
        return ModelWeights(
            embedding: try rows("transformer.wte.weight", shape: [c.vocabSize, d]),
            positionEmbedding: try tensor("transformer.wpe.weight", shape: [c.contextLength, d]), blocks: blocks,
            finalNorm: try norm("transformer.ln_f", size: d),
            unembedding: try optionalRows("lm_head.weight", shape: [c.vocabSize, d]))
    }

    /// GPT-J: one `ln_1` feeds attention and MLP (shared as ln1 and ln2), unbiased q/k/v/out, biased MLP and head.
    func gptj() throws -> ModelWeights {
        let c = config, d = c.dModel
        var blocks: [BlockWeights] = []
        for l in 0..<c.nLayers {
            let p = "transformer.h.\(l)."
            let ln = try norm(p + "ln_1", size: d)
            blocks.append(BlockWeights(
                ln1: ln, wQ: try linear(p + "attn.q_proj", inputs: d, outputs: c.qWidth),
                wK: try linear(p + "attn.k_proj", inputs: d, outputs: c.kvWidth),
                wV: try linear(p + "attn.v_proj", inputs: d, outputs: c.kvWidth),
                wO: try linear(p + "attn.out_proj", inputs: c.qWidth, outputs: d),
                ln2: ln, wGate: nil,
                wIn: try linear(p + "mlp.fc_in", inputs: d, outputs: c.dMLP),
                wOut: try linear(p + "mlp.fc_out", inputs: c.dMLP, outputs: d)))
        }
        return ModelWeights(
            embedding: try rows("transformer.wte.weight", shape: [c.vocabSize, d]), blocks: blocks,
            finalNorm: try norm("transformer.ln_f", size: d),
            unembedding: try rows("lm_head.weight", shape: [c.vocabSize, d]),
            unembeddingBias: try optional("lm_head.bias", shape: [c.vocabSize]))
    }

    /// GPT-NeoX / Pythia: fused `query_key_value` laid out per head as [n_heads, 3, d_head] rows.
    func gptneox() throws -> ModelWeights {
        let c = config, d = c.dModel, dh = c.dHead, nH = c.nHeads
        var blocks: [BlockWeights] = []
        for l in 0..<c.nLayers {
            let p = "gpt_neox.layers.\(l)."
            // Per-head rows are not consecutive per part: converted to Float32 here.
            let fused = try denseLinear(p + "attention.query_key_value", inputs: d, outputs: 3 * d)
            // Column h·3·dh + s·dh + i of the fused map is part s (q, k, v) of head h, dimension i.
            var parts: [Linear] = []
            for s in 0..<3 {
                var w = [Float](repeating: 0, count: d * d), b: [Float]? = fused.bias == nil ? nil : [Float](repeating: 0, count: d)
                for h in 0..<nH {
                    for i in 0..<dh {
                        let from = h * 3 * dh + s * dh + i, to = h * dh + i
                        for r in 0..<d { w[r * d + to] = fused.weight[r * 3 * d + from] }
                        b?[to] = fused.bias![from]
                    }
                }
                parts.append(Linear(weight: w, bias: b, inputs: d, outputs: d))
            }
            blocks.append(BlockWeights(
                ln1: try norm(p + "input_layernorm", size: d), wQ: parts[0], wK: parts[1], wV: parts[2],
                wO: try linear(p + "attention.dense", inputs: d, outputs: d),
                ln2: try norm(p + "post_attention_layernorm", size: d), wGate: nil,
                wIn: try linear(p + "mlp.dense_h_to_4h", inputs: d, outputs: c.dMLP),
                wOut: try linear(p + "mlp.dense_4h_to_h", inputs: c.dMLP, outputs: d)))
        }
        return ModelWeights(
            embedding: try rows("gpt_neox.embed_in.weight", shape: [c.vocabSize, d]), blocks: blocks,
            finalNorm: try norm("gpt_neox.final_layer_norm", size: d),
            unembedding: try optionalRows("embed_out.weight", shape: [c.vocabSize, d]))
    }
}
