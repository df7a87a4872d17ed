import Linalg
import Foundation

/// Elementwise MLP activations with their derivatives.
enum Activations {
    @inline(__always) static func silu(_ x: Float) -> Float { x / (1 + expf(-x)) }
    @inline(__always) static func siluGrad(_ x: Float) -> Float {
        let s = 1 / (1 + expf(-x))
        return s * (1 + x * (1 - s))
    }

    static let geluC: Float = (2 / Float.pi).squareRoot()
    /// GELU with the tanh approximation (`gelu_new`, `gelu_pytorch_tanh`).
    @inline(__always) static func geluTanh(_ x: Float) -> Float {
        0.5 * x * (1 + tanhf(geluC * (x + 0.044715 * x * x * x)))
    }
    @inline(__always) static func geluTanhGrad(_ x: Float) -> Float {
        let u = geluC * (x + 0.044715 * x * x * x)
        let t = tanhf(u)
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * geluC * (1 + 3 * 0.044715 * x * x)
    }
    /// Exact GELU, `x Φ(x)`.
    @inline(__always) static func gelu(_ x: Float) -> Float { 0.5 * x * (1 + erff(x / Float(2).squareRoot())) }
    @inline(__always) static func geluGrad(_ x: Float) -> Float {
        let cdf = 0.5 * (1 + erff(x / Float(2).squareRoot()))
        let pdf = expf(-0.5 * x * x) / (2 * Float.pi).squareRoot()
        return cdf + x * pdf
    }
}

// MARK: - Whole arrays (loops the vectoriser widens; see VectorMath)

extension Activations {
    @inline(__always) static func siluFast(_ x: Float) -> Float { x / (1 + VectorMath.expApprox(-x)) }
    @inline(__always) static func siluGradFast(_ x: Float) -> Float {
        let s = 1 / (1 + VectorMath.expApprox(-x))
        return s * (1 + x * (1 - s))
    }
    /// tanh(u) = 1 − 2 / (1 + e²ᵘ): ±1 where e²ᵘ under- or overflows.
    @inline(__always) static func tanhFast(_ u: Float) -> Float { 1 - 2 / (1 + VectorMath.expApprox(2 * u)) }
    @inline(__always) static func geluTanhFast(_ x: Float) -> Float {
        0.5 * x * (1 + tanhFast(geluC * (x + 0.044715 * x * x * x)))
    }
    @inline(__always) static func geluTanhGradFast(_ x: Float) -> Float {
        let x2 = x * x
        let t = tanhFast(geluC * (x + 0.044715 * x2 * x))
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * geluC * (1 + 3 * 0.044715 * x2)
    }

    /// `y = act(x)` over `n` values (`y` may be `x`).
    static func apply(_ kind: Activation, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count n: Int) {
        Parallel.ranges(n, minimum: 1 << 15) { r in
            switch kind {
            case .silu: for i in r { y[i] = siluFast(x[i]) }
            case .geluTanh: for i in r { y[i] = geluTanhFast(x[i]) }
            case .gelu: for i in r { y[i] = gelu(x[i]) }
            }
        }
    }

    /// `y = act′(x)` over `n` values.
    static func derivative(_ kind: Activation, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count n: Int) {
        Parallel.ranges(n, minimum: 1 << 15) { r in
            switch kind {
            case .silu: for i in r { y[i] = siluGradFast(x[i]) }
            case .geluTanh: for i in r { y[i] = geluTanhGradFast(x[i]) }
            case .gelu: for i in r { y[i] = geluGrad(x[i]) }
            }
        }
    }
}
