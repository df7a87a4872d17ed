/// Byte-level BPE ("gpt2" vocabularies): text is cut by the pre-tokenizer, each piece's UTF-8
/// bytes are spelled in GPT-2's printable byte alphabet, and merges apply in the order the
/// vocabulary lists them.

/// GPT-2's reversible map from the 256 bytes to printable characters: the printable Latin-1
/// bytes stand for themselves, the other 68 for U+0100 onwards in byte order (space is "Ġ").
enum ByteLevelAlphabet {
    static let scalarOfByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var extra: UInt32 = 256
        for b in 0..<256 {
            if (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b) {
                table[b] = Unicode.Scalar(UInt8(b))
            } else {
                table[b] = Unicode.Scalar(extra)!
                extra += 1
            }
        }
        return table
    }()

    static let byteOfScalar: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (b, s) in scalarOfByte.enumerated() { map[s.value] = UInt8(b) }
        return map
    }()

    /// A byte string spelled in the alphabet ("ĠParis" for " Paris").
    static func spell<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(scalarOfByte[Int(b)]) }
        return String(s)
    }

    /// The bytes a token spells; a character outside the alphabet stands for its own UTF-8.
    static func bytes(of token: String, into out: inout [UInt8]) {
        for s in token.unicodeScalars {
            if let b = byteOfScalar[s.value] { out.append(b) } else { out.append(contentsOf: String(s).utf8) }
        }
    }
}

/// Merge ranks keyed by (left id, right id).
struct MergeRanks: MergeRanking, Sendable {
    /// left << 32 | right  ->  rank << 32 | merged id.
    let table: [UInt64: UInt64]

    @inline(__always) func merge(_ left: Int32, _ right: Int32) -> (rank: UInt64, tieBreak: UInt32, merged: Int32)? {
        guard let v = table[UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))] else { return nil }
        return (v >> 32, 0, Int32(truncatingIfNeeded: v & 0xFFFF_FFFF))
    }
}

extension MergeRanks {
    /// What to do with a pair the merges list more than once.
    enum Repeats {
        /// The first (best) rank stands, as llama.cpp reads GGUF merges.
        case keepFirst
        /// Refused by name: HF's tokenizers keeps the last, so a Hub file that repeats a pair is
        /// not read rather than read differently.
        case refuse
    }

    /// The ranks of "left right" merges (rank = position in the list) over `index`'s tokens.
    init(merges: [String], index: [TokenText: Int], repeated: Repeats) throws(TokenizerError) {
        var table: [UInt64: UInt64] = [:]
        table.reserveCapacity(merges.count)
        for (rank, merge) in merges.enumerated() {
            let field = "merges[\(rank)]"
            // Split on the first space byte: a Character search would miss a space that a
            // combining mark after it joins into one grapheme.
            let utf8 = Array(merge.utf8)
            guard let space = utf8.firstIndex(of: 0x20) else {
                throw TokenizerError(.malformed, field: field, expected: "two tokens separated by a space", found: "\"\(merge)\"")
            }
            let left = String(decoding: utf8[..<space], as: UTF8.self)
            let right = String(decoding: utf8[(space + 1)...], as: UTF8.self)
            guard let l = index[TokenText(left)] else {
                throw TokenizerError(.unknownToken, field: field, expected: "a merge of two vocabulary tokens", found: "\"\(merge)\" (no token \"\(left)\")")
            }
            guard let r = index[TokenText(right)] else {
                throw TokenizerError(.unknownToken, field: field, expected: "a merge of two vocabulary tokens", found: "\"\(merge)\" (no token \"\(right)\")")
            }
            guard let m = index[TokenText(left + right)] else {
                throw TokenizerError(.unknownToken, field: field, expected: "a merge whose result is a vocabulary token", found: "\"\(merge)\" (no token \"\(left + right)\")")
            }
            let key = UInt64(l) << 32 | UInt64(r)
            if let first = table[key] {
                if repeated == .refuse {
                    throw TokenizerError(.malformed, field: field, expected: "each pair merged once", found: "\"\(merge)\", already merges[\(first >> 32)]")
                }
                continue
            }
            table[key] = UInt64(rank) << 32 | UInt64(m)
        }
        self.init(table: table)
    }
}

struct ByteLevelBPE: Sendable {
    let pre: PreTokenizer
    let ranks: MergeRanks
    /// The token of each byte's character, or -1.
    let byteTokens: [Int32]
    let unknownID: Int32

    init(tokens: [String], index: [TokenText: Int], merges: [String], pre: PreTokenizer, unknownID: Int?) throws(TokenizerError) {
        self.pre = pre
        self.unknownID = Int32(unknownID ?? -1)
        byteTokens = ByteLevelAlphabet.scalarOfByte.map { s in index[TokenText(String(s))].map { Int32($0) } ?? -1 }
        ranks = try MergeRanks(merges: merges, index: index, repeated: .keepFirst)
    }

    /// Per-`encode` memo of the ids of each piece already seen.
    struct Cache {
        /// Pieces of up to 7 bytes, packed with their length in the top byte.
        var short: [UInt64: [Int32]] = [:]
        var long: [[UInt8]: [Int32]] = [:]
    }

    /// Encodes `bytes[range]`, a run of text with no special token in it.
    func encode(_ bytes: [UInt8], _ range: Range<Int>, cache: inout Cache, into out: inout [Int]) {
        let text = ScalarRun(bytes, range)
        var ends: [Int] = []
        ends.reserveCapacity(text.scalars.count / 3 + 1)
        pre.split(text.scalars, text.classes, 0, text.scalars.count, into: &ends)
        var start = 0
        for end in ends {
            let lo = text.offsets[start], hi = text.offsets[end]
            start = end
            let ids = piece(bytes, lo..<hi, cache: &cache)
            for id in ids { out.append(Int(id)) }
        }
    }

    private func piece(_ bytes: [UInt8], _ r: Range<Int>, cache: inout Cache) -> [Int32] {
        if r.count <= 7 {
            var key = UInt64(r.count) << 56
            for (k, i) in r.enumerated() { key |= UInt64(bytes[i]) << (8 * UInt64(k)) }
            if let hit = cache.short[key] { return hit }
            let ids = merge(bytes[r])
            cache.short[key] = ids
            return ids
        }
        let key = Array(bytes[r])
        if let hit = cache.long[key] { return hit }
        let ids = merge(bytes[r])
        cache.long[key] = ids
        return ids
    }

    private func merge(_ piece: ArraySlice<UInt8>) -> [Int32] {
        var symbols: [Int32] = []
        symbols.reserveCapacity(piece.count)
        for b in piece {
            let id = byteTokens[Int(b)]
            if id >= 0 {
                symbols.append(id)
            } else if unknownID >= 0, symbols.last != unknownID {
                symbols.append(unknownID)
            }
        }
        var ranking = ranks
        applyMerges(&symbols, ranking: &ranking)
        return symbols
    }
}

/// The scalars of a run of valid UTF-8, with their classes and byte offsets (`offsets` has one
/// more entry than `scalars`: the end).
struct ScalarRun {
    var scalars: [Unicode.Scalar] = []
    var classes: [UInt8] = []
    var offsets: [Int] = []

    init(_ bytes: [UInt8], _ range: Range<Int>, classify: Bool = true) {
        scalars.reserveCapacity(range.count)
        offsets.reserveCapacity(range.count + 1)
        if classify { classes.reserveCapacity(range.count) }
        var i = range.lowerBound
        let end = range.upperBound
        while i < end {
            let b0 = UInt32(bytes[i])
            var v: UInt32
            var n: Int
            if b0 < 0x80 {
                v = b0; n = 1
            } else if b0 < 0xE0 {
                v = b0 & 0x1F; n = 2
            } else if b0 < 0xF0 {
                v = b0 & 0x0F; n = 3
            } else {
                v = b0 & 0x07; n = 4
            }
            for k in 1..<max(n, 1) where i + k < end { v = v << 6 | (UInt32(bytes[i + k]) & 0x3F) }
            let s = Unicode.Scalar(v) ?? "\u{FFFD}"
            offsets.append(i)
            scalars.append(s)
            if classify { classes.append(ScalarClass.of(s)) }
            i += n
        }
        offsets.append(end)
    }
}
