import Foundation

/// Rotary position embedding with the half-split pairing (dimension i rotates with i + dims/2),
/// as Hugging Face computes it: inverse frequencies and angles in Float32.
struct RotaryTable {
    let dims: Int
    let cos: [Float]  // [position, dims/2]
    let sin: [Float]

    init(base: Float, dims: Int, positions: Int) {
        self.dims = dims
        let half = dims / 2
        var c = [Float](repeating: 0, count: positions * half)
        var s = c
        for i in 0..<half {
            let invFreq = 1 / powf(base, Float(2 * i) / Float(dims))
            for p in 0..<positions {
                let angle = Float(p) * invFreq
                c[p * half + i] = Float(Foundation.cos(Double(angle)))
                s[p * half + i] = Float(Foundation.sin(Double(angle)))
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
        for r in 0..<rows {
            let p = positions[r]
            let cr = p * half
            for h in 0..<heads {
                let v = x + r * heads * dHead + h * dHead
                for i in 0..<half {
                    let c = cos[cr + i], s = sign * sin[cr + i]
                    let a = v[i], b = v[i + half]
                    v[i] = a * c - b * s
                    v[i + half] = b * c + a * s
                }
            }
        }
    }
}
