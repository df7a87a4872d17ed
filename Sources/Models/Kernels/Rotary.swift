import Foundation

/// Rotary position embedding over the first `dims` dimensions of each head, as Hugging Face computes
/// it: inverse frequencies `base^(-2i/dims) / factor_i` and angles in Float32. Pairs are `i, i + dims/2`
/// (`rotate_half`) or `2i, 2i + 1` (GPT-J's `rotate_every_two`); dimensions past `dims` pass through.
struct RotaryTable {
    let dims: Int
    let pairing: RotaryPairing
    let cos: [Float]  // [position, dims/2]
    let sin: [Float]

    /// `scale` multiplies every cosine and sine (YaRN's attention factor), so the rotated q and k.
    init(base: Float, dims: Int, positions: Int, pairing: RotaryPairing = .halfSplit, factors: [Float]? = nil, scale: Float = 1) {
        self.dims = dims
        self.pairing = pairing
        let half = dims / 2
        var c = [Float](repeating: 0, count: positions * half)
        var s = c
        for i in 0..<half {
            var invFreq = 1 / powf(base, Float(2 * i) / Float(dims))
            if let factors { invFreq /= factors[i] }
            for p in 0..<positions {
                let angle = Float(p) * invFreq
                c[p * half + i] = Float(Foundation.cos(Double(angle))) * scale
                s[p * half + i] = Float(Foundation.sin(Double(angle))) * scale
            }
        }
        cos = c
        sin = s
    }

    /// Rotates `heads` vectors of width `dHead` in each row (`row = x + r*stride`), row r at `positions[r]`.
    /// With `inverse`, applies the transpose rotation (the backward pass of the forward rotation).
    func apply(
        _ x: UnsafeMutablePointer<Float>, rows: Int, heads: Int, dHead: Int, positions: [Int], inverse: Bool = false
    ) {
        let half = dims / 2
        let sign: Float = inverse ? -1 : 1
        // Pair i's two dimensions sit `stride` apart, the first at `first * i`.
        let (first, stride) = pairing == .halfSplit ? (1, half) : (2, 1)
        for r in 0..<rows {
            let p = positions[r]
            let cr = p * half
            for h in 0..<heads {
                let v = x + r * heads * dHead + h * dHead
                for i in 0..<half {
                    let c = cos[cr + i], s = sign * sin[cr + i]
                    let ia = first * i, ib = ia + stride
                    let a = v[ia], b = v[ib]
                    v[ia] = a * c - b * s
                    v[ib] = b * c + a * s
                }
            }
        }
    }
}
