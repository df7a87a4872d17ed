/// What a GGUF file's `tokenizer.ggml.*` metadata says about a tokenizer.
///
/// This is plain data; `Tokenizer(vocabulary:)` checks it and builds the encoder. Nothing here
/// depends on the GGUF reader, so tests can hand-make a vocabulary of a few tokens.
public struct TokenizerVocabulary: Sendable, Equatable {
    /// `tokenizer.ggml.model`: "gpt2" (byte-level BPE ranked by `merges`), "llama"
    /// (SentencePiece-style BPE ranked by `scores`, with `<0xXX>` byte fallback), or, from a
    /// tokenizer.json only, "scalar-bpe" (BPE over Unicode scalars ranked by `merges`, with byte
    /// fallback and the steps `scalarBPE` gives).
    public var model: String
    /// `tokenizer.ggml.pre`: the pre-tokenizer a byte-level BPE splits text with before merging
    /// ("gpt2", "default", "smollm", "llama-bpe", "qwen2", ...). Ignored by "llama" vocabularies.
    public var pre: String
    /// `tokenizer.ggml.tokens`: the token texts; a token's id is its index.
    public var tokens: [String]
    /// `tokenizer.ggml.scores`: merge priority of each token (higher merges first); required for "llama".
    public var scores: [Float]?
    /// `tokenizer.ggml.token_type`: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
    public var tokenTypes: [Int32]?
    /// `tokenizer.ggml.merges`: "left right" pairs, best first; required for "gpt2" and "scalar-bpe".
    public var merges: [String]?
    public var bosID: Int?
    public var eosID: Int?
    public var unknownID: Int?
    public var paddingID: Int?
    /// `tokenizer.ggml.add_bos_token`: `encode` puts BOS in front when adding special tokens.
    public var addBOS: Bool
    /// `tokenizer.ggml.add_eos_token`: `encode` puts EOS at the end when adding special tokens.
    public var addEOS: Bool
    /// `tokenizer.ggml.add_space_prefix`: a "llama" vocabulary puts "▁" before the text.
    public var addSpacePrefix: Bool
    /// The normalizer, pre-tokenizer, model and decoder settings of a "scalar-bpe" vocabulary.
    public var scalarBPE: ScalarBPESettings?

    public init(
        model: String, pre: String = "default", tokens: [String], scores: [Float]? = nil,
        tokenTypes: [Int32]? = nil, merges: [String]? = nil, bosID: Int? = nil, eosID: Int? = nil,
        unknownID: Int? = nil, paddingID: Int? = nil, addBOS: Bool = false, addEOS: Bool = false,
        addSpacePrefix: Bool = false, scalarBPE: ScalarBPESettings? = nil
    ) {
        self.model = model
        self.pre = pre
        self.tokens = tokens
        self.scores = scores
        self.tokenTypes = tokenTypes
        self.merges = merges
        self.bosID = bosID
        self.eosID = eosID
        self.unknownID = unknownID
        self.paddingID = paddingID
        self.addBOS = addBOS
        self.addEOS = addEOS
        self.addSpacePrefix = addSpacePrefix
        self.scalarBPE = scalarBPE
    }
}

/// GGUF token types (`tokenizer.ggml.token_type`), as llama.cpp numbers them.
enum TokenType {
    static let normal: Int32 = 1
    static let unknown: Int32 = 2
    static let control: Int32 = 3
    static let userDefined: Int32 = 4
    static let unused: Int32 = 5
    static let byte: Int32 = 6
}

/// A token's text as a dictionary key compared byte for byte.
///
/// Swift's `String` equality is canonical equivalence, so as a key ";" (U+003B) and the Greek
/// question mark (U+037E), or "é" and "e\u{301}", would be one key, yet they are different tokens.
/// (Byte hashing is also cheaper than the normalizing hash `String` uses for non-ASCII text.)
public struct TokenText: Hashable, Sendable {
    public let text: String

    public init(_ text: String) { self.text = text }

    public static func == (a: TokenText, b: TokenText) -> Bool { a.text.utf8.elementsEqual(b.text.utf8) }

    public func hash(into hasher: inout Hasher) {
        let done: Void? = text.utf8.withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        if done == nil { Array(text.utf8).withUnsafeBytes { hasher.combine(bytes: $0) } }
    }
}
