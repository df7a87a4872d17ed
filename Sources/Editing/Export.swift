import Foundation
import ModelFormats
import Models

/// Writes an edited model as a GGUF file that Locus and llama.cpp load.
///
/// Every tensor the ledger did not touch is copied byte for byte in its original type; each edited
/// map (`blk.L.ffn_down.weight` for `W_out`; `attn_q`, `attn_k`, `attn_v`, `attn_output`,
/// `ffn_gate`, `ffn_up` for the maps LoRA may adapt) is written as F32 (exact) or F16. GGUF stores
/// a linear map as `[outputs, inputs]` and Locus as `[inputs, outputs]`, so it is transposed back;
/// where loading reordered the file's rows (the llama Q/K permutation, read from `base`), file row
/// `r` gets output `order[r]` again. All metadata is kept, in order,
/// plus `locus.edit.*` keys: the base file's SHA-256, the number of edits, and a JSON record of
/// each (method, requests, layers, time). The original file is never written.
public enum ModelExport {
    public enum Precision: String, Sendable, CaseIterable {
        case f32, f16
    }

    /// The GGUF tensor name of a block's map.
    static func tensorName(layer: Int, _ kind: ParameterKind) -> String {
        let n: String
        switch kind {
        case .W_Q: n = "attn_q"
        case .W_K: n = "attn_k"
        case .W_V: n = "attn_v"
        case .W_O: n = "attn_output"
        case .W_gate: n = "ffn_gate"
        case .W_in: n = "ffn_up"
        case .W_out: n = "ffn_down"
        case .ln1: n = "attn_norm"
        case .ln2: n = "ffn_norm"
        }
        return "blk.\(layer).\(n).weight"
    }

    public static func export(
        gguf: GGUFFile, base: Transformer, edited: Transformer, ledger: Ledger, to path: String, precision: Precision = .f32
    ) throws(EditError) {
        let src = URL(fileURLWithPath: gguf.path).resolvingSymlinksInPath().path
        let dst = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        guard src != dst else {
            throw .storage(file: path, reason: "refusing to overwrite the original model file; export to another path")
        }
        if let i = ledger.entries.firstIndex(where: { $0.codebook != nil }) {
            throw .unsupported(
                what: "export of a ledger with GRACE edits (entry \(i) and maybe more)",
                reason: "GRACE keeps a key→value codebook beside the weights, which a GGUF file (and llama.cpp) has no place for; revert the GRACE edits to export the rest, or keep using the ledger in Locus")
        }
        var w = gguf.writerCopy()
        var seen = Set<String>()
        let targets = ledger.entries.flatMap(\.deltas).filter { seen.insert($0.target).inserted }
        for d in targets.sorted(by: { WeightDelta.targetOrder($0.target, $1.target) }) {
            let name = tensorName(layer: d.layer, d.matrix)
            guard let i = w.tensors.firstIndex(where: { $0.name == name }) else {
                throw .unsupported(what: "export", reason: "the model file has no tensor \(name)")
            }
            guard let lin = edited.linear(of: d) else {
                throw .unsupported(what: "export", reason: "the model has no \(d.matrix.rawValue) in block \(d.layer)")
            }
            var t = transposed(lin.weight, rows: lin.inputs, cols: lin.outputs)
            let c = base.config
            if c.architecture == .llama && (d.matrix == .W_Q || d.matrix == .W_K) {
                let order = WeightLoader.rotaryOrder(heads: d.matrix == .W_Q ? c.nHeads : c.nKVHeads, dHead: c.dHead)
                // File row r computes output order[r]: put each output back in its file row.
                let rows = t
                for (r, o) in order.enumerated() {
                    for j in 0..<lin.inputs { t[r * lin.inputs + j] = rows[o * lin.inputs + j] }
                }
            }
            let shape = [lin.outputs, lin.inputs]
            guard w.tensors[i].shape == shape else {
                throw .unsupported(what: "export", reason: "\(name) has shape \(w.tensors[i].shape) in the file, expected \(shape)")
            }
            w.tensors[i] = GGUFWriter.Tensor(
                name: name, shape: shape, type: precision == .f32 ? .f32 : .f16, data: precision == .f32 ? .f32(t) : .f16(t))
        }
        struct Record: Encodable {
            let method: String
            let requests: [String]
            let subjects: [String]
            let targets: [String]
            /// `5` for block 5's `W_out`, `5.W_Q` for another map.
            let layers: [String]
            let time: String
        }
        let records = ledger.entries.map {
            Record(
                method: $0.method.rawValue, requests: $0.requests.map(\.id), subjects: $0.requests.map(\.subject),
                targets: $0.requests.map(\.targetNew), layers: $0.deltas.map(\.target), time: $0.time)
        }
        w.set("locus.edit.base_sha256", .string(ledger.modelSHA256))
        w.set("locus.edit.base_file", .string(ledger.modelFile))
        w.set("locus.edit.count", .uint(UInt64(ledger.entries.count), .uint32))
        w.set("locus.edit.tensor_type", .string(precision.rawValue.uppercased()))
        w.set("locus.edit.record", .string(Ledger.json(records)))
        do {
            try w.write(to: path)
        } catch {
            throw .storage(file: path, reason: error.description)
        }
    }

    static func transposed(_ a: [Float], rows: Int, cols: Int) -> [Float] {
        var out = [Float](repeating: 0, count: a.count)
        a.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { d in
                for i0 in stride(from: 0, to: rows, by: 32) {
                    for j0 in stride(from: 0, to: cols, by: 32) {
                        for i in i0..<min(i0 + 32, rows) { for j in j0..<min(j0 + 32, cols) { d[j * rows + i] = s[i * cols + j] } }
                    }
                }
            }
        }
        return out
    }
}
