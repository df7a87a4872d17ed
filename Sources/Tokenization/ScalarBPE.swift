/// BPE over Unicode scalars ranked by the order of `merges`, with `<0xXX>` byte fallback ("scalar-bpe"
/// vocabularies: the SentencePiece-converted BPE of a tokenizer.json), as HF's `tokenizers` runs it
/// (`models/bpe/model.rs`, `merge_word` and `Word::merge_all`). The steps before the merges are those
/// `ScalarBPESettings` lists; the merges are `applyMerges`, lowest rank first, ties to the leftmost.
///
/// A scalar that is no model token falls back to its UTF-8 bytes when every byte has a `<0xXX>` token,
/// else to the unknown token. HF holds an unknown back until the next scalar that is a token (or the
/// word's end), so bytes that fall back in between come before it; fused unknowns (`fuse_unk`) are one.
struct ScalarBPE: Sendable {
    let settings: ScalarBPESettings
    let ranks: MergeRanks
    /// The model vocabulary (without added-only tokens), for `ignore_merges`.
    let modelIndex: [TokenText: Int]
    /// Model tokens that are one scalar, by scalar value.
    let scalarTokens: [UInt32: Int32]
    /// The `<0xXX>` model token of each byte (HF looks up exactly that spelling), or -1.
    let byteTokens: [Int32]
    let unknownID: Int32
    /// Added tokens matched in the normalized text.
    let normalizedTokens: SpecialTokenMatcher
    /// Their normalized texts, which HF's `decode` gives the decoder in place of their content.
    let normalizedTexts: [Int: String]

    static let mark = SentencePieceBPE.spaceMark

    init(tokens: [String], index: [TokenText: Int], merges: [String], settings: ScalarBPESettings) throws(TokenizerError) {
        self.settings = settings
        let addedOnly = settings.addedOnlyIDs
        modelIndex = addedOnly.isEmpty ? index : index.filter { !addedOnly.contains($0.value) }
        ranks = try MergeRanks(merges: merges, index: modelIndex, repeated: .refuse)
        var scalarTokens: [UInt32: Int32] = [:]
        for (text, id) in modelIndex {
            var it = text.text.unicodeScalars.makeIterator()
            if let s = it.next(), it.next() == nil { scalarTokens[s.value] = Int32(id) }
        }
        self.scalarTokens = scalarTokens
        let hex = Array("0123456789ABCDEF")
        let vocabulary = modelIndex
        byteTokens = (0..<256).map { b in
            vocabulary[TokenText("<0x\(hex[b >> 4])\(hex[b & 15])>")].map { Int32($0) } ?? -1
        }
        unknownID = Int32(settings.unknownID ?? -1)
        var normalized: [(text: String, id: Int)] = []
        for id in settings.normalizedIDs.sorted() {
            normalized.append((Self.normalize(Array(tokens[id].unicodeScalars), settings).text, id))
        }
        normalizedTexts = Dictionary(normalized.map { ($0.id, $0.text) }, uniquingKeysWith: { a, _ in a })
        normalizedTokens = SpecialTokenMatcher(
            normalized, leftStripping: settings.leftStrippingIDs, rightStripping: settings.rightStrippingIDs)
    }

    /// The normalizer's steps on one run of text: Replace(" ", "▁"), then Prepend("▁") if it is not empty.
    static func normalize(_ scalars: [Unicode.Scalar], _ settings: ScalarBPESettings) -> (scalars: [Unicode.Scalar], text: String) {
        var s = scalars
        if settings.replacesSpaces { for i in s.indices where s[i] == " " { s[i] = mark } }
        if settings.prependsMark, !s.isEmpty { s.insert(mark, at: 0) }
        var v = String.UnicodeScalarView()
        v.append(contentsOf: s)
        return (s, String(v))
    }

    /// Per-`encode` memo of the ids of each short word already seen.
    typealias Cache = [TokenText: [Int32]]

    /// Encodes `bytes[range]`, a run of text between added tokens matched in the raw text.
    func encode(_ bytes: [UInt8], _ range: Range<Int>, cache: inout Cache, into out: inout [Int]) {
        let startsInput = range.lowerBound == 0
        let normalized = Self.normalize(ScalarRun(bytes, range, classify: false).scalars, settings)
        if normalizedTokens.isEmpty {
            preTokenize(normalized.scalars, first: startsInput, cache: &cache, into: &out)
            return
        }
        let utf8 = Array(normalized.text.utf8)
        normalizedTokens.split(
            utf8,
            text: { r in
                let piece = ScalarRun(utf8, r, classify: false).scalars
                preTokenize(piece, first: startsInput && r.lowerBound == 0, cache: &cache, into: &out)
            },
            token: { out.append($0) })
    }

    /// Metaspace (if any) on one piece, then the model on each word. `first`: the piece starts the input.
    private func preTokenize(_ piece: [Unicode.Scalar], first: Bool, cache: inout Cache, into out: inout [Int]) {
        guard let m = settings.metaspace else {
            encodeWord(piece[...], cache: &cache, into: &out)
            return
        }
        var s = piece
        for i in s.indices where s[i] == " " { s[i] = Self.mark }
        let prepend = m.prependScheme == .always || (m.prependScheme == .first && first)
        if prepend, let head = s.first, head != Self.mark { s.insert(Self.mark, at: 0) }
        guard m.split else {
            encodeWord(s[...], cache: &cache, into: &out)
            return
        }
        var start = 0
        for i in s.indices.dropFirst() where s[i] == Self.mark {
            encodeWord(s[start..<i], cache: &cache, into: &out)
            start = i
        }
        encodeWord(s[start...], cache: &cache, into: &out)
    }

    private func encodeWord(_ word: ArraySlice<Unicode.Scalar>, cache: inout Cache, into out: inout [Int]) {
        guard !word.isEmpty else { return }
        var v = String.UnicodeScalarView()
        v.append(contentsOf: word)
        let key = TokenText(String(v))
        if settings.ignoreMerges, let id = modelIndex[key] {
            out.append(id)
            return
        }
        let memo = word.count <= 64
        if memo, let hit = cache[key] {
            for id in hit { out.append(Int(id)) }
            return
        }
        var symbols: [Int32] = []
        symbols.reserveCapacity(word.count)
        var pendingUnknown = false
        for s in word {
            if let id = scalarTokens[s.value] {
                if pendingUnknown { symbols.append(unknownID) }
                pendingUnknown = false
                symbols.append(id)
                continue
            }
            if settings.byteFallback {
                let utf8 = Array(String(s).utf8)
                if utf8.allSatisfy({ byteTokens[Int($0)] >= 0 }) {
                    for b in utf8 { symbols.append(byteTokens[Int(b)]) }
                    continue
                }
            }
            guard unknownID >= 0 else { continue }  // no unk_token: HF drops the scalar
            if pendingUnknown, !settings.fuseUnknown { symbols.append(unknownID) }
            pendingUnknown = true
        }
        if pendingUnknown { symbols.append(unknownID) }
        var ranking = ranks
        applyMerges(&symbols, ranking: &ranking)
        if memo { cache[key] = symbols }
        for id in symbols { out.append(Int(id)) }
    }

    /// The text of token texts, through the decoder chain (HF joins them with spaces without one).
    func decode(_ pieces: [String]) -> String {
        guard let steps = settings.decoder else { return pieces.joined(separator: " ") }
        var t = pieces
        for step in steps { t = step.apply(t) }
        return t.joined()
    }
}
