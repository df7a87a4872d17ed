import ArgumentParser
import Foundation
import Locus

/// A loaded model with what probes record about it, and where probe caches live.
struct ProbeContext {
    let model: LanguageModel
    let provenance: Provenance
    /// `<LOCUS_HOME>/probing/<sha256 prefix>/`: σ of the embeddings, mined FFN memories.
    let cacheDirectory: String

    init(_ options: ModelOptions) throws {
        model = try options.load()
        let sha = try FileHash.sha256(path: model.path)
        provenance = Provenance(modelFile: model.path, modelSHA256: sha, createdBy: "locus \(LocusVersion.string)")
        cacheDirectory = ModelCache().root + "/probing/" + String(sha.prefix(16))
    }

    /// σ of the token embeddings over the subjects of known_1000 (ROME's reference text), computed once.
    func embeddingNoise() throws -> EmbeddingNoise {
        let facts = try Datasets.knownFacts()
        return try EmbeddingNoise.loadOrCompute(
            model.transformer, tokenizer: model.tokenizer, texts: facts.map(\.subject),
            reference: "known_1000 subjects (\(facts.count) strings)", path: cacheDirectory + "/embedding_std.h5", provenance: provenance)
    }
}

/// Parses a noise level: `3s` / `3σ` (multiples of σ) or an absolute number such as `0.35`.
func parseNoise(_ s: String) throws -> NoiseLevel {
    let t = s.trimmingCharacters(in: .whitespaces)
    if t.hasSuffix("s") || t.hasSuffix("σ"), let k = Double(t.dropLast()) { return .sigmas(k) }
    if let v = Double(t) { return .absolute(v) }
    throw ValidationError("--noise: expected a number (absolute) or a multiple of σ such as 3s, found '\(s)'")
}

func parseKinds(_ list: [String]) throws -> [TraceKind] {
    try list.flatMap { $0.split(separator: ",").map(String.init) }.map { name in
        guard let k = TraceKind(rawValue: name) else {
            throw ValidationError("--kinds: '\(name)' is not one of \(TraceKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return k
    }
}

/// Creates a folder for results.
func makeDirectory(_ path: String) throws {
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
}
