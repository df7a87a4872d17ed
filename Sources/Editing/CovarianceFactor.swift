import Linalg

/// ROME's use of the key statistics: `C⁻¹ x`. `C = Uᵀ U` is factored once per layer (LAPACK dpotrf,
/// Float64, in the moment's own storage) and every edit at that layer then costs two triangular
/// solves (dpotrs, O(d_mlp²)). Solving from `C` each time cost a copy of `C` and an O(d_mlp³)
/// factorisation per edit — at d_mlp 14,336 (8B models) 1.6 GB and about 10 s.
public final class CovarianceFactor: Sendable {
    public let layer: Int
    public let dimension: Int
    public let tokenCount: Int
    /// Row-major `U` (upper triangle; the rest is what the moment held).
    let factor: [Double]

    /// Factors `statistics` (its moment buffer is reused when nothing else holds it).
    public init(_ statistics: consuming KeyStatistics) throws(EditError) {
        var s = statistics
        let n = s.dimension
        layer = s.layer
        dimension = n
        tokenCount = s.tokenCount
        // Σ k kᵀ over T tokens has rank at most T: below d_mlp tokens C is singular, and a Cholesky of
        // it that happens to pass on rounding would give a meaningless C⁻¹.
        guard s.tokenCount >= n else {
            throw .linearAlgebra(
                what: "C at layer \(s.layer)",
                reason: "it sums \(s.tokenCount) keys, fewer than d_mlp = \(n), so it is singular and has no inverse; "
                    + "compute the statistics over at least \(n) tokens (mom2_n_samples / --stats-tokens), the reference uses 100,000")
        }
        var m = s.moment
        s.moment = []  // m is now the only reference: factored in place
        do {
            try m.withUnsafeMutableBufferPointer { p throws(LinalgError) in try LAPACK.cholesky(n: n, a: p.baseAddress!) }
        } catch {
            throw .linearAlgebra(what: "the Cholesky factor of C at layer \(layer) (\(tokenCount) tokens)", reason: error.description)
        }
        factor = m
    }

    /// `C⁻¹ x` in Float64.
    public func solve(_ x: [Float]) throws(EditError) -> [Double] {
        precondition(x.count == dimension)
        var b = x.map(Double.init)
        do {
            try factor.withUnsafeBufferPointer { f throws(LinalgError) in
                try b.withUnsafeMutableBufferPointer { bp throws(LinalgError) in
                    try LAPACK.choleskySolve(n: dimension, rightHandSides: 1, factor: f.baseAddress!, b: bp.baseAddress!)
                }
            }
        } catch {
            throw .linearAlgebra(what: "C⁻¹k* at layer \(layer) (\(tokenCount) tokens)", reason: error.description)
        }
        return b
    }
}
