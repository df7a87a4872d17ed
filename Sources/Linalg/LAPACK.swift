import CBLAS

/// A LAPACK routine that reported failure.
public struct LinalgError: Error, CustomStringConvertible, Sendable, Equatable {
    public let routine: String
    public let info: Int
    public let meaning: String
    public var description: String { "\(routine) failed (info \(info)): \(meaning)" }
}

/// Factorisations and solves in Swift terms over LAPACKE. Matrices are row-major, Float64 for
/// the statistics (covariances of MLP keys are ill-conditioned in Float32).
public enum LAPACK {
    /// Solves `A X = B` for symmetric positive-definite A (n×n) via Cholesky; B is n×nrhs, overwritten by X.
    /// A is overwritten by its Cholesky factor.
    public static func solvePositiveDefinite(
        n: Int, rightHandSides nrhs: Int, a: UnsafeMutablePointer<Double>, b: UnsafeMutablePointer<Double>
    ) throws(LinalgError) {
        try checkPositiveDefinite("dposv", LAPACKE_dposv(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "U")), Int32(n), Int32(nrhs), a, Int32(n), b, Int32(nrhs)))
    }

    /// A Cholesky routine's `info`: 0, or the leading minor that is not positive definite, or a bad argument.
    private static func checkPositiveDefinite(_ routine: String, _ info: Int32) throws(LinalgError) {
        guard info == 0 else {
            throw LinalgError(
                routine: routine, info: Int(info),
                meaning: info > 0 ? "the matrix is not positive definite (leading minor \(info))" : "argument \(-info) invalid")
        }
    }

    /// Solves `A X = B` for a general square A (n×n) by LU with partial pivoting; B is n×nrhs, overwritten by X.
    public static func solve(
        n: Int, rightHandSides nrhs: Int, a: UnsafeMutablePointer<Double>, b: UnsafeMutablePointer<Double>
    ) throws(LinalgError) {
        var pivots = [Int32](repeating: 0, count: n)
        let info = LAPACKE_dgesv(LAPACK_ROW_MAJOR, Int32(n), Int32(nrhs), a, Int32(n), &pivots, b, Int32(nrhs))
        guard info == 0 else {
            throw LinalgError(
                routine: "dgesv", info: Int(info), meaning: info > 0 ? "the matrix is singular" : "argument \(-info) invalid")
        }
    }

    /// Cholesky factor (upper triangle, `A = Uᵀ U`) in place.
    public static func cholesky(n: Int, a: UnsafeMutablePointer<Double>) throws(LinalgError) {
        try checkPositiveDefinite("dpotrf", LAPACKE_dpotrf(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "U")), Int32(n), a, Int32(n)))
    }

    /// Solves `A X = B` given the factor `U` of `A = Uᵀ U` from `cholesky` (two triangular solves); B is
    /// n×nrhs, overwritten by X.
    public static func choleskySolve(
        n: Int, rightHandSides nrhs: Int, factor: UnsafePointer<Double>, b: UnsafeMutablePointer<Double>
    ) throws(LinalgError) {
        let info = LAPACKE_dpotrs(
            LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "U")), Int32(n), Int32(nrhs), factor, Int32(n), b, Int32(nrhs))
        guard info == 0 else { throw LinalgError(routine: "dpotrs", info: Int(info), meaning: "argument \(-info) invalid") }
    }

    /// Eigen-decomposition of a symmetric matrix: eigenvalues ascending; A is overwritten by the
    /// eigenvectors (row-major, column j is the eigenvector of eigenvalue j).
    public static func symmetricEigen(n: Int, a: UnsafeMutablePointer<Double>) throws(LinalgError) -> [Double] {
        var w = [Double](repeating: 0, count: n)
        let info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "V")), Int8(UInt8(ascii: "U")), Int32(n), a, Int32(n), &w)
        guard info == 0 else {
            throw LinalgError(routine: "dsyevd", info: Int(info), meaning: "the eigen-solver did not converge")
        }
        return w
    }
}
