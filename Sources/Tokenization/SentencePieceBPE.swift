/// SentencePiece-style BPE ("llama" vocabularies such as Gemma's): spaces become "▁", the text
/// starts as one symbol per Unicode scalar, and the adjacent pair whose concatenation is a
/// vocabulary token merges, highest score first (llama.cpp's llm_tokenizer_spm). A scalar that is
/// no token falls back to its UTF-8 bytes as `<0xXX>` tokens.
///
/// Ties: equal scores go to the lower token id, then (for two splits of one token) the longer left
/// part, then the leftmost pair. That is the merge order HF's tokenizers derive from such a
/// vocabulary (`generate_merges`), and it is the same as ordering by score whenever scores are
/// distinct — Gemma 3's normal tokens have strictly decreasing scores by id.
struct SentencePieceBPE: Sendable {
    let tokens: [String]
    let index: [TokenText: Int]
    let scores: [Float]
    /// Tokens that are one scalar, by scalar value.
    let scalarTokens: [UInt32: Int32]
    /// The `<0xXX>` token of each byte, or -1.
    let byteTokens: [Int32]
    /// Byte tokens never merge with their neighbours (they stand for part of a character).
    let isByteToken: [Bool]
    /// Scalars in each token (clamped to 0xFFFF), for the tie-break.
    let scalarCounts: [UInt16]
    let unknownID: Int32
    let addSpacePrefix: Bool

    static let spaceMark: Unicode.Scalar = "\u{2581}"

    init(tokens: [String], index: [TokenText: Int], scores: [Float], types: [Int32], unknownID: Int?, addSpacePrefix: Bool) {
        self.tokens = tokens
        self.index = index
        self.scores = scores.map { $0 + 0 }  // -0 and 0 rank the same
        self.unknownID = Int32(unknownID ?? -1)
        self.addSpacePrefix = addSpacePrefix
        var scalarTokens: [UInt32: Int32] = [:]
        var byteTokens = [Int32](repeating: -1, count: 256)
        var isByte = [Bool](repeating: false, count: tokens.count)
        var counts = [UInt16](repeating: 0, count: tokens.count)
        for (id, t) in tokens.enumerated() {
            var n = 0
            var first: Unicode.Scalar = " "
            for s in t.unicodeScalars {
                if n == 0 { first = s }
                n += 1
            }
            counts[id] = UInt16(min(n, 0xFFFF))
            if n == 1, index[TokenText(t)] == id { scalarTokens[first.value] = Int32(id) }
            if types[id] == TokenType.byte, let b = Self.byteValue(t) {
                isByte[id] = true
                if byteTokens[Int(b)] < 0 { byteTokens[Int(b)] = Int32(id) }
            }
        }
        self.scalarTokens = scalarTokens
        self.byteTokens = byteTokens
        self.isByteToken = isByte
        self.scalarCounts = counts
    }

    /// The byte a "<0xXX>" token stands for.
    static func byteValue(_ token: String) -> UInt8? {
        let u = Array(token.utf8)
        guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
        return UInt8(String(decoding: u[3..<5], as: UTF8.self), radix: 16)
    }

    /// Per-`encode` memo of pair lookups: left << 32 | right -> merged id, or -1.
    typealias Cache = [UInt64: Int32]

    /// Encodes `bytes[range]`, a run of text with no special token in it.
    func encode(_ bytes: [UInt8], _ range: Range<Int>, cache: inout Cache, into out: inout [Int]) {
        let run = ScalarRun(bytes, range, classify: false)
        var symbols: [Int32] = []
        symbols.reserveCapacity(run.scalars.count + 1)
        if addSpacePrefix { appendSymbol(Self.spaceMark, to: &symbols) }
        for s in run.scalars { appendSymbol(s == " " ? Self.spaceMark : s, to: &symbols) }
        var ranking = ScoreRanking(model: self, memo: [:])
        swap(&ranking.memo, &cache)  // lend the memo without copying it
        applyMerges(&symbols, ranking: &ranking)
        swap(&ranking.memo, &cache)
        for id in symbols { out.append(Int(id)) }
    }

    private func appendSymbol(_ s: Unicode.Scalar, to symbols: inout [Int32]) {
        if let id = scalarTokens[s.value] {
            symbols.append(id)
            return
        }
        let utf8 = Array(String(s).utf8)
        if utf8.allSatisfy({ byteTokens[Int($0)] >= 0 }) {
            for b in utf8 { symbols.append(byteTokens[Int(b)]) }
        } else if unknownID >= 0, symbols.last != unknownID {
            symbols.append(unknownID)  // consecutive unknowns fuse, as HF's fuse_unk does
        }
    }
}

/// Ranks a pair by the score of the token it would make.
struct ScoreRanking: MergeRanking {
    let model: SentencePieceBPE
    var memo: [UInt64: Int32]

    @inline(__always) mutating func merge(_ left: Int32, _ right: Int32) -> (rank: UInt64, tieBreak: UInt32, merged: Int32)? {
        if model.isByteToken[Int(left)] || model.isByteToken[Int(right)] { return nil }
        if model.unknownID >= 0, left == model.unknownID || right == model.unknownID { return nil }
        let key = UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
        let merged: Int32
        if let m = memo[key] {
            merged = m
        } else {
            merged = model.index[TokenText(model.tokens[Int(left)] + model.tokens[Int(right)])].map { Int32($0) } ?? -1
            memo[key] = merged
        }
        if merged < 0 { return nil }
        let rank = UInt64(Self.descendingKey(model.scores[Int(merged)])) << 32 | UInt64(merged)
        return (rank, UInt32(0xFFFF - model.scalarCounts[Int(left)]), merged)
    }

    /// A key that sorts higher scores first.
    @inline(__always) static func descendingKey(_ score: Float) -> UInt32 {
        let bits = score.bitPattern
        let ascending = bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
        return ~ascending
    }
}
