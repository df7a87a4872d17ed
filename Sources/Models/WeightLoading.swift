import Dispatch
import Foundation
import ModelFormats

/// Loads GGUF tensors (llama.cpp names) into `ModelWeights`, dequantized to Float32.
///
/// Layout mapping, in one place: GGUF stores a linear map as `[outputs, inputs]` row-major
/// (ggml `ne = [inputs, outputs]`); Locus transposes to `[inputs, outputs]`. Embedding and
/// unembedding stay `[vocab, d_model]`. Fused projections are split by output rows: `attn_qkv` is
/// q|k|v (GPT-2, Phi-3, GPT-NeoX after llama.cpp's converter reorders NeoX's per-head layout), and a
/// gated MLP's fused `ffn_up` of 2·d_mlp rows is gate|up (Phi-3). For `llama` files, llama.cpp's
/// converter interleaved the rotary halves of each head's query and key rows; Locus undoes that so
/// `attn.hook_q/k` equal Hugging Face's and rotary uses the half-split pairing.
///
/// Every tensor of the file must be used: one that is left over stops the load, naming it.
public enum WeightLoader {
    public static func load(_ gguf: GGUFFile, config: ModelConfig, policy: WeightPolicy = .automatic) throws(ModelFormatError) -> ModelWeights {
        let c = config
        let stored = policy.keepsFileType(float32Bytes: gguf.tensors.reduce(0) { $0 + 4 * $1.elementCount })
        let f = TensorFetcher(gguf: gguf, stored: stored)
        let d = c.dModel
        let embedding = try f.rowMatrix("token_embd.weight", rows: c.vocabSize, cols: d)
        let positions = c.rotary ? nil : try f.matrix("position_embd.weight", rows: nil, cols: d)
        let finalNorm = try f.norm("output_norm", size: d)
        let unembedding = f.has("output.weight") ? try f.rowMatrix("output.weight", rows: c.vocabSize, cols: d) : nil
        let unembeddingBias = f.has("output.bias") ? try f.vector("output.bias", size: c.vocabSize) : nil
        if c.ropeFrequencyFactors != nil, f.has("rope_freqs.weight") { f.markUsed("rope_freqs.weight") }  // read by ModelConfig
        if c.ropeLongFrequencyFactors != nil {
            for name in ["rope_factors_long.weight", "rope_factors_short.weight"] { f.markUsed(name) }  // read by ModelConfig
        }

        var blocks = [BlockWeights?](repeating: nil, count: c.nLayers)
        var firstError: ModelFormatError?
        let lock = Lock()
        DispatchQueue.concurrentPerform(iterations: c.nLayers) { l in
            do throws(ModelFormatError) {
                let b = try loadBlock(l, f: f, config: c)
                lock.locked { blocks[l] = b }
            } catch {
                lock.locked { if firstError == nil { firstError = error } }
            }
        }
        if let firstError { throw firstError }
        try f.refuseUnused()
        return ModelWeights(
            embedding: embedding, positionEmbedding: positions, blocks: blocks.map { $0! }, finalNorm: finalNorm,
            unembedding: unembedding, unembeddingBias: unembeddingBias)
    }

    private static func loadBlock(_ l: Int, f: TensorFetcher, config c: ModelConfig) throws(ModelFormatError) -> BlockWeights {
        let p = "blk.\(l)."
        let d = c.dModel, F = c.dMLP
        var wQ: Linear, wK: Linear, wV: Linear
        if f.has(p + "attn_qkv.weight") {
            let parts = try f.linears(p + "attn_qkv", inputs: d, widths: [c.qWidth, c.kvWidth, c.kvWidth])
            (wQ, wK, wV) = (parts[0], parts[1], parts[2])
        } else {
            wQ = try f.linear(p + "attn_q", inputs: d, outputs: c.qWidth)
            wK = try f.linear(p + "attn_k", inputs: d, outputs: c.kvWidth)
            wV = try f.linear(p + "attn_v", inputs: d, outputs: c.kvWidth)
        }
        if c.architecture == .llama {
            wQ = unpermuteRotary(wQ, heads: c.nHeads, dHead: c.dHead)
            wK = unpermuteRotary(wK, heads: c.nKVHeads, dHead: c.dHead)
        }
        let ln1 = try f.norm(p + "attn_norm", size: d)
        // GPT-J's one LayerNorm feeds attention and MLP alike.
        let ln2 = c.parallelBlock && !f.has(p + "ffn_norm.weight") && c.architecture == .gptj ? ln1 : try f.norm(p + "ffn_norm", size: d)
        var wGate: Linear?, wIn: Linear
        if c.gatedMLP && !f.has(p + "ffn_gate.weight") {
            let parts = try f.linears(p + "ffn_up", inputs: d, widths: [F, F])
            (wGate, wIn) = (parts[0], parts[1])
        } else {
            wGate = c.gatedMLP ? try f.linear(p + "ffn_gate", inputs: d, outputs: F) : nil
            wIn = try f.linear(p + "ffn_up", inputs: d, outputs: F)
        }
        return BlockWeights(
            ln1: ln1, wQ: wQ, wK: wK, wV: wV,
            wO: try f.linear(p + "attn_output", inputs: c.qWidth, outputs: d),
            qNorm: c.qkNorm ? try f.norm(p + "attn_q_norm", size: c.dHead) : nil,
            kNorm: c.qkNorm ? try f.norm(p + "attn_k_norm", size: c.dHead) : nil,
            postAttentionNorm: c.postNorms ? try f.norm(p + "post_attention_norm", size: d) : nil,
            ln2: ln2, wGate: wGate, wIn: wIn,
            wOut: try f.linear(p + "ffn_down", inputs: F, outputs: d),
            postMLPNorm: c.postNorms ? try f.norm(p + "post_ffw_norm", size: d) : nil)
    }

    /// Splits the outputs of a fused map into one linear per width (fused q|k|v, gate|up): views of
    /// consecutive rows for weights kept in the file, column copies of Float32 `[in, Σ widths]`.
    static func splitColumns(_ w: Linear, widths: [Int]) -> [Linear] {
        precondition(widths.reduce(0, +) == w.outputs, "splitColumns: \(widths) of \(w.outputs) outputs")
        if case .stored(let m, nil) = w.storage {
            var start = 0
            return widths.map { width in
                defer { start += width }
                return Linear(stored: m.rows(start..<(start + width)), bias: w.bias.map { Array($0[start..<(start + width)]) })
            }
        }
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
        return parts
    }

    /// `order[r]`: the output column (in Locus's order) that row `r` of a llama GGUF's `attn_q`/`attn_k` computes.
    public static func rotaryOrder(heads: Int, dHead: Int) -> [Int] {
        let half = dHead / 2
        return (0..<(heads * dHead)).map { r in (r / dHead) * dHead + (r % 2) * half + (r % dHead) / 2 }
    }

    /// Undoes llama.cpp's interleaving of rotary halves: output column `h·d_head + 2j + s` of the file
    /// becomes column `h·d_head + s·d_head/2 + j` (for weights kept in the file, as the order of their rows).
    static func unpermuteRotary(_ w: Linear, heads: Int, dHead: Int) -> Linear {
        let half = dHead / 2
        if case .stored(let m, nil) = w.storage {
            let order = rotaryOrder(heads: heads, dHead: dHead)
            let bias = w.bias.map { b in
                var out = b
                for (r, o) in order.enumerated() { out[o] = b[r] }
                return out
            }
            return Linear(stored: m, order: order, bias: bias)
        }
        func unpermute(_ a: [Float], rows: Int, width: Int) -> [Float] {
            var out = a
            for i in 0..<rows {
                let row = i * width
                for h in 0..<heads {
                    for j in 0..<half {
                        for s in 0..<2 { out[row + h * dHead + s * half + j] = a[row + h * dHead + 2 * j + s] }
                    }
                }
            }
            return out
        }
        return Linear(
            weight: unpermute(w.weight, rows: w.inputs, width: w.outputs), bias: w.bias.map { unpermute($0, rows: 1, width: w.outputs) },
            inputs: w.inputs, outputs: w.outputs)
    }
}

/// Reads named tensors with shape checks that name the tensor, and remembers which it read so that
/// the load can refuse a file with tensors no part of the model uses.
final class TensorFetcher: @unchecked Sendable {
    let gguf: GGUFFile
    /// Keep matrices in the file's type (else convert them to Float32 `[inputs, outputs]`).
    let stored: Bool
    private let lock = Lock()
    private var used: Set<String> = []

    init(gguf: GGUFFile, stored: Bool = false) {
        self.gguf = gguf
        self.stored = stored
    }

    func has(_ name: String) -> Bool { gguf.tensorInfo(name) != nil }
    func markUsed(_ name: String) { lock.locked { _ = used.insert(name) } }

    func refuseUnused() throws(ModelFormatError) {
        let left = gguf.tensors.map(\.name).filter { !used.contains($0) }
        if let name = left.first {
            throw ModelFormatError(
                .unexpectedTensor, file: gguf.path, field: "tensor.\(name)",
                expected: "only tensors the \(gguf.metadata["general.architecture"]?.string ?? "model")'s configuration uses"
                    + " (\(left.count) left over: \(left.prefix(5).joined(separator: ", "))\(left.count > 5 ? ", …" : ""))",
                found: "a tensor Locus would ignore")
        }
    }

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
        markUsed(name)
        return info
    }

    func matrix(_ name: String, rows: Int?, cols: Int) throws(ModelFormatError) -> [Float] {
        try gguf.floats(info(name, shape: [rows, cols]))
    }

    func vector(_ name: String, size: Int) throws(ModelFormatError) -> [Float] {
        try gguf.floats(info(name, shape: [size]))
    }

    /// A norm's weight, and its bias when the file has one.
    func norm(_ prefix: String, size: Int) throws(ModelFormatError) -> NormWeights {
        NormWeights(
            weight: try vector(prefix + ".weight", size: size),
            bias: has(prefix + ".bias") ? try vector(prefix + ".bias", size: size) : nil)
    }

    /// An embedding-like `[rows, cols]` matrix, kept in the file's type or converted.
    func rowMatrix(_ name: String, rows: Int, cols: Int) throws(ModelFormatError) -> RowMatrix {
        if stored { return RowMatrix(stored: try gguf.storedMatrix(info(name, shape: [rows, cols]))) }
        return RowMatrix(try matrix(name, rows: rows, cols: cols), rows: rows, cols: cols)
    }

    /// A GGUF `[outputs, inputs]` matrix, kept in the file's type or transposed to Float32 `[inputs, outputs]`,
    /// with its bias when the file has one.
    func linear(_ prefix: String, inputs: Int, outputs: Int) throws(ModelFormatError) -> Linear {
        let bias = has(prefix + ".bias") ? try vector(prefix + ".bias", size: outputs) : nil
        if stored { return Linear(stored: try gguf.storedMatrix(info(prefix + ".weight", shape: [outputs, inputs])), bias: bias) }
        let raw = try matrix(prefix + ".weight", rows: outputs, cols: inputs)
        return Linear(weight: transpose(raw, rows: outputs, cols: inputs), bias: bias, inputs: inputs, outputs: outputs)
    }

    /// A fused matrix whose output rows are consecutive parts of the given widths.
    func linears(_ prefix: String, inputs: Int, widths: [Int]) throws(ModelFormatError) -> [Linear] {
        WeightLoader.splitColumns(try linear(prefix, inputs: inputs, outputs: widths.reduce(0, +)), widths: widths)
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

/// How a loader keeps weight matrices: converted to Float32 (fastest products on small models, four bytes
/// a parameter) or in the file's type (F16, BF16, Q8_0, Q4_K, … read in place; what lets a 7–8B model
/// load in 24 GB). `automatic` keeps the file's type when the Float32 copy would take more than a quarter
/// of physical memory. `LOCUS_WEIGHTS=f32` or `=file` overrides `automatic`.
public enum WeightPolicy: String, Sendable, CaseIterable {
    case automatic = "auto", float32 = "f32", fileType = "file"

    func keepsFileType(float32Bytes: Int) -> Bool {
        switch self {
        case .float32: return false
        case .fileType: return true
        case .automatic:
            switch ProcessInfo.processInfo.environment["LOCUS_WEIGHTS"] {
            case "f32": return false
            case "file": return true
            default: return UInt64(float32Bytes) > ProcessInfo.processInfo.physicalMemory / 4
            }
        }
    }
}
