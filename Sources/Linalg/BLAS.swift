import CBLAS

/// Matrix products in Swift terms over OpenBLAS. All matrices are row-major Float32.
///
/// `gemm` computes `C = alpha · op(A) · op(B) + beta · C` with `op(X) = X` or `Xᵀ`, where `op(A)` is
/// m×k and `op(B)` is k×n. Leading dimensions are the row strides of the matrices as stored.
public enum BLAS {
    public static func gemm(
        transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        if k == 0 {
            if beta == 0 {
                for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) }
            } else if beta != 1 {
                for i in 0..<m { for j in 0..<n { c[i * ldc + j] *= beta } }
            }
            return
        }
        cblas_sgemm(
            CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// `y = alpha · op(A) · x + beta · y` with A stored rows×cols.
    public static func gemv(
        transpose: Bool = false, rows: Int, cols: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        x: UnsafePointer<Float>, beta: Float = 0, y: UnsafeMutablePointer<Float>
    ) {
        guard rows > 0, cols > 0 else { return }
        cblas_sgemv(
            CblasRowMajor, transpose ? CblasTrans : CblasNoTrans, Int32(rows), Int32(cols), alpha, a, Int32(lda),
            x, 1, beta, y, 1)
    }

    /// Symmetric rank-k update of the upper triangle: `C = alpha · Aᵀ · A + beta · C` with A stored k×n
    /// (n×n C). Used to accumulate second moments `Σ k kᵀ` over rows of keys.
    public static func syrkTransposed(
        n: Int, k: Int, alpha: Double = 1, a: UnsafePointer<Double>, lda: Int, beta: Double = 1,
        c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        guard n > 0, k > 0 else { return }
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(n), Int32(k), alpha, a, Int32(lda), beta, c, Int32(ldc))
    }

    /// `y += alpha · x`.
    public static func axpy(count: Int, alpha: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        cblas_saxpy(Int32(count), alpha, x, 1, y, 1)
    }

    public static func dot(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
        cblas_sdot(Int32(count), x, 1, y, 1)
    }

    /// Number of threads OpenBLAS uses.
    public static var threads: Int {
        get { Int(locus_blas_threads()) }
        set { locus_blas_set_threads(Int32(max(1, newValue))) }
    }

    /// The kernel family OpenBLAS chose for this CPU (e.g. "Haswell", "SkylakeX"); set by OPENBLAS_CORETYPE.
    public static var coreName: String { String(cString: locus_blas_corename()) }
    public static var configuration: String { String(cString: locus_blas_config()) }
}
