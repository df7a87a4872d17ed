import ModelFormats
import Tokenization

/// A tokenizer that a GGUF file's metadata does not describe well enough, naming the file and key.
public struct TokenizerLoadingError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The GGUF file.
    public let file: String
    /// The full metadata key at fault ("tokenizer.ggml.merges[17]").
    public let key: String
    /// The underlying problem with the vocabulary.
    public let underlying: TokenizerError

    public init(file: String, underlying: TokenizerError) {
        self.file = file
        self.key = "tokenizer.ggml.\(underlying.field)"
        self.underlying = underlying
    }

    public var description: String {
        "\(file): \(key): expected \(underlying.expected), found \(underlying.found)"
    }
}

/// The vocabulary a GGUF file's `tokenizer.ggml.*` keys give.
///
/// Missing or mistyped keys are `ModelFormatError`s that already name the file and key.
public func tokenizerVocabulary(from gguf: GGUFFile) throws -> TokenizerVocabulary {
    let model = try gguf.string("tokenizer.ggml.model")
    let pre = try optionalString(gguf, "tokenizer.ggml.pre") ?? "default"
    guard let tokens = try array(gguf, "tokenizer.ggml.tokens", "an array of strings", \.stringArray) else {
        throw ModelFormatError(
            .missingField, file: gguf.path, field: "metadata.tokenizer.ggml.tokens", expected: "an array of strings",
            found: "no such key")
    }
    let scores = try array(gguf, "tokenizer.ggml.scores", "an array of floats", \.floatArray)
    let types = try array(gguf, "tokenizer.ggml.token_type", "an array of integers", \.integerArray)
    let merges = try array(gguf, "tokenizer.ggml.merges", "an array of strings", \.stringArray)
    var tokenTypes: [Int32]?
    if let types {
        tokenTypes = types.map { Int32(truncatingIfNeeded: $0) }
    }
    // llama.cpp adds BOS to a SentencePiece vocabulary that does not say otherwise.
    let addBOS = try gguf.optionalBool("tokenizer.ggml.add_bos_token") ?? (model == "llama")
    return TokenizerVocabulary(
        model: model, pre: pre, tokens: tokens, scores: scores, tokenTypes: tokenTypes, merges: merges,
        bosID: try gguf.optionalInteger("tokenizer.ggml.bos_token_id"),
        eosID: try gguf.optionalInteger("tokenizer.ggml.eos_token_id"),
        unknownID: try gguf.optionalInteger("tokenizer.ggml.unknown_token_id"),
        paddingID: try gguf.optionalInteger("tokenizer.ggml.padding_token_id"),
        addBOS: addBOS,
        addEOS: try gguf.optionalBool("tokenizer.ggml.add_eos_token") ?? false,
        addSpacePrefix: try gguf.optionalBool("tokenizer.ggml.add_space_prefix") ?? false)
}

/// The tokenizer a GGUF file describes.
///
/// Throws `ModelFormatError` for a missing or mistyped key and `TokenizerLoadingError` (the file,
/// the key, and the `TokenizerError`) for metadata that does not make a tokenizer.
public func makeTokenizer(from gguf: GGUFFile) throws -> Tokenizer {
    let vocabulary = try tokenizerVocabulary(from: gguf)
    do {
        return try Tokenizer(vocabulary: vocabulary)
    } catch {
        throw TokenizerLoadingError(file: gguf.path, underlying: error)
    }
}

private func optionalString(_ gguf: GGUFFile, _ key: String) throws(ModelFormatError) -> String? {
    guard gguf.metadata[key] != nil else { return nil }
    return try gguf.string(key)
}

private func array<T>(
    _ gguf: GGUFFile, _ key: String, _ expected: String, _ get: (GGUFValue) -> T?
) throws(ModelFormatError) -> T? {
    guard let v = gguf.metadata[key] else { return nil }
    guard let a = get(v) else {
        throw ModelFormatError(.wrongFieldType, file: gguf.path, field: "metadata.\(key)", expected: expected, found: "\(v.valueType) \(v.summary)")
    }
    return a
}
