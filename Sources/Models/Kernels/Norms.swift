import Foundation

/// RMSNorm and LayerNorm, forward and vector-Jacobian product side by side.
/// Rows of `x` (`rows × d`) are normalised independently; `w` (and `b`) have `d` entries.
enum Norms {
    /// `y = x / sqrt(mean(x²) + ε) · w`; returns 1/rms per row (saved for the backward pass).
    @discardableResult
    static func rms(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, d: Int, weight: UnsafePointer<Float>,
        epsilon: Float
    ) -> [Float] {
        var inv = [Float](repeating: 0, count: rows)
        for r in 0..<rows {
            let xr = x + r * d
            let yr = y + r * d
            var ss: Float = 0
            for i in 0..<d { ss += xr[i] * xr[i] }
            let s = 1 / (ss / Float(d) + epsilon).squareRoot()
            inv[r] = s
            for i in 0..<d { yr[i] = xr[i] * s * weight[i] }
        }
        return inv
    }

    /// Given dL/dy, accumulates dL/dx into `dx` (+=) and dL/dw into `dw` (+=, if given).
    static func rmsBackward(
        _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, rows: Int, d: Int,
        weight: UnsafePointer<Float>, inverseRMS: [Float], dWeight: UnsafeMutablePointer<Float>?
    ) {
        for r in 0..<rows {
            let xr = x + r * d, gr = dy + r * d, dxr = dx + r * d
            let s = inverseRMS[r]
            // y_i = x_i s w_i ; dx_j = s (w_j g_j) - s³/d x_j Σ_i w_i g_i x_i
            var dotv: Float = 0
            for i in 0..<d { dotv += weight[i] * gr[i] * xr[i] }
            let c = s * s * s * dotv / Float(d)
            for i in 0..<d { dxr[i] += s * weight[i] * gr[i] - c * xr[i] }
            if let dWeight { for i in 0..<d { dWeight[i] += gr[i] * xr[i] * s } }
        }
    }

    /// `y = (x - mean) / sqrt(var + ε) · w + b`; returns (mean, 1/std) per row.
    @discardableResult
    static func layer(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, d: Int, weight: UnsafePointer<Float>,
        bias: UnsafePointer<Float>?, epsilon: Float
    ) -> (mean: [Float], inverseStd: [Float]) {
        var means = [Float](repeating: 0, count: rows)
        var invs = [Float](repeating: 0, count: rows)
        for r in 0..<rows {
            let xr = x + r * d
            let yr = y + r * d
            var m: Float = 0
            for i in 0..<d { m += xr[i] }
            m /= Float(d)
            var v: Float = 0
            for i in 0..<d { let c = xr[i] - m; v += c * c }
            v /= Float(d)
            let s = 1 / (v + epsilon).squareRoot()
            means[r] = m
            invs[r] = s
            for i in 0..<d { yr[i] = (xr[i] - m) * s * weight[i] + (bias?[i] ?? 0) }
        }
        return (means, invs)
    }

    static func layerBackward(
        _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, rows: Int, d: Int,
        weight: UnsafePointer<Float>, mean: [Float], inverseStd: [Float], dWeight: UnsafeMutablePointer<Float>?,
        dBias: UnsafeMutablePointer<Float>?
    ) {
        let n = Float(d)
        for r in 0..<rows {
            let xr = x + r * d, gr = dy + r * d, dxr = dx + r * d
            let m = mean[r], s = inverseStd[r]
            // xhat = (x - m) s ; g' = g w ; dx = s (g' - mean(g') - xhat mean(g' xhat))
            var sumG: Float = 0, sumGX: Float = 0
            for i in 0..<d {
                let gw = gr[i] * weight[i]
                let xh = (xr[i] - m) * s
                sumG += gw
                sumGX += gw * xh
            }
            for i in 0..<d {
                let xh = (xr[i] - m) * s
                dxr[i] += s * (gr[i] * weight[i] - sumG / n - xh * sumGX / n)
                dWeight?[i] += gr[i] * xh
                dBias?[i] += gr[i]
            }
        }
    }
}
