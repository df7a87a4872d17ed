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
            let ss = VectorMath.sumOfSquares(xr, d)
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
            var acc = VectorMath.V()
            var i = 0
            while i + 16 <= d {
                acc.addProduct(VectorMath.load(weight + i) * VectorMath.load(gr + i), VectorMath.load(xr + i))
                i += 16
            }
            var dotv = acc.sum()
            while i < d { dotv += weight[i] * gr[i] * xr[i]; i += 1 }
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
            let m = VectorMath.sum(xr, d) / Float(d)
            var c = VectorMath.V()
            var i = 0
            while i + 16 <= d {
                let u = VectorMath.load(xr + i) - m
                c.addProduct(u, u)
                i += 16
            }
            var v = c.sum()
            while i < d { let u = xr[i] - m; v += u * u; i += 1 }
            v /= Float(d)
            let s = 1 / (v + epsilon).squareRoot()
            means[r] = m
            invs[r] = s
            if let bias {
                for i in 0..<d { yr[i] = (xr[i] - m) * s * weight[i] + bias[i] }
            } else {
                for i in 0..<d { yr[i] = (xr[i] - m) * s * weight[i] }
            }
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
