import Foundation
import ModelFormats
import Models

/// Writes an edited model as a GGUF file that Locus and llama.cpp load.
///
/// Every tensor the ledger did not touch is copied byte for byte in its original type; each edited
/// down projection `blk.L.ffn_down.weight` is written as F32 (exact) or F16. GGUF stores a linear
/// map as `[outputs, inputs]` and Locus as `[inputs, outputs]`, so `W_out` (`[d_mlp, d_model]` in
/// Locus) is transposed back to `[d_model, d_mlp]`. (Only `W_out` is ever edited, so the llama
/// Q/K row permutation undone at load time never needs redoing.) All metadata is kept, in order,
/// plus `locus.edit.*` keys: the base file's SHA-256, the number of edits, and a JSON record of
/// each (method, requests, layers, time). The original file is never written.
public enum ModelExport {
    public enum Precision: String, Sendable, CaseIterable {
        case f32, f16
    }

    public static func export(
        gguf: GGUFFile, edited: Transformer, ledger: Ledger, to path: String, precision: Precision = .f32
    ) throws(EditError) {
        let src = URL(fileURLWithPath: gguf.path).resolvingSymlinksInPath().path
        let dst = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        guard src != dst else {
            throw .storage(file: path, reason: "refusing to overwrite the original model file; export to another path")
        }
        var w = gguf.writerCopy()
        let layers = Set(ledger.entries.flatMap { $0.deltas.map(\.layer) })
        for l in layers.sorted() {
            let name = "blk.\(l).ffn_down.weight"
            guard let i = w.tensors.firstIndex(where: { $0.name == name }) else {
                throw .unsupported(what: "export", reason: "the model file has no tensor \(name)")
            }
            let lin = edited.weights.blocks[l].wOut
            let t = transposed(lin.weight, rows: lin.inputs, cols: lin.outputs)
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
            let layers: [Int]
            let time: String
        }
        let records = ledger.entries.map {
            Record(
                method: $0.method.rawValue, requests: $0.requests.map(\.id), subjects: $0.requests.map(\.subject),
                targets: $0.requests.map(\.targetNew), layers: $0.deltas.map(\.layer), time: $0.time)
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
