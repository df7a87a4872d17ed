/// How the next token is chosen during generation.
public struct Sampling: Sendable, Equatable, Codable {
    /// 0 means greedy (argmax).
    public var temperature: Float
    /// Keep only the k most likely tokens (0 = no limit).
    public var topK: Int
    /// Keep the smallest set of tokens whose probability reaches p (1 = no limit).
    public var topP: Float
    public var seed: UInt64

    public init(temperature: Float = 0, topK: Int = 0, topP: Float = 1, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.seed = seed
    }

    public static let greedy = Sampling()

    /// Picks a token from logits.
    func choose(_ logits: ArraySlice<Float>, rng: inout SplitMix64) -> Int {
        let base = logits.startIndex
        if temperature <= 0 {
            var best = base
            for i in logits.indices where logits[i] > logits[best] { best = i }
            return best - base
        }
        var order = Array(0..<logits.count).sorted { logits[base + $0] > logits[base + $1] }
        if topK > 0 { order = Array(order.prefix(topK)) }
        let m = logits[base + order[0]]
        var probs = order.map { expf((logits[base + $0] - m) / temperature) }
        let total = probs.reduce(0, +)
        probs = probs.map { $0 / total }
        if topP < 1 {
            var acc: Float = 0
            var keep = 0
            for p in probs {
                acc += p
                keep += 1
                if acc >= topP { break }
            }
            order = Array(order.prefix(keep))
            probs = Array(probs.prefix(keep))
            let t = probs.reduce(0, +)
            probs = probs.map { $0 / t }
        }
        let u = Float(rng.next() >> 40) / Float(1 << 24)
        var acc: Float = 0
        for (i, p) in probs.enumerated() {
            acc += p
            if u < acc { return order[i] }
        }
        return order[order.count - 1]
    }
}

/// A small seeded generator (SplitMix64), so sampled generation is reproducible across platforms.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A standard normal sample (Box–Muller).
    public mutating func nextGaussian() -> Float {
        let u1 = max(Double(next() >> 11) / Double(1 << 53), 1e-300)
        let u2 = Double(next() >> 11) / Double(1 << 53)
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }
}

import Foundation

extension Transformer {
    /// Generates up to `maxNewTokens` tokens after `prompt` with a KV cache, stopping early at any of `stop`.
    /// Hooks apply to every step (the prompt step first, then one call per new token).
    public func generate(
        _ prompt: [Int], maxNewTokens: Int, sampling: Sampling = .greedy, stop: Set<Int> = [], hooks: Hooks = Hooks()
    ) throws(ForwardError) -> [Int] {
        let cache = KVCache(config: config)
        var rng = SplitMix64(seed: sampling.seed)
        var out: [Int] = []
        var r = try forward([prompt], hooks: hooks, logits: .last, kvCache: cache)
        while out.count < maxNewTokens {
            let next = sampling.choose(r.logits.data[0..<config.vocabSize], rng: &rng)
            out.append(next)
            if stop.contains(next) || cache.count + 1 > config.contextLength { break }
            if out.count == maxNewTokens { break }
            r = try forward([[next]], hooks: hooks, logits: .last, kvCache: cache)
        }
        return out
    }
}
