/// Keys and values of earlier tokens of one sequence, per layer, for incremental decoding.
///
/// A reference type: each forward call with the cache appends its tokens' keys and values
/// (after rotary) and advances `count`.
public final class KVCache: @unchecked Sendable {
    public let layers: Int
    public let width: Int
    public internal(set) var count = 0
    var keys: [[Float]]
    var values: [[Float]]

    public init(config: ModelConfig) {
        layers = config.nLayers
        width = config.kvWidth
        keys = Array(repeating: [], count: config.nLayers)
        values = Array(repeating: [], count: config.nLayers)
    }

    func append(layer: Int, keys k: [Float], values v: [Float], at offset: Int) {
        precondition(keys[layer].count == offset * width, "KV cache out of step at layer \(layer)")
        keys[layer].append(contentsOf: k)
        values[layer].append(contentsOf: v)
    }

    /// Forgets everything after the first `n` tokens.
    public func truncate(to n: Int) {
        precondition(n <= count)
        for l in 0..<layers {
            keys[l].removeSubrange((n * width)...)
            values[l].removeSubrange((n * width)...)
        }
        count = n
    }
}
