import Foundation

/// GRACE's adapter on one block's down projection (Hartvigsen et al. 2023): a codebook of keys (inputs
/// of `W_out`, `d_mlp` wide) with values (`d_model` wide) and deferral radii. At every position whose key
/// lies within the radius ε of its nearest codebook key, `W_out`'s output is replaced by that key's
/// value; every other position is computed as before. The weights are never changed.
public struct Codebook: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var key: [Float]
        public var value: [Float]
        public var epsilon: Float
        /// The target tokens the entry was made for (an entry is widened for the same target, split for another).
        public var label: [Int]

        public init(key: [Float], value: [Float], epsilon: Float, label: [Int]) {
            self.key = key
            self.value = value
            self.epsilon = epsilon
            self.label = label
        }
    }

    public var entries: [Entry] = []

    public init(entries: [Entry] = []) { self.entries = entries }

    /// The nearest entry to `query` and its Euclidean distance (nil for an empty codebook).
    public func nearest(_ query: UnsafeBufferPointer<Float>) -> (index: Int, distance: Float)? {
        var best: (Int, Float)?
        for (i, e) in entries.enumerated() {
            var s: Float = 0
            e.key.withUnsafeBufferPointer { k in for j in 0..<k.count { let t = k[j] - query[j]; s += t * t } }
            let dist = s.squareRoot()
            if best == nil || dist < best!.1 { best = (i, dist) }
        }
        return best
    }

    /// Replaces the rows of `output` (`[rows, d]`) whose key row of `keys` (`[rows, F]`) is within its
    /// nearest entry's radius; returns the rows replaced.
    public func apply(keys: [Float], output: inout [Float], rows: Int) -> [Int] {
        guard let first = entries.first else { return [] }
        let F = first.key.count, d = first.value.count
        precondition(keys.count == rows * F && output.count == rows * d, "Codebook: \(keys.count) keys, \(output.count) outputs for \(rows) rows")
        var replaced: [Int] = []
        keys.withUnsafeBufferPointer { kp in
            for r in 0..<rows {
                guard let (i, dist) = nearest(UnsafeBufferPointer(rebasing: kp[(r * F)..<((r + 1) * F)])), dist <= entries[i].epsilon else { continue }
                for j in 0..<d { output[r * d + j] = entries[i].value[j] }
                replaced.append(r)
            }
        }
        return replaced
    }

    /// GRACE's update for a new edit with key `query` and target `label`, as the reference's first
    /// training iteration does it: a new entry (radius `epsilon`) when no key is within `epsilon` plus the
    /// nearest entry's radius; for a nearby key of the same target its radius grows to cover the query
    /// (`eps_expand: coverage`); for a nearby key of another target a new entry is added and the two radii
    /// are split at half their distance. Returns the entry whose value the edit trains, and `initial` is
    /// the value a new entry starts from.
    public mutating func insert(query: [Float], label: [Int], epsilon: Float, initial: [Float]) -> Int {
        guard let (i, dist) = query.withUnsafeBufferPointer({ nearest($0) }) else {
            entries.append(Entry(key: query, value: initial, epsilon: epsilon, label: label))
            return 0
        }
        if dist > epsilon + entries[i].epsilon {
            entries.append(Entry(key: query, value: initial, epsilon: epsilon, label: label))
        } else if entries[i].label != label {
            entries.append(Entry(key: query, value: initial, epsilon: epsilon, label: label))
            entries[i].epsilon = dist / 2 - 1e-5
            entries[entries.count - 1].epsilon = dist / 2
        } else if dist > entries[i].epsilon {
            entries[i].epsilon = dist
        }
        // The value trained is the nearest entry's after the update (as the reference's forward chooses it).
        return query.withUnsafeBufferPointer { nearest($0)!.index }
    }
}
