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

// MARK: - Whole arrays, sixteen lanes at a time

extension Activations {
    typealias V = VectorMath.V

    @inline(__always) static func silu16(_ x: V) -> V { x / (1 + VectorMath.exp16(-x)) }
    @inline(__always) static func siluGrad16(_ x: V) -> V {
        let s = 1 / (1 + VectorMath.exp16(-x))
        return s * (1 + x * (1 - s))
    }
    /// tanh(u) = 1 − 2 / (1 + e²ᵘ): ±1 where e²ᵘ under- or overflows.
    @inline(__always) static func tanh16(_ u: V) -> V { 1 - 2 / (1 + VectorMath.exp16(2 * u)) }
    @inline(__always) static func geluTanh16(_ x: V) -> V {
        let x3: V = x * x * x
        let u: V = geluC * (x + 0.044715 * x3)
        let half: V = 0.5 * x
        return half * (1 + tanh16(u))
    }
    @inline(__always) static func geluTanhGrad16(_ x: V) -> V {
        let x2: V = x * x
        let u: V = geluC * (x + 0.044715 * x2 * x)
        let t: V = tanh16(u)
        let a: V = 0.5 * (1 + t)
        let du: V = geluC * (1 + 3 * 0.044715 * x2)
        let b: V = 0.5 * x * (1 - t * t)
        return a + b * du
    }

    /// Applies `f` to `n` values sixteen at a time (the tail through a zero-padded register, so every
    /// value takes the same path wherever it sits in the array).
    @inline(__always) static func map16(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, _ f: (V) -> V) {
        var i = 0
        while i + 16 <= n {
            VectorMath.store(f(VectorMath.load(x + i)), y + i)
            i += 16
        }
        if i < n {
            var t = V()
            for j in 0..<(n - i) { t[j] = x[i + j] }
            let r = f(t)
            for j in 0..<(n - i) { y[i + j] = r[j] }
        }
    }

    /// `y = act(x)` over `n` values.
    static func apply(_ kind: Activation, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count n: Int) {
        switch kind {
        case .silu: map16(x, y, n, silu16)
        case .geluTanh: map16(x, y, n, geluTanh16)
        case .gelu: for i in 0..<n { y[i] = gelu(x[i]) }
        }
    }

    /// `y = act′(x)` over `n` values.
    static func derivative(_ kind: Activation, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count n: Int) {
        switch kind {
        case .silu: map16(x, y, n, siluGrad16)
        case .geluTanh: map16(x, y, n, geluTanhGrad16)
        case .gelu: for i in 0..<n { y[i] = geluGrad(x[i]) }
        }
    }
}
