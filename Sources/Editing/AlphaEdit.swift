import Foundation
import Linalg

/// The state AlphaEdit (Fang et al. 2025) carries between sequential batches, per edited layer:
/// the projection `P` onto the (approximate) null space of the preserved keys, and `C_prev = Σ K Kᵀ`
/// over the keys of the edits already made.
///
/// `P = U₀ U₀ᵀ`, with `U₀` the eigenvectors of `C = E[k kᵀ]` whose eigenvalues are below
/// `nullspace_threshold` (the reference takes them from an SVD of C; for a symmetric positive
/// semi-definite C that is the eigen-decomposition, here LAPACK dsyevd). A layer's update is
/// `Δ = A Rᵀ` with
///
///     A = (P (K Kᵀ + C_prev) + α I)⁻¹ P K
///
/// so `Δ` lies in the range of P: keys the model saw in ordinary text (and earlier edits' keys,
/// through `C_prev`) are mapped as before. Products are Float32 as in the reference; the solve is
/// LAPACK's LU in Float64.
public struct AlphaEditState: Sendable, Equatable {
    public let dimension: Int
    /// Per layer, `P` (`[d_mlp, d_mlp]`, Float32, row-major).
    public var projections: [Int: [Float]]
    /// Per layer, the null-space dimension kept.
    public var nullSpaceDimension: [Int: Int]
    /// Per layer, `Σ K Kᵀ` over earlier edits.
    public var previousKeys: [Int: [Float]]

    public init(statistics: [Int: KeyStatistics], threshold: Double) throws(EditError) {
        guard let any = statistics.values.first else {
            throw .statisticsMismatch(file: "statistics", field: "layers", expected: "at least one layer", found: "none")
        }
        let F = any.dimension
        dimension = F
        projections = [:]
        nullSpaceDimension = [:]
        previousKeys = [:]
        for (l, s) in statistics {
            var a = s.moment
            let w: [Double]
            do {
                w = try a.withUnsafeMutableBufferPointer { p throws(LinalgError) in try LAPACK.symmetricEigen(n: F, a: p.baseAddress!) }
            } catch {
                throw .linearAlgebra(what: "eigen-decomposition of C at layer \(l)", reason: error.description)
            }
            let keep = w.indices.filter { w[$0] < threshold }
            // Rows of U₀ᵀ: eigenvector j is column j of the row-major result.
            var ut = [Double](repeating: 0, count: max(keep.count, 1) * F)
            for (r, j) in keep.enumerated() { for i in 0..<F { ut[r * F + i] = a[i * F + j] } }
            var p = [Double](repeating: 0, count: F * F)
            if !keep.isEmpty {
                ut.withUnsafeBufferPointer { u in
                    p.withUnsafeMutableBufferPointer { c in
                        BLAS.syrkTransposed(n: F, k: keep.count, a: u.baseAddress!, lda: F, beta: 0, c: c.baseAddress!, ldc: F)
                    }
                }
            }
            var pf = [Float](repeating: 0, count: F * F)
            for i in 0..<F { for j in i..<F { pf[i * F + j] = Float(p[i * F + j]); pf[j * F + i] = Float(p[i * F + j]) } }
            projections[l] = pf
            nullSpaceDimension[l] = keep.count
            previousKeys[l] = [Float](repeating: 0, count: F * F)
        }
    }

    /// `A = (P (K Kᵀ + C_prev) + α I)⁻¹ P K`, `[d_mlp × n]` row-major.
    func adjustedKeys(_ keys: [[Float]], layer: Int, l2: Double) throws(EditError) -> [Float] {
        let F = dimension, n = keys.count
        guard let P = projections[layer], var X = previousKeys[layer] else {
            throw .statisticsMismatch(file: "AlphaEdit state", field: "layer \(layer)", expected: "a projection for this layer", found: "none")
        }
        Self.accumulate(&X, keys: keys, dimension: F)  // X = K Kᵀ + C_prev
        let kt = keys.flatMap { $0 }  // Kᵀ, n × F row-major
        var M = [Float](repeating: 0, count: F * F)
        var PK = [Float](repeating: 0, count: F * n)
        kt.withUnsafeBufferPointer { k in
            P.withUnsafeBufferPointer { p in
                // P K = P (Kᵀ)ᵀ
                PK.withUnsafeMutableBufferPointer { pk in
                    BLAS.gemm(transposeB: true, m: F, n: n, k: F, a: p.baseAddress!, lda: F, b: k.baseAddress!, ldb: F, c: pk.baseAddress!, ldc: n)
                }
            }
        }
        P.withUnsafeBufferPointer { p in
            X.withUnsafeBufferPointer { x in
                M.withUnsafeMutableBufferPointer { m in
                    BLAS.gemm(m: F, n: F, k: F, a: p.baseAddress!, lda: F, b: x.baseAddress!, ldb: F, c: m.baseAddress!, ldc: F)
                }
            }
        }
        var a = M.map(Double.init)
        for i in 0..<F { a[i * F + i] += l2 }
        var b = PK.map(Double.init)
        do {
            try a.withUnsafeMutableBufferPointer { ap throws(LinalgError) in
                try b.withUnsafeMutableBufferPointer { bp throws(LinalgError) in
                    try LAPACK.solve(n: F, rightHandSides: n, a: ap.baseAddress!, b: bp.baseAddress!)
                }
            }
        } catch {
            throw .linearAlgebra(what: "AlphaEdit solve at layer \(layer)", reason: error.description)
        }
        return b.map { Float($0) }
    }

    /// After a batch is kept: `C_prev += K Kᵀ` with the keys read from the edited model.
    public mutating func record(keys: [Int: [[Float]]]) {
        for (l, ks) in keys {
            guard var X = previousKeys[l] else { continue }
            Self.accumulate(&X, keys: ks, dimension: dimension)
            previousKeys[l] = X
        }
    }

    /// `X += K Kᵀ` for keys given as rows (one `gemm`).
    static func accumulate(_ X: inout [Float], keys ks: [[Float]], dimension F: Int) {
        let n = ks.count
        guard n > 0 else { return }
        let kt = ks.flatMap { $0 }  // Kᵀ, n × F row-major
        kt.withUnsafeBufferPointer { k in
            X.withUnsafeMutableBufferPointer { x in
                BLAS.gemm(transposeA: true, m: F, n: F, k: n, a: k.baseAddress!, lda: F, b: k.baseAddress!, ldb: F, beta: 1, c: x.baseAddress!, ldc: F)
            }
        }
    }
}
