import Foundation

/// NumPy's legacy `RandomState`: the MT19937 generator with NumPy's integer seeding, its 53-bit doubles,
/// and its polar (Marsaglia) Gaussian that keeps the second value of each pair.
///
/// Causal tracing draws its noise from this generator so that, for the same seed, Locus corrupts the
/// subject with exactly the noise the ROME reference code draws (`numpy.random.RandomState(1).randn(...)`).
public struct NumpyRandomState: Sendable {
    private var state = [UInt32](repeating: 0, count: 624)
    private var index = 624
    private var savedGaussian: Double?

    /// `RandomState(seed)` for an integer seed in `0 ..< 2³²`.
    public init(seed: UInt32) {
        state[0] = seed
        for i in 1..<624 {
            state[i] = 1_812_433_253 &* (state[i - 1] ^ (state[i - 1] >> 30)) &+ UInt32(i)
        }
    }

    private mutating func twist() {
        for i in 0..<624 {
            let y = (state[i] & 0x8000_0000) | (state[(i + 1) % 624] & 0x7fff_ffff)
            var v = state[(i + 397) % 624] ^ (y >> 1)
            if y & 1 != 0 { v ^= 0x9908_b0df }
            state[i] = v
        }
        index = 0
    }

    /// The next 32-bit output of MT19937.
    public mutating func next32() -> UInt32 {
        if index >= 624 { twist() }
        var y = state[index]
        index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9d2c_5680
        y ^= (y << 15) & 0xefc6_0000
        y ^= y >> 18
        return y
    }

    /// `random_sample()`: a double in [0, 1) from 53 random bits.
    public mutating func nextDouble() -> Double {
        let a = Double(next32() >> 5), b = Double(next32() >> 6)
        return (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }

    /// `standard_normal()` as the legacy `randn` computes it.
    public mutating func nextGaussian() -> Double {
        if let g = savedGaussian {
            savedGaussian = nil
            return g
        }
        var x1 = 0.0, x2 = 0.0, r2 = 0.0
        repeat {
            x1 = 2 * nextDouble() - 1
            x2 = 2 * nextDouble() - 1
            r2 = x1 * x1 + x2 * x2
        } while r2 >= 1 || r2 == 0
        let f = (-2 * log(r2) / r2).squareRoot()
        savedGaussian = f * x1
        return f * x2
    }

    /// `randn(count)` in C order.
    public mutating func gaussians(_ count: Int) -> [Double] { (0..<count).map { _ in nextGaussian() } }
}
