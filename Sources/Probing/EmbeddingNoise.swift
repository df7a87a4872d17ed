import ArrayStore
import Foundation
import Models
import Tokenization

/// The scale of causal tracing's noise: the standard deviation σ of the model's token embeddings over a
/// reference text, computed once per model and stored in HDF5.
///
/// It is computed as the ROME reference code's `collect_embedding_std` does: each reference string (by
/// default the subjects of known_1000) is encoded alone with the model's own special tokens, the
/// embedding layer's outputs (`hook_embed`, i.e. after any embedding scale such as Gemma's √d) of all its
/// tokens are pooled, and σ is the unbiased standard deviation of every number in the pool.
public struct EmbeddingNoise: Codable, Sendable, Equatable {
    public var sigma: Double
    /// Tokens and numbers pooled.
    public var tokenCount: Int
    public var valueCount: Int
    /// What the reference text was, e.g. "known_1000 subjects (1209 strings)".
    public var reference: String

    /// σ over `texts`, from the embedding matrix (the same numbers `hook_embed` holds).
    public static func compute(_ model: Transformer, tokenizer: Tokenizer, texts: [String], reference: String) -> EmbeddingNoise {
        let d = model.config.dModel, scale = model.config.embeddingScale
        let ids = texts.flatMap { tokenizer.encode($0) }
        let E = model.weights.embedding
        let rows = Dictionary(Set(ids).map { ($0, E.row($0)) }, uniquingKeysWith: { a, _ in a })
        var sum = 0.0
        for t in ids { for j in 0..<d { sum += Double(rows[t]![j] * scale) } }
        let n = Double(ids.count * d)
        let mean = sum / n
        var ss = 0.0
        for t in ids { for j in 0..<d { let x = Double(rows[t]![j] * scale) - mean; ss += x * x } }
        return EmbeddingNoise(sigma: (ss / (n - 1)).squareRoot(), tokenCount: ids.count, valueCount: ids.count * d, reference: reference)
    }

    /// Reads σ from `path` if it was computed for this model file and reference; otherwise computes and stores it.
    public static func loadOrCompute(
        _ model: Transformer, tokenizer: Tokenizer, texts: [String], reference: String, path: String, provenance: Provenance
    ) throws -> EmbeddingNoise {
        if FileManager.default.fileExists(atPath: path), let f = try? H5File.open(path),
            let a = try? f.attributes(), a["model_sha256"] == .string(provenance.modelSHA256), a["reference"] == .string(reference),
            case .double(let s)? = a["sigma"], case .int(let tok)? = a["token_count"], case .int(let vals)? = a["value_count"]
        {
            return EmbeddingNoise(sigma: s, tokenCount: Int(tok), valueCount: Int(vals), reference: reference)
        }
        let r = compute(model, tokenizer: tokenizer, texts: texts, reference: reference)
        try H5File.write(path) { f in
            try f.write(doubles: [r.sigma], shape: [1], at: "sigma")
            try f.setAttributes(provenance.attributes.merging([
                "sigma": .double(r.sigma), "token_count": .int(Int64(r.tokenCount)), "value_count": .int(Int64(r.valueCount)),
                "reference": .string(reference),
                "method": .string("unbiased std of every hook_embed value of the reference strings, each encoded alone (ROME collect_embedding_std)"),
            ]) { $1 })
        }
        return r
    }
}
