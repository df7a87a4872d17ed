/// A tokenizer built from GGUF tokenizer metadata, giving the ids Hugging Face's tokenizers give.
///
/// - "gpt2" vocabularies: byte-level BPE, text cut by the pre-tokenizer `pre` names, merges ranked
///   by their order (`ByteLevelBPE`).
/// - "llama" vocabularies: SentencePiece-style BPE ranked by scores, with byte fallback
///   (`SentencePieceBPE`).
/// - "scalar-bpe" vocabularies (a tokenizer.json's SentencePiece-converted BPE): BPE over Unicode
///   scalars ranked by the order of merges, with byte fallback and the normalizer, Metaspace and
///   decoder steps of `ScalarBPESettings` (`ScalarBPE`).
///
/// In both, control tokens (type 3) and user-defined tokens (type 4) written literally in the text
/// are matched whole first, leftmost-longest, as HF matches its added tokens.
///
/// Immutable after `init`, so one tokenizer can serve many threads; `encode` keeps its memo of
/// merges for the length of one call.
public final class Tokenizer: Sendable {
    /// Number of tokens; ids run `0..<vocabularySize`.
    public let vocabularySize: Int
    /// Beginning-, end-of-sequence, unknown and padding tokens, where the vocabulary names them.
    public let bosID: Int?
    public let eosID: Int?
    public let unknownID: Int?
    public let paddingID: Int?

    private let tokens: [String]
    private let index: [TokenText: Int]
    private let types: [Int32]
    private let addBOS: Bool
    private let addEOS: Bool
    private let addSpacePrefix: Bool
    private let specials: SpecialTokenMatcher
    private let model: Model

    private enum Model: Sendable {
        case byteLevel(ByteLevelBPE)
        case sentencePiece(SentencePieceBPE)
        case scalar(ScalarBPE)
    }

    /// Builds the tokenizer of a vocabulary (usually read from a GGUF file by `makeTokenizer(from:)`).
    ///
    /// - Throws: `TokenizerError` naming the field at fault: no tokens, scores or types not one per
    ///   token, a special-token id outside the vocabulary, a BOS/EOS to add but no id for it, a merge of
    ///   tokens not in the vocabulary, missing merges or scores, an unsupported pre-tokenizer or model.
    public init(vocabulary v: TokenizerVocabulary) throws(TokenizerError) {
        let n = v.tokens.count
        guard n > 0 else { throw TokenizerError(.malformed, field: "tokens", expected: "at least one token", found: "none") }
        guard n < Int(Int32.max) else { throw TokenizerError(.malformed, field: "tokens", expected: "fewer than 2^31 tokens", found: "\(n)") }
        if let s = v.scores, s.count != n {
            throw TokenizerError(.lengthMismatch, field: "scores", expected: "\(n) scores, one per token", found: "\(s.count)")
        }
        if let t = v.tokenTypes, t.count != n {
            throw TokenizerError(.lengthMismatch, field: "token_type", expected: "\(n) types, one per token", found: "\(t.count)")
        }
        for (field, id) in [("bos_token_id", v.bosID), ("eos_token_id", v.eosID), ("unknown_token_id", v.unknownID), ("padding_token_id", v.paddingID)] {
            if let id, !(0..<n).contains(id) {
                throw TokenizerError(.unknownToken, field: field, expected: "a token id below \(n)", found: "\(id)")
            }
        }
        if v.addBOS, v.bosID == nil {
            throw TokenizerError(.missingField, field: "bos_token_id", expected: "a BOS id, since add_bos_token is true", found: "none")
        }
        if v.addEOS, v.eosID == nil {
            throw TokenizerError(.missingField, field: "eos_token_id", expected: "an EOS id, since add_eos_token is true", found: "none")
        }

        var index: [TokenText: Int] = [:]
        index.reserveCapacity(n)
        for (id, t) in v.tokens.enumerated() { index[TokenText(t)] = id }  // a repeated text maps to its last id, as in HF and llama.cpp

        var types: [Int32]
        if let t = v.tokenTypes {
            types = t
        } else {
            // Without types, the ids the file names are the special ones, and "<0xXX>" texts are bytes.
            types = [Int32](repeating: TokenType.normal, count: n)
            for id in [v.bosID, v.eosID, v.unknownID, v.paddingID].compactMap({ $0 }) { types[id] = TokenType.control }
            if v.model == "llama" {
                for (id, t) in v.tokens.enumerated() where SentencePieceBPE.byteValue(t) != nil { types[id] = TokenType.byte }
            }
        }

        switch v.model {
        case "gpt2":
            guard let pre = PreTokenizer(name: v.pre) else {
                throw TokenizerError(
                    .unsupportedPreTokenizer, field: "pre",
                    expected: "one of \(PreTokenizer.knownNames.joined(separator: ", "))", found: "\"\(v.pre)\"")
            }
            guard let merges = v.merges else {
                throw TokenizerError(.missingField, field: "merges", expected: "the merges a \"gpt2\" (byte-level BPE) vocabulary needs", found: "none")
            }
            model = .byteLevel(try ByteLevelBPE(tokens: v.tokens, index: index, merges: merges, pre: pre, unknownID: v.unknownID))
        case "llama":
            guard let scores = v.scores else {
                throw TokenizerError(.missingField, field: "scores", expected: "the scores a \"llama\" (SentencePiece BPE) vocabulary merges by", found: "none")
            }
            model = .sentencePiece(SentencePieceBPE(
                tokens: v.tokens, index: index, scores: scores, types: types, unknownID: v.unknownID,
                addSpacePrefix: v.addSpacePrefix))
        case "scalar-bpe":
            guard let merges = v.merges else {
                throw TokenizerError(.missingField, field: "merges", expected: "the merges a \"scalar-bpe\" vocabulary ranks by", found: "none")
            }
            guard let settings = v.scalarBPE else {
                throw TokenizerError(.missingField, field: "scalarBPE", expected: "the settings of a \"scalar-bpe\" vocabulary", found: "none")
            }
            for (field, ids) in [("normalizedIDs", settings.normalizedIDs), ("addedOnlyIDs", settings.addedOnlyIDs)] {
                if let bad = ids.first(where: { !(0..<n).contains($0) }) {
                    throw TokenizerError(.unknownToken, field: "scalarBPE.\(field)", expected: "token ids below \(n)", found: "\(bad)")
                }
            }
            let bpe = try ScalarBPE(tokens: v.tokens, index: index, merges: merges, settings: settings)
            for id in bpe.byteTokens where id >= 0 && types[Int(id)] == TokenType.normal { types[Int(id)] = TokenType.byte }
            model = .scalar(bpe)
        default:
            throw TokenizerError(.unsupportedModel, field: "model", expected: "\"gpt2\", \"llama\" or \"scalar-bpe\"", found: "\"\(v.model)\"")
        }

        // Added tokens matched in the normalized text are the scalar model's to find.
        let inNormalizedText = v.scalarBPE?.normalizedIDs ?? []
        var special: [(text: String, id: Int)] = []
        for (id, t) in v.tokens.enumerated()
        where (types[id] == TokenType.control || types[id] == TokenType.userDefined) && !inNormalizedText.contains(id) {
            special.append((t, id))
        }
        specials = SpecialTokenMatcher(
            special, leftStripping: v.scalarBPE?.leftStrippingIDs ?? [], rightStripping: v.scalarBPE?.rightStrippingIDs ?? [])
        tokens = v.tokens
        self.index = index
        self.types = types
        vocabularySize = n
        bosID = v.bosID
        eosID = v.eosID
        unknownID = v.unknownID
        paddingID = v.paddingID
        addBOS = v.addBOS
        addEOS = v.addEOS
        addSpacePrefix = v.addSpacePrefix
    }

    // MARK: encoding

    /// The token ids of `text`. With `addSpecialTokens`, BOS goes first and EOS last where the
    /// vocabulary says to add them (add_bos_token / add_eos_token).
    public func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(text.utf8.count / 3 + 2)
        if addSpecialTokens, addBOS, let bos = bosID { out.append(bos) }
        let bytes = Array(text.utf8)
        switch model {
        case .byteLevel(let bpe):
            var cache = ByteLevelBPE.Cache()
            specials.split(bytes, text: { bpe.encode(bytes, $0, cache: &cache, into: &out) }, token: { out.append($0) })
        case .sentencePiece(let spm):
            var cache = SentencePieceBPE.Cache()
            specials.split(bytes, text: { spm.encode(bytes, $0, cache: &cache, into: &out) }, token: { out.append($0) })
        case .scalar(let bpe):
            var cache = ScalarBPE.Cache()
            specials.split(bytes, text: { bpe.encode(bytes, $0, cache: &cache, into: &out) }, token: { out.append($0) })
        }
        if addSpecialTokens, addEOS, let eos = eosID { out.append(eos) }
        return out
    }

    // MARK: decoding

    /// The text of `ids`. Control tokens (BOS, EOS, "<|im_start|>") appear as their text unless
    /// `skipSpecialTokens`; user-defined tokens always do, as in HF. Ids outside the vocabulary
    /// are skipped. Bytes that do not form UTF-8 become U+FFFD. A "scalar-bpe" vocabulary decodes
    /// through its tokenizer.json's decoder chain, added tokens included (a normalized one as its
    /// normalized text), as HF's `decode` does.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        if case .scalar(let bpe) = model {
            let kept = ids.filter { $0 >= 0 && $0 < vocabularySize && !(skipSpecialTokens && types[$0] == TokenType.control) }
            return bpe.decode(kept.map { bpe.normalizedTexts[$0] ?? tokens[$0] })
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 4)
        // With add_space_prefix, encode put a "▁" before the text; the first text token drops it.
        var firstText = addSpacePrefix
        for id in ids where id >= 0 && id < vocabularySize {
            let type = types[id]
            if type == TokenType.control {
                if !skipSpecialTokens { bytes.append(contentsOf: tokens[id].utf8) }
                continue
            }
            appendBytes(of: id, stripLeadingSpace: firstText, to: &bytes)
            firstText = false
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private func appendBytes(of id: Int, stripLeadingSpace: Bool, to bytes: inout [UInt8]) {
        let text = tokens[id]
        let type = types[id]
        if type == TokenType.control || type == TokenType.userDefined {
            bytes.append(contentsOf: text.utf8)
            return
        }
        switch model {
        case .byteLevel:
            ByteLevelAlphabet.bytes(of: text, into: &bytes)
        case .sentencePiece, .scalar:
            if type == TokenType.byte, let b = SentencePieceBPE.byteValue(text) {
                bytes.append(b)
                return
            }
            var skip = stripLeadingSpace
            for s in text.unicodeScalars {
                if s == SentencePieceBPE.spaceMark {
                    if skip { skip = false; continue }
                    bytes.append(0x20)
                } else {
                    skip = false
                    bytes.append(contentsOf: String(s).utf8)
                }
            }
        }
    }

    // MARK: single tokens

    /// A readable form of one token: its text with the byte-level or "▁" spelling undone
    /// (" Paris"), a byte token as its character when that is ASCII, and bytes that are only part
    /// of a character as "<0xXX>". Special tokens are their text; an id outside the vocabulary is "".
    public func piece(_ id: Int) -> String {
        guard id >= 0 && id < vocabularySize else { return "" }
        let type = types[id]
        let text = tokens[id]
        if type == TokenType.control || type == TokenType.userDefined { return text }
        var bytes: [UInt8] = []
        switch model {
        case .byteLevel:
            ByteLevelAlphabet.bytes(of: text, into: &bytes)
        case .sentencePiece, .scalar:
            if type == TokenType.byte, let b = SentencePieceBPE.byteValue(text) {
                return b < 0x80 ? String(UnicodeScalar(b)) : text
            }
            appendBytes(of: id, stripLeadingSpace: false, to: &bytes)
        }
        return Self.readable(bytes)
    }

    /// The id of a token given in the form `piece` shows (" Paris"), or in the vocabulary's own
    /// spelling ("ĠParis", "▁Paris", "<0x0A>"); nil if no token has that text.
    public func id(ofPiece piece: String) -> Int? {
        switch model {
        case .byteLevel:
            if let id = index[TokenText(ByteLevelAlphabet.spell(piece.utf8))] { return id }
        case .sentencePiece(let spm):
            if let id = spaceMarkedID(piece, byteTokens: spm.byteTokens) { return id }
        case .scalar(let bpe):
            if let id = spaceMarkedID(piece, byteTokens: bpe.byteTokens) { return id }
        }
        return index[TokenText(piece)]
    }

    /// The id of a piece in the "▁" spelling, or of its `<0xXX>` token when it is one byte with no token.
    private func spaceMarkedID(_ piece: String, byteTokens: [Int32]) -> Int? {
        var s = String.UnicodeScalarView()
        for c in piece.unicodeScalars { s.append(c == " " ? SentencePieceBPE.spaceMark : c) }
        if let id = index[TokenText(String(s))] { return id }
        let u = Array(piece.utf8)
        if u.count == 1, index[TokenText(piece)] == nil, byteTokens[Int(u[0])] >= 0 { return Int(byteTokens[Int(u[0])]) }
        return nil
    }

    /// UTF-8 where it is valid, "<0xXX>" for each byte that is not.
    private static func readable(_ bytes: [UInt8]) -> String {
        var out = ""
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            let n = b < 0x80 ? 1 : b >= 0xC2 && b < 0xE0 ? 2 : b >= 0xE0 && b < 0xF0 ? 3 : b >= 0xF0 && b < 0xF5 ? 4 : 0
            if n > 0, i + n <= bytes.count {
                let chunk = bytes[i..<(i + n)]
                let s = String(decoding: chunk, as: UTF8.self)
                if s.utf8.elementsEqual(chunk) {  // decoding replaced nothing: valid UTF-8
                    out += s
                    i += n
                    continue
                }
            }
            out += "<0x" + String(b, radix: 16, uppercase: true).leftPadded(to: 2) + ">"
            i += 1
        }
        return out
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
