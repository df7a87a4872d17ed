import Foundation
import Linalg

/// Equality-constrained Mass Model Editing in a Transformer (Gupta et al. 2024), as
/// scalable-model-editing/unified-model-editing `emmet_main.py` computes it.
///
/// ROME's problem for a whole batch: keep the keys of ordinary text in place in the metric of
/// `C₀ = λ·C` and make every edited key hit its target exactly,
///
///     minimise tr(Δᵀ C₀ Δ)  subject to  Kᵀ(W + Δ) = KᵀW + Rᵀ      (K `[d_mlp, n]`, R `[d_model, n]`)
///
/// Lagrange gives `Δ = C₀⁻¹ K (Kᵀ C₀⁻¹ K)⁻¹ Rᵀ`, ROME's update for n = 1. The n×n matrix
/// `D = Kᵀ C₀⁻¹ K` is ill-conditioned when keys are close, so, as the reference does for n > 1,
/// `emmet_lambda · I` is added to it (the constraints then hold only approximately). MEMIT's
/// z optimisation, key averaging and spreading of the residual over `layers` are shared
/// (`MEMIT.compute` with `LayerUpdate.emmet`). A scale λ of C cancels in Δ except against the ridge.
public enum EMMET {
    /// `A = C₀⁻¹ K D⁻¹` (`[d_mlp, n]` row-major, Float64) for keys given as rows, with
    /// `C₀ = λ·C` and `D = Kᵀ C₀⁻¹ K (+ ridge·I when n > 1)`.
    public static func adjustedKeys(_ keys: [[Float]], statistics: KeyStatistics, lambda: Double, ridge: Double) throws(EditError) -> [Double] {
        let F = statistics.dimension, n = keys.count
        var c = statistics.moment.map { $0 * lambda }
        var x = [Double](repeating: 0, count: F * n)  // K, then C₀⁻¹K: F × n
        for i in 0..<n { for j in 0..<F { x[j * n + i] = Double(keys[i][j]) } }
        do {
            try c.withUnsafeMutableBufferPointer { cp throws(LinalgError) in
                try x.withUnsafeMutableBufferPointer { xp throws(LinalgError) in
                    try LAPACK.solvePositiveDefinite(n: F, rightHandSides: n, a: cp.baseAddress!, b: xp.baseAddress!)
                }
            }
        } catch {
            throw .linearAlgebra(what: "C⁻¹K at layer \(statistics.layer)", reason: error.description)
        }
        // D = Kᵀ (C₀⁻¹K): n × n, symmetric positive definite for independent keys.
        var d = [Double](repeating: 0, count: n * n)
        for a in 0..<n {
            for b in 0..<n {
                var s = 0.0
                for j in 0..<F { s += Double(keys[a][j]) * x[j * n + b] }
                d[a * n + b] = s
            }
        }
        // Symmetrise (rounding) and regularise as the reference does for batches.
        for a in 0..<n {
            for b in (a + 1)..<n {
                let m = (d[a * n + b] + d[b * n + a]) / 2
                (d[a * n + b], d[b * n + a]) = (m, m)
            }
        }
        if n > 1 { for a in 0..<n { d[a * n + a] += ridge } }
        // A = X D⁻¹ ⇔ Aᵀ = D⁻¹ Xᵀ (D symmetric): solve D Y = Xᵀ (n × F right-hand sides).
        var y = [Double](repeating: 0, count: n * F)
        for j in 0..<F { for i in 0..<n { y[i * F + j] = x[j * n + i] } }
        do {
            try d.withUnsafeMutableBufferPointer { dp throws(LinalgError) in
                try y.withUnsafeMutableBufferPointer { yp throws(LinalgError) in
                    try LAPACK.solvePositiveDefinite(n: n, rightHandSides: F, a: dp.baseAddress!, b: yp.baseAddress!)
                }
            }
        } catch {
            throw .linearAlgebra(what: "(KᵀC⁻¹K)⁻¹ at layer \(statistics.layer) (keys of the batch nearly dependent: raise emmet_lambda)", reason: error.description)
        }
        var out = [Double](repeating: 0, count: F * n)
        for j in 0..<F { for i in 0..<n { out[j * n + i] = y[i * F + j] } }
        return out
    }
}
