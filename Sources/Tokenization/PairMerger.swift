/// The BPE merge loop both vocabularies share: repeatedly merge the best-ranked adjacent pair of
/// symbols (ties to the leftmost) until no adjacent pair merges.
///
/// Symbols sit in a linked list over an array and candidate merges in a binary heap, so a word of
/// n symbols costs O(n log n) rather than the O(n²) of rescanning for the best pair; stale
/// candidates (whose symbols have since merged with something else) are dropped when popped.

/// How a vocabulary ranks the merge of two adjacent symbols.
protocol MergeRanking {
    /// The merge of `left` followed by `right`: the merged token, its rank (lower merges first)
    /// and a tie-break among merges of equal rank (lower first, before falling back to position).
    mutating func merge(_ left: Int32, _ right: Int32) -> (rank: UInt64, tieBreak: UInt32, merged: Int32)?
}

struct MergeCandidate {
    var rank: UInt64
    /// tieBreak << 32 | position of the left symbol.
    var order: UInt64
    var left: Int32
    var right: Int32
    var merged: Int32

    @inline(__always) var position: Int { Int(order & 0xFFFF_FFFF) }

    @inline(__always) static func precedes(_ a: MergeCandidate, _ b: MergeCandidate) -> Bool {
        a.rank != b.rank ? a.rank < b.rank : a.order < b.order
    }
}

/// Merges `symbols` (token ids) in place with `ranking`.
func applyMerges<R: MergeRanking>(_ symbols: inout [Int32], ranking: inout R) {
    let n = symbols.count
    if n < 2 { return }
    if n == 2 {
        if let m = ranking.merge(symbols[0], symbols[1]) { symbols = [m.merged] }
        return
    }
    var next = [Int32](unsafeUninitializedCapacity: n) { buf, count in
        for i in 0..<n { buf[i] = Int32(i + 1) }
        buf[n - 1] = -1
        count = n
    }
    var prev = [Int32](unsafeUninitializedCapacity: n) { buf, count in
        for i in 0..<n { buf[i] = Int32(i - 1) }
        count = n
    }
    var heap = MergeHeap()
    heap.reserve(n)

    func candidate(_ ranking: inout R, _ l: Int, _ left: Int32, _ right: Int32) -> MergeCandidate? {
        guard let m = ranking.merge(left, right) else { return nil }
        return MergeCandidate(
            rank: m.rank, order: UInt64(m.tieBreak) << 32 | UInt64(l), left: left, right: right, merged: m.merged)
    }

    for i in 0..<(n - 1) {
        if let c = candidate(&ranking, i, symbols[i], symbols[i + 1]) { heap.push(c) }
    }
    while let c = heap.pop() {
        let l = c.position
        let r = Int(next[l])
        // Stale: the left symbol merged since (its id changed or it was absorbed, id -1), or its
        // right neighbour did.
        guard r >= 0, symbols[l] == c.left, symbols[r] == c.right else { continue }
        symbols[l] = c.merged
        symbols[r] = -1
        let after = next[r]
        next[l] = after
        if after >= 0 { prev[Int(after)] = Int32(l) }
        let before = Int(prev[l])
        if before >= 0, let p = candidate(&ranking, before, symbols[before], c.merged) { heap.push(p) }
        if after >= 0, let q = candidate(&ranking, l, c.merged, symbols[Int(after)]) { heap.push(q) }
    }
    var out: [Int32] = []
    out.reserveCapacity(n)
    var i = 0
    while i >= 0 {
        out.append(symbols[i])
        i = Int(next[i])
    }
    symbols = out
}

/// A binary min-heap of merge candidates.
struct MergeHeap {
    private var items: [MergeCandidate] = []

    mutating func reserve(_ n: Int) { items.reserveCapacity(n) }

    mutating func push(_ c: MergeCandidate) {
        items.append(c)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard MergeCandidate.precedes(items[i], items[parent]) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> MergeCandidate? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if items.isEmpty { return top }
        items[0] = last
        var i = 0
        let count = items.count
        while true {
            let l = 2 * i + 1
            if l >= count { break }
            var best = l
            let r = l + 1
            if r < count, MergeCandidate.precedes(items[r], items[l]) { best = r }
            guard MergeCandidate.precedes(items[best], items[i]) else { break }
            items.swapAt(i, best)
            i = best
        }
        return top
    }
}
