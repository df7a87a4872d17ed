/// What a "scalar-bpe" vocabulary says beyond its tokens and merges: the SentencePiece-converted BPE of
/// a Hugging Face `tokenizer.json` (Llama 2, Mistral, Gemma, Phi-3), as HF's `tokenizers` runs it.
///
/// Text goes through these steps, each applied only where the file asks for it:
/// 1. added tokens with `normalized: false` are matched whole in the raw text (`Tokenizer`'s matcher);
/// 2. each run of text between them is normalized: `Replace(" ", "▁")`, `Prepend("▁")` (before every
///    non-empty run, unconditionally);
/// 3. added tokens with `normalized: true` are matched whole in the normalized run (their own text
///    normalized the same way first, as HF does);
/// 4. each piece left is pre-tokenized by `Metaspace`: spaces become "▁", a "▁" is put in front per
///    `prependScheme` unless the piece starts with one, and with `split` the piece is cut before each "▁";
/// 5. each word becomes ids: one symbol per Unicode scalar of the model vocabulary, else its UTF-8 bytes
///    as `<0xXX>` tokens (`byteFallback`), else the unknown token; then merges by their rank in `merges`.
public struct ScalarBPESettings: Sendable, Equatable {
    /// Metaspace's `prepend_scheme`.
    public enum PrependScheme: String, Sendable, Equatable {
        /// No "▁" in front.
        case never
        /// Only in front of the piece that starts the input.
        case first
        /// In front of every piece (each run of text between added tokens).
        case always
    }

    /// The `Metaspace` pre-tokenizer (replacement "▁").
    public struct Metaspace: Sendable, Equatable {
        public var prependScheme: PrependScheme
        /// Cut each piece before every "▁" (`split: true`, HF's `MergedWithNext`).
        public var split: Bool

        public init(prependScheme: PrependScheme, split: Bool) {
            self.prependScheme = prependScheme
            self.split = split
        }
    }

    /// One step of HF's decoder chain; each maps the list of token texts to a new list, and the
    /// result is joined.
    public enum DecodeStep: Sendable, Equatable {
        /// `Replace(pattern, content)` in each token.
        case replace(String, String)
        /// Runs of `<0xXX>` tokens become their UTF-8 text, or one U+FFFD per byte if they are not UTF-8.
        case byteFallback
        /// All tokens joined into one.
        case fuse
        /// Up to `start` leading and `stop` trailing `content` scalars removed from each token.
        case strip(Unicode.Scalar, start: Int, stop: Int)
        /// Metaspace's decoder: "▁" becomes a space, except in the first token, which loses every "▁"
        /// unless the scheme is `never`.
        case metaspace(PrependScheme)
    }

    /// Normalizer `Replace(" ", "▁")`.
    public var replacesSpaces: Bool
    /// Normalizer `Prepend("▁")`.
    public var prependsMark: Bool
    public var metaspace: Metaspace?
    /// `model.byte_fallback`.
    public var byteFallback: Bool
    /// `model.fuse_unk`: consecutive unknown scalars become one unknown token.
    public var fuseUnknown: Bool
    /// `model.ignore_merges`: a word that is itself a token is that token.
    public var ignoreMerges: Bool
    /// `model.unk_token`'s id: what a scalar with no token (and no byte tokens) becomes; nil drops it.
    public var unknownID: Int?
    /// Added tokens matched in the normalized text (`normalized: true`).
    public var normalizedIDs: Set<Int>
    /// Added tokens that take the whitespace before them (`lstrip`) or after them (`rstrip`) with them.
    public var leftStrippingIDs: Set<Int>
    public var rightStrippingIDs: Set<Int>
    /// Added tokens the BPE model's own vocabulary lacks: matched whole, never made by the model.
    public var addedOnlyIDs: Set<Int>
    /// The decoder chain; nil joins the token texts with spaces, as HF does without a decoder.
    public var decoder: [DecodeStep]?

    public init(
        replacesSpaces: Bool = false, prependsMark: Bool = false, metaspace: Metaspace? = nil, byteFallback: Bool = true,
        fuseUnknown: Bool = false, ignoreMerges: Bool = false, unknownID: Int? = nil, normalizedIDs: Set<Int> = [],
        leftStrippingIDs: Set<Int> = [], rightStrippingIDs: Set<Int> = [], addedOnlyIDs: Set<Int> = [],
        decoder: [DecodeStep]? = nil
    ) {
        self.replacesSpaces = replacesSpaces
        self.prependsMark = prependsMark
        self.metaspace = metaspace
        self.byteFallback = byteFallback
        self.fuseUnknown = fuseUnknown
        self.ignoreMerges = ignoreMerges
        self.unknownID = unknownID
        self.normalizedIDs = normalizedIDs
        self.leftStrippingIDs = leftStrippingIDs
        self.rightStrippingIDs = rightStrippingIDs
        self.addedOnlyIDs = addedOnlyIDs
        self.decoder = decoder
    }
}

extension ScalarBPESettings.DecodeStep {
    /// The step applied to a list of token texts.
    func apply(_ tokens: [String]) -> [String] {
        switch self {
        case .replace(let pattern, let content):
            return tokens.map { replacing(pattern, with: content, in: $0) }
        case .byteFallback:
            var out: [String] = []
            var pending: [UInt8] = []
            func flush() {
                guard !pending.isEmpty else { return }
                let s = String(decoding: pending, as: UTF8.self)
                if s.utf8.elementsEqual(pending) { out.append(s) } else { out += Array(repeating: "\u{FFFD}", count: pending.count) }
                pending.removeAll()
            }
            for t in tokens {
                if let b = SentencePieceBPE.byteValue(t) { pending.append(b); continue }
                flush()
                out.append(t)
            }
            flush()
            return out
        case .fuse:
            return [tokens.joined()]
        case .strip(let content, let start, let stop):
            return tokens.map { t in
                let s = Array(t.unicodeScalars)
                var lo = 0, hi = s.count
                while lo < min(start, s.count), s[lo] == content { lo += 1 }
                while s.count - hi < stop, hi > lo, s[hi - 1] == content { hi -= 1 }
                var v = String.UnicodeScalarView()
                v.append(contentsOf: s[lo..<hi])
                return String(v)
            }
        case .metaspace(let scheme):
            return tokens.enumerated().map { i, t in
                var v = String.UnicodeScalarView()
                for s in t.unicodeScalars {
                    if s != SentencePieceBPE.spaceMark { v.append(s) } else if i > 0 || scheme == .never { v.append(" ") }
                }
                return String(v)
            }
        }
    }

    /// `pattern` replaced by `content` throughout `text`, leftmost matches first (scalar by scalar).
    private func replacing(_ pattern: String, with content: String, in text: String) -> String {
        let p = Array(pattern.unicodeScalars), s = Array(text.unicodeScalars)
        guard !p.isEmpty, s.count >= p.count else { return text }
        var v = String.UnicodeScalarView()
        var i = 0
        while i < s.count {
            if i + p.count <= s.count, s[i..<(i + p.count)].elementsEqual(p) {
                v.append(contentsOf: content.unicodeScalars)
                i += p.count
            } else {
                v.append(s[i])
                i += 1
            }
        }
        return String(v)
    }
}
