/// Finds control and user-defined tokens ("<|im_start|>", "<start_of_turn>", "\n\n", runs of
/// spaces) written literally in a text, so they become one token each before pre-tokenization.
///
/// Matching is leftmost-longest over UTF-8 bytes, as HF's added-token matcher does: at the first
/// position where any token starts, the longest token starting there wins. A trie keyed by
/// (node, byte) keeps each step one hash lookup; a token's bytes always begin on a scalar boundary,
/// so a match never splits a character.
struct SpecialTokenMatcher: Sendable {
    private var children: [UInt32: UInt32] = [:]
    /// Token id ending at each node, or -1.
    private var terminal: [Int32] = [-1]
    private var startsToken = [Bool](repeating: false, count: 256)
    /// Tokens that take the whitespace before (`lstrip`) or after (`rstrip`) them into their match, as
    /// HF's added tokens with those flags do.
    private let leftStripping: Set<Int>
    private let rightStripping: Set<Int>

    var isEmpty: Bool { terminal.count == 1 }

    /// `tokens` as (text, id); for a text given twice the first id wins. Empty texts are ignored.
    init(_ tokens: [(text: String, id: Int)], leftStripping: Set<Int> = [], rightStripping: Set<Int> = []) {
        self.leftStripping = leftStripping
        self.rightStripping = rightStripping
        for (text, id) in tokens where !text.isEmpty {
            var node: UInt32 = 0
            for b in text.utf8 {
                let key = node << 8 | UInt32(b)
                if let child = children[key] {
                    node = child
                } else {
                    let child = UInt32(terminal.count)
                    terminal.append(-1)
                    children[key] = child
                    node = child
                }
            }
            if terminal[Int(node)] < 0 { terminal[Int(node)] = Int32(id) }
            startsToken[Int(text.utf8.first!)] = true
        }
    }

    /// The longest token starting at `start`, as (id, end), or nil.
    @inline(__always) func longestMatch(_ bytes: [UInt8], at start: Int) -> (id: Int, end: Int)? {
        var node: UInt32 = 0
        var best: (id: Int, end: Int)?
        var i = start
        while i < bytes.count, let child = children[node << 8 | UInt32(bytes[i])] {
            node = child
            i += 1
            let t = terminal[Int(node)]
            if t >= 0 { best = (Int(t), i) }
        }
        return best
    }

    /// Calls `text` for each run of ordinary text (a non-empty byte range) and `token` for each
    /// special token found, in order.
    func split(_ bytes: [UInt8], text: (Range<Int>) -> Void, token: (Int) -> Void) {
        var runStart = 0
        var i = 0
        if !isEmpty {
            while i < bytes.count {
                if startsToken[Int(bytes[i])], let m = longestMatch(bytes, at: i) {
                    var start = i, end = m.end
                    if leftStripping.contains(m.id) {
                        while start > runStart, let (s, n) = Self.scalar(bytes, endingAt: start), s.properties.isWhitespace { start -= n }
                    }
                    if rightStripping.contains(m.id) {
                        while let (s, n) = Self.scalar(bytes, at: end), s.properties.isWhitespace { end += n }
                    }
                    if runStart < start { text(runStart..<start) }
                    token(m.id)
                    i = end
                    runStart = i
                } else {
                    i += 1
                }
            }
        }
        if runStart < bytes.count { text(runStart..<bytes.count) }
    }

    /// The scalar whose UTF-8 starts at `i` and its length, or nil at the end.
    private static func scalar(_ bytes: [UInt8], at i: Int) -> (Unicode.Scalar, Int)? {
        guard i < bytes.count else { return nil }
        let b = bytes[i]
        let n = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4
        guard i + n <= bytes.count else { return nil }
        return String(decoding: bytes[i..<(i + n)], as: UTF8.self).unicodeScalars.first.map { ($0, n) }
    }

    /// The scalar whose UTF-8 ends at `end` and its length, or nil at the start.
    private static func scalar(_ bytes: [UInt8], endingAt end: Int) -> (Unicode.Scalar, Int)? {
        var i = end - 1
        while i > 0, bytes[i] & 0xC0 == 0x80 { i -= 1 }
        guard i >= 0, let (s, n) = scalar(bytes, at: i), i + n == end else { return nil }
        return (s, n)
    }
}
