import Foundation

/// The elementwise kernels' exp, sums and loads, written so that they compile to AVX2/AVX-512 code.
///
/// Two styles, chosen by what Swift's optimiser turns into vector instructions: reductions (sums, dot
/// products) use `SIMD16<Float>` arithmetic and `addProduct`, which lower to vector adds and FMAs; lane-wise
/// maps (exp, the activations) are plain loops over scalar code that LLVM's loop vectoriser widens to eight
/// or sixteen lanes. `SIMD16`'s `pointwiseMin/Max`, masks and `replace(with:where:)` are generic library calls
/// per use (measured: 15 % of a 512-token prefill), so no kernel uses them.
///
/// `expApprox` is Cody–Waite range reduction (x = n ln 2 + r, |r| ≤ ln 2 / 2, ln 2 split in two parts)
/// and a degree-7 Taylor–Horner polynomial for eʳ in FMAs, scaled by 2ⁿ through the exponent bits: within
/// a few ulp of the true value for x in [-87.34, 88.38] (results from the smallest normal float to 2.4·10³⁸;
/// VectorMathTests checks it against Float64 `exp`), 0 below, +inf above, NaN kept.
enum VectorMath {
    typealias V = SIMD16<Float>
    static let width = 16

    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }

    @inline(__always) static func expApprox(_ x: Float) -> Float {
        let lo: Float = -87.336_54, hi: Float = 88.376_26
        var xc = x < lo ? lo : x
        xc = xc > hi ? hi : xc
        // n = round(x log₂e) through the 1.5·2²³ shift: the integer sits in the low mantissa bits.
        let shift: Float = 12_582_912
        let t = shift.addingProduct(xc, 1.442_695_04)
        let n = t - shift
        // ln 2 = c1 + c2 with c1 exact in 9 bits, so n·c1 is exact for |n| ≤ 2¹⁵ (Cephes' split).
        var r = xc.addingProduct(n, -0.693_359_375)
        r = r.addingProduct(n, 2.121_944_4e-4)
        // eʳ ≈ Σ_{k≤7} rᵏ/k! for |r| ≤ 0.347 (truncation 4·10⁻⁹ relative)
        var p: Float = 1.0 / 5040
        p = Float(1.0 / 720).addingProduct(p, r)
        p = Float(1.0 / 120).addingProduct(p, r)
        p = Float(1.0 / 24).addingProduct(p, r)
        p = Float(1.0 / 6).addingProduct(p, r)
        p = Float(0.5).addingProduct(p, r)
        p = Float(1).addingProduct(p, r)
        p = Float(1).addingProduct(p, r)
        // 2ⁿ from n's bits (n ∈ [-126, 127]: a normal float)
        let scale = Float(bitPattern: (t.bitPattern &- shift.bitPattern &+ 127) &<< 23)
        var e = p * scale
        e = x < lo ? 0 : e
        e = x > hi ? .infinity : e
        return x != x ? x : e
    }

    /// exp of `n` values (`y` may be `x`).
    static func exp(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count n: Int) {
        for i in 0..<n { y[i] = expApprox(x[i]) }
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

    /// max of `n ≥ 1` values (four running maxima; NaN-free rows assumed, as softmax's are).
    @inline(__always) static func max(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var m0 = -Float.infinity, m1 = m0, m2 = m0, m3 = m0
        var i = 0
        while i + 4 <= n {
            if x[i] > m0 { m0 = x[i] }
            if x[i + 1] > m1 { m1 = x[i + 1] }
            if x[i + 2] > m2 { m2 = x[i + 2] }
            if x[i + 3] > m3 { m3 = x[i + 3] }
            i += 4
        }
        while i < n { if x[i] > m0 { m0 = x[i] }; i += 1 }
        return Swift.max(Swift.max(m0, m1), Swift.max(m2, m3))
    }
}
