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

    static func apply(_ kind: Activation, _ x: Float) -> Float {
        switch kind {
        case .silu: return silu(x)
        case .geluTanh: return geluTanh(x)
        case .gelu: return gelu(x)
        }
    }

    static func derivative(_ kind: Activation, _ x: Float) -> Float {
        switch kind {
        case .silu: return siluGrad(x)
        case .geluTanh: return geluTanhGrad(x)
        case .gelu: return geluGrad(x)
        }
    }
}
