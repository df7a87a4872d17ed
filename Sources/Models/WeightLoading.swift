import Dispatch
import ModelFormats

/// Loads GGUF tensors (llama.cpp names) into `ModelWeights`, dequantized to Float32.
///
/// Layout mapping, in one place: GGUF stores a linear map as `[outputs, inputs]` row-major
/// (ggml `ne = [inputs, outputs]`); Locus transposes to `[inputs, outputs]`. Embedding and
/// unembedding stay `[vocab, d_model]`. For `llama` files, llama.cpp's converter interleaved the
/// rotary halves of each head's query and key rows; Locus undoes that so `attn.hook_q/k` equal
/// Hugging Face's and rotary uses the half-split ("NeoX") pairing for every family.
public enum WeightLoader {
    public static func load(_ gguf: GGUFFile, config: ModelConfig) throws(ModelFormatError) -> ModelWeights {
        let c = config
        let loader = TensorFetcher(gguf: gguf)
        let d = c.dModel
        let embedding = try loader.matrix("token_embd.weight", rows: c.vocabSize, cols: d)
        let positions = c.rotary ? nil : try loader.matrix("position_embd.weight", rows: nil, cols: d)
        let finalNorm = try loader.norm("output_norm", size: d, bias: c.norm == .layer)
        let unembedding = gguf.tensorInfo("output.weight") == nil ? nil : try loader.matrix("output.weight", rows: c.vocabSize, cols: d)

        var blocks = [BlockWeights?](repeating: nil, count: c.nLayers)
        var firstError: ModelFormatError?
        let lock = Lock()
        DispatchQueue.concurrentPerform(iterations: c.nLayers) { l in
            do throws(ModelFormatError) {
                let b = try loadBlock(l, loader: loader, config: c)
                lock.locked { blocks[l] = b }
            } catch {
                lock.locked { if firstError == nil { firstError = error } }
            }
        }
        if let firstError { throw firstError }
        return ModelWeights(
            embedding: embedding, positionEmbedding: positions, blocks: blocks.map { $0! }, finalNorm: finalNorm,
            unembedding: unembedding)
    }

    private static func loadBlock(_ l: Int, loader: TensorFetcher, config c: ModelConfig) throws(ModelFormatError) -> BlockWeights {
        let p = "blk.\(l)."
        let d = c.dModel
        let hasBias = c.architecture == .gpt2
        var wQ: Linear, wK: Linear, wV: Linear
        if c.architecture == .gpt2 {
            let qkv = try loader.linear(p + "attn_qkv", inputs: d, outputs: 3 * d, bias: true)
            (wQ, wK, wV) = splitColumns(qkv, widths: [d, d, d])
        } else {
            wQ = try loader.linear(p + "attn_q", inputs: d, outputs: c.qWidth, bias: false)
            wK = try loader.linear(p + "attn_k", inputs: d, outputs: c.kvWidth, bias: false)
            wV = try loader.linear(p + "attn_v", inputs: d, outputs: c.kvWidth, bias: false)
            if c.architecture == .llama {
                wQ = unpermuteRotary(wQ, heads: c.nHeads, dHead: c.dHead)
                wK = unpermuteRotary(wK, heads: c.nKVHeads, dHead: c.dHead)
            }
        }
        let layerNorm = c.norm == .layer
        return BlockWeights(
            ln1: try loader.norm(p + "attn_norm", size: d, bias: layerNorm),
            wQ: wQ, wK: wK, wV: wV,
            wO: try loader.linear(p + "attn_output", inputs: c.qWidth, outputs: d, bias: hasBias),
            qNorm: c.qkNorm ? try loader.norm(p + "attn_q_norm", size: c.dHead, bias: false) : nil,
            kNorm: c.qkNorm ? try loader.norm(p + "attn_k_norm", size: c.dHead, bias: false) : nil,
            postAttentionNorm: c.postNorms ? try loader.norm(p + "post_attention_norm", size: d, bias: false) : nil,
            ln2: try loader.norm(p + "ffn_norm", size: d, bias: layerNorm),
            wGate: c.gatedMLP ? try loader.linear(p + "ffn_gate", inputs: d, outputs: c.dMLP, bias: false) : nil,
            wIn: try loader.linear(p + "ffn_up", inputs: d, outputs: c.dMLP, bias: hasBias),
            wOut: try loader.linear(p + "ffn_down", inputs: c.dMLP, outputs: d, bias: hasBias),
            postMLPNorm: c.postNorms ? try loader.norm(p + "post_ffw_norm", size: d, bias: false) : nil)
    }

    /// Splits the columns of `[in, a+b+c]` into three linears (GPT-2's fused q|k|v).
    static func splitColumns(_ w: Linear, widths: [Int]) -> (Linear, Linear, Linear) {
        var parts: [Linear] = []
        var start = 0
        for width in widths {
            var weight = [Float](repeating: 0, count: w.inputs * width)
            for i in 0..<w.inputs {
                for j in 0..<width { weight[i * width + j] = w.weight[i * w.outputs + start + j] }
            }
            let bias = w.bias.map { Array($0[start..<(start + width)]) }
            parts.append(Linear(weight: weight, bias: bias, inputs: w.inputs, outputs: width))
            start += width
        }
        return (parts[0], parts[1], parts[2])
    }

    /// Undoes llama.cpp's interleaving of rotary halves: output column `h·d_head + 2j + s` of the file
    /// becomes column `h·d_head + s·d_head/2 + j`.
    static func unpermuteRotary(_ w: Linear, heads: Int, dHead: Int) -> Linear {
        let half = dHead / 2
        var out = w.weight
        for i in 0..<w.inputs {
            let row = i * w.outputs
            for h in 0..<heads {
                for j in 0..<half {
                    for s in 0..<2 {
                        out[row + h * dHead + s * half + j] = w.weight[row + h * dHead + 2 * j + s]
                    }
                }
            }
        }
        return Linear(weight: out, bias: w.bias, inputs: w.inputs, outputs: w.outputs)
    }
}

/// Reads named tensors with shape checks that name the tensor.
struct TensorFetcher: @unchecked Sendable {
    let gguf: GGUFFile

    func info(_ name: String, shape expected: [Int?]) throws(ModelFormatError) -> GGUFTensorInfo {
        guard let info = gguf.tensorInfo(name) else {
            throw ModelFormatError(.missingField, file: gguf.path, field: "tensor.\(name)", expected: "a tensor of that name", found: "none")
        }
        let shape = info.shape
        let matches = shape.count == expected.count && zip(shape, expected).allSatisfy { $1 == nil || $0 == $1 }
        guard matches else {
            throw ModelFormatError(
                .shapeMismatch, file: gguf.path, field: "tensor.\(name).shape",
                expected: "[" + expected.map { $0.map(String.init) ?? "any" }.joined(separator: ", ") + "]", found: "\(shape)")
        }
        return info
    }

    func matrix(_ name: String, rows: Int?, cols: Int) throws(ModelFormatError) -> [Float] {
        try gguf.floats(info(name, shape: [rows, cols]))
    }

    func vector(_ name: String, size: Int) throws(ModelFormatError) -> [Float] {
        try gguf.floats(info(name, shape: [size]))
    }

    func norm(_ prefix: String, size: Int, bias: Bool) throws(ModelFormatError) -> NormWeights {
        NormWeights(
            weight: try vector(prefix + ".weight", size: size),
            bias: bias ? try vector(prefix + ".bias", size: size) : nil)
    }

    /// A GGUF `[outputs, inputs]` matrix, transposed to `[inputs, outputs]`.
    func linear(_ prefix: String, inputs: Int, outputs: Int, bias: Bool) throws(ModelFormatError) -> Linear {
        let raw = try matrix(prefix + ".weight", rows: outputs, cols: inputs)
        let w = transpose(raw, rows: outputs, cols: inputs)
        return Linear(weight: w, bias: bias ? try vector(prefix + ".bias", size: outputs) : nil, inputs: inputs, outputs: outputs)
    }
}

/// Transposes a row-major `rows × cols` matrix (cache-blocked).
func transpose(_ a: [Float], rows: Int, cols: Int) -> [Float] {
    var out = [Float](repeating: 0, count: a.count)
    let block = 32
    a.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            for i0 in stride(from: 0, to: rows, by: block) {
                for j0 in stride(from: 0, to: cols, by: block) {
                    for i in i0..<min(i0 + block, rows) {
                        for j in j0..<min(j0 + block, cols) { dst[j * rows + i] = src[i * cols + j] }
                    }
                }
            }
        }
    }
    return out
}
