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

    var isEmpty: Bool { terminal.count == 1 }

    /// `tokens` as (text, id); for a text given twice the first id wins. Empty texts are ignored.
    init(_ tokens: [(text: String, id: Int)]) {
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
                    if runStart < i { text(runStart..<i) }
                    token(m.id)
                    i = m.end
                    runStart = i
                } else {
                    i += 1
                }
            }
        }
        if runStart < bytes.count { text(runStart..<bytes.count) }
    }
}
