/// A vocabulary that cannot make a tokenizer, naming the field at fault.
///
/// `field` is the `tokenizer.ggml.*` key without its prefix ("merges", "merges[17]", "bos_token_id"),
/// so a caller that knows the file can say `model.gguf: tokenizer.ggml.merges[17]: ...`.
public struct TokenizerError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// `model` is not one Locus implements.
        case unsupportedModel
        /// `pre` names a pre-tokenizer Locus does not implement.
        case unsupportedPreTokenizer
        /// A field the model needs is absent (merges for "gpt2", scores for "llama").
        case missingField
        /// A per-token array whose length differs from `tokens`.
        case lengthMismatch
        /// A malformed entry (a merge without a space, an empty vocabulary).
        case malformed
        /// A merge or id naming a token the vocabulary does not have.
        case unknownToken
    }

    public let kind: Kind
    public let field: String
    public let expected: String
    public let found: String

    public init(_ kind: Kind, field: String, expected: String, found: String) {
        self.kind = kind
        self.field = field
        self.expected = expected
        self.found = found
    }

    public var description: String {
        "tokenizer.ggml.\(field): expected \(expected), found \(found)"
    }
}
