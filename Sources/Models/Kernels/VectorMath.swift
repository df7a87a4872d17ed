import Foundation

/// Sixteen lanes at a time: the elementwise kernels' exp, sums and loads (AVX2/AVX-512 registers).
///
/// `exp16` is Cody–Waite range reduction (x = n ln 2 + r, |r| ≤ ln 2 / 2, ln 2 split in two parts)
/// and a degree-7 Taylor–Horner polynomial for eʳ, scaled by 2ⁿ through the exponent bits: within a few
/// ulp of the true value for x in [-87.34, 88.38] (results from the smallest normal float to 2.4·10³⁸;
/// VectorMathTests checks it against Float64 `exp`), 0 below, +inf above, NaN kept.
enum VectorMath {
    typealias V = SIMD16<Float>
    static let width = 16

    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
    @inline(__always) static func store(_ v: V, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self) }

    @inline(__always) static func exp16(_ x: V) -> V {
        let log2e: Float = 1.442_695_04
        // ln 2 = c1 + c2 with c1 exact in 9 bits, so n·c1 is exact for |n| ≤ 2¹⁵ (Cephes' split).
        let c1: Float = 0.693_359_375, c2: Float = -2.121_944_4e-4
        let lo = V(repeating: -87.336_54), hi = V(repeating: 88.376_26)
        var xc = x.clamped(lowerBound: lo, upperBound: hi)
        xc.replace(with: 0, where: x .!= x)
        // n = round(x log₂e) through the 1.5·2²³ shift: the integer sits in the low mantissa bits.
        let shift: Float = 12_582_912
        let t = xc * log2e + shift
        let n = t - shift
        var r = xc - n * c1
        r = r - n * c2
        // eʳ ≈ Σ_{k≤7} rᵏ/k! for |r| ≤ 0.347 (truncation 4·10⁻⁹ relative)
        var p = V(repeating: 1.0 / 5040)
        p = p * r + 1.0 / 720
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        // 2ⁿ from n's bits (n ∈ [-126, 127]: a normal float)
        let nInt = unsafeBitCast(t, to: SIMD16<Int32>.self) &- Int32(bitPattern: shift.bitPattern)
        let scale = unsafeBitCast((nInt &+ 127) &<< 23, to: V.self)
        var e = p * scale
        e.replace(with: 0, where: x .< lo)
        e.replace(with: V(repeating: .infinity), where: x .> hi)
        e.replace(with: x, where: x .!= x)
        return e
    }

    /// exp of `n` values (tails through a zero-padded register, so every value takes the same path).
    static func exp(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count n: Int) {
        var i = 0
        while i + width <= n {
            store(exp16(load(x + i)), y + i)
            i += width
        }
        if i < n {
            var t = V()
            for j in 0..<(n - i) { t[j] = x[i + j] }
            let e = exp16(t)
            for j in 0..<(n - i) { y[i + j] = e[j] }
        }
    }

    /// Σ xᵢ² in sixteen partial sums (a fixed order: the same result for a row wherever it sits).
    @inline(__always) static func sumOfSquares(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var s = V()
        var i = 0
        while i + width <= n {
            let v = load(x + i)
            s.addProduct(v, v)
            i += width
        }
        var t = s.sum()
        while i < n { t += x[i] * x[i]; i += 1 }
        return t
    }

    /// Σ xᵢ in sixteen partial sums.
    @inline(__always) static func sum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var s = V()
        var i = 0
        while i + width <= n {
            s += load(x + i)
            i += width
        }
        var t = s.sum()
        while i < n { t += x[i]; i += 1 }
        return t
    }

    /// Σ aᵢ bᵢ in sixteen partial sums.
    @inline(__always) static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var s = V()
        var i = 0
        while i + width <= n {
            s.addProduct(load(a + i), load(b + i))
            i += width
        }
        var t = s.sum()
        while i < n { t += a[i] * b[i]; i += 1 }
        return t
    }

    /// max of `n ≥ 1` values (order does not matter for max; NaN-free rows assumed, as softmax's are).
    @inline(__always) static func max(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var m = V(repeating: -.infinity)
        var i = 0
        while i + width <= n {
            m = pointwiseMax(m, load(x + i))
            i += width
        }
        var t = m.max()
        while i < n { t = Swift.max(t, x[i]); i += 1 }
        return t
    }
}
