import ArgumentParser
import Foundation
import Locus

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Architecture, sizes, tensor types and tokenizer of a model.")

    @OptionGroup var options: ModelOptions

    struct Report: Encodable {
        let file: String
        let sha256: String
        let ggufVersion: Int?
        let config: ModelConfig
        let parameters: Int
        let float32Bytes: Int
        let tensorTypes: [String: Int]
        let tokenizer: String
        let vocabulary: Int
        let bos: Int?
        let eos: Int?
        let weightsSHA256: String?
    }

    @Flag(name: .customLong("weights-hash"), help: "Also print the SHA-256 of the Float32 weights (shows edits and bitwise reverts).")
    var weightsHash = false

    func run() throws {
        let m = try options.load()
        var types: [String: Int] = [:]
        for t in m.gguf?.tensors ?? [] { types[t.type.description, default: 0] += 1 }
        let tok = m.gguf.map { ($0.metadata["tokenizer.ggml.model"]?.string ?? "?") + "/" + ($0.metadata["tokenizer.ggml.pre"]?.string ?? "-") }
            ?? "tokenizer.json"
        let params = m.transformer.weights.parameterCount
        let r = Report(
            file: m.path, sha256: try FileHash.sha256(path: m.path), ggufVersion: m.gguf.map { Int($0.version) }, config: m.config,
            parameters: params, float32Bytes: params * 4, tensorTypes: types, tokenizer: tok,
            vocabulary: m.tokenizer.vocabularySize, bos: m.tokenizer.bosID, eos: m.tokenizer.eosID,
            weightsSHA256: weightsHash ? FileHash.sha256(of: m.transformer.weights.allArrays) : nil)
        if options.json { return try printJSON(r) }
        let c = m.config
        print("file          \((r.file as NSString).lastPathComponent)")
        print("sha256        \(r.sha256)")
        print("architecture  \(c.architecture.rawValue) (\(r.ggufVersion.map { "GGUF v\($0)" } ?? "Hugging Face folder"))")
        print("layers        \(c.nLayers)   d_model \(c.dModel)   d_mlp \(c.dMLP)   heads \(c.nHeads) (kv \(c.nKVHeads)) × d_head \(c.dHead)")
        print("vocabulary    \(c.vocabSize)   context \(c.contextLength)")
        print("norm          \(c.norm.rawValue) ε=\(c.normEpsilon)   activation \(c.activation.rawValue)\(c.gatedMLP ? " (gated)" : "")")
        if c.rotary { print("rotary        base \(c.ropeBase)\(c.ropeLocalBase.map { ", local layers \($0)" } ?? "")") }
        if let w = c.slidingWindow { print("sliding       window \(w), every \(c.slidingWindowPattern ?? 1)th layer global") }
        print("parameters    \(params) (\(String(format: "%.0f", Double(params) * 4 / 1_048_576)) MiB in Float32)")
        print("tensor types  " + types.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: " "))
        print("tokenizer     \(tok), bos \(r.bos.map(String.init) ?? "-"), eos \(r.eos.map(String.init) ?? "-")")
        if let w = r.weightsSHA256 { print("weights       sha256 \(w) (Float32\(options.withEdits == nil ? "" : ", with edits"))") }
    }
}
