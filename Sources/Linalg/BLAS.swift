import CBLAS
import Dispatch
import Foundation

/// Matrix products in Swift terms over OpenBLAS. All matrices are row-major Float32.
///
/// `gemm` computes `C = alpha · op(A) · op(B) + beta · C` with `op(X) = X` or `Xᵀ`, where `op(A)` is
/// m×k and `op(B)` is k×n. Leading dimensions are the row strides of the matrices as stored.
public enum BLAS {
    public static func gemm(
        transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, split: Bool = true
    ) {
        guard m > 0, n > 0 else { return }
        let parts = split ? partsFor(work: m * n * k, along: n) : 1
        let started = meter != nil ? DispatchTime.now().uptimeNanoseconds : 0
        defer { meter?.record(flops: 2 * m * n * k, split: parts > 1, since: started) }
        if parts > 1 {
            // Split the columns of C (and of op(B)) into `parts` slices, one single-threaded OpenBLAS call each.
            Parallel.perform(parts) { p in
                let j0 = n * p / parts, j1 = n * (p + 1) / parts
                let bSlice = transposeB ? b + j0 * ldb : b + j0
                gemmSerial(transposeA, transposeB, m, j1 - j0, k, alpha, a, lda, bSlice, ldb, beta, c + j0, ldc)
            }
            return
        }
        gemmSerial(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    }

    private static func gemmSerial(
        _ transposeA: Bool, _ transposeB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float, _ a: UnsafePointer<Float>,
        _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int, _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int
    ) {
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

    /// When set, every `gemm` is counted here (benchmarks only: it takes a lock per call).
    nonisolated(unsafe) public static var meter: GEMMMeter?

    /// `y = alpha · op(A) · x + beta · y` with A stored rows×cols.
    public static func gemv(
        transpose: Bool = false, rows: Int, cols: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        x: UnsafePointer<Float>, beta: Float = 0, y: UnsafeMutablePointer<Float>
    ) {
        guard rows > 0, cols > 0 else { return }
        let started = meter != nil ? DispatchTime.now().uptimeNanoseconds : 0
        defer { meter?.recordVector(bytes: 4 * rows * cols, since: started) }
        let outputs = transpose ? cols : rows
        let parts = partsFor(work: rows * cols * 8, along: outputs)
        if parts > 1 {
            // Split the outputs into slices, one single-threaded OpenBLAS call each (streams memory on every core),
            // on threads that spin between products rather than sleep (decoding runs hundreds per token).
            Parallel.perform(parts) { p in
                let o0 = outputs * p / parts, o1 = outputs * (p + 1) / parts
                if transpose {
                    cblas_sgemv(CblasRowMajor, CblasTrans, Int32(rows), Int32(o1 - o0), alpha, a + o0, Int32(lda), x, 1, beta, y + o0, 1)
                } else {
                    cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(o1 - o0), Int32(cols), alpha, a + o0 * lda, Int32(lda), x, 1, beta, y + o0, 1)
                }
            }
            return
        }
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
        let parts = partsFor(work: n * n * k / 2, along: k)
        if parts > 1 {
            // Split the rows of A (the summed-over dimension): slice 0 updates C, the others write
            // scratch matrices that are added to C's upper triangle afterwards.
            let scratch = UnsafeMutablePointer<Double>.allocate(capacity: (parts - 1) * n * n)
            defer { scratch.deallocate() }
            Parallel.perform(parts) { p in
                let r0 = k * p / parts, r1 = k * (p + 1) / parts
                let (out, ld, b) = p == 0 ? (c, ldc, beta) : (scratch + (p - 1) * n * n, n, 0.0)
                cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(n), Int32(r1 - r0), alpha, a + r0 * lda, Int32(lda), b, out, Int32(ld))
            }
            for p in 1..<parts {
                let s = scratch + (p - 1) * n * n
                for i in 0..<n { for j in i..<n { c[i * ldc + j] += s[i * n + j] } }
            }
            return
        }
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(n), Int32(k), alpha, a, Int32(lda), beta, c, Int32(ldc))
    }

    /// `y += alpha · x`.
    public static func axpy(count: Int, alpha: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        cblas_saxpy(Int32(count), alpha, x, 1, y, 1)
    }

    public static func dot(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
        cblas_sdot(Int32(count), x, 1, y, 1)
    }

    /// Number of threads matrix products use: either Locus runs OpenBLAS single-threaded and splits
    /// each large product into this many column slices computed concurrently (`splitsProducts`), or
    /// OpenBLAS threads each product itself.
    public static var threads: Int {
        get { state.threads }
        set {
            state.threads = max(1, newValue)
            locus_blas_set_threads(Int32(state.split ? 1 : state.threads))
        }
    }

    /// True when Locus splits products itself (OpenBLAS single-threaded); false when OpenBLAS threads them.
    /// Splitting is the default: with the AVX-512 (SkylakeX) kernels on a 2-core Xeon it gave 1.5–2×
    /// OpenBLAS's threading, and on a 2-core AMD EPYC (Haswell kernels), once attention's heads ran on both
    /// cores (each product on one) and malloc kept its arrays, it gave prefill 512 755 against 531 tok/s,
    /// decoding 40.2 against 34.4, the Eiffel trace 33.8 against 38.6 s and a ROME edit 6.8 against 8.9 s
    /// (2026-12-07; OpenBLAS's threading had been ahead on that machine before those two changes).
    /// `LOCUS_BLAS_SPLIT=1` or `=0` overrides the choice.
    public static var splitsProducts: Bool {
        get { state.split }
        set {
            state.split = newValue
            locus_blas_set_threads(Int32(newValue ? 1 : state.threads))
        }
    }

    /// Products smaller than this many multiply-adds run in one call (splitting costs more than it saves).
    public static var splitThreshold = 1 << 18

    private final class State: @unchecked Sendable {
        var threads: Int
        var split: Bool
        init() {
            let env = ProcessInfo.processInfo.environment
            threads = Int(env["LOCUS_THREADS"] ?? "") ?? ProcessInfo.processInfo.activeProcessorCount
            split = env["LOCUS_BLAS_SPLIT"] != "0"
            locus_blas_set_threads(Int32(split ? 1 : threads))
        }
    }
    private static let state = State()

    static func partsFor(work: Int, along size: Int) -> Int {
        let t = state.threads
        guard state.split, t > 1, work >= splitThreshold, size >= 2 * 16 else { return 1 }
        return min(t, size / 16)
    }

    /// The kernel family OpenBLAS chose for this CPU (e.g. "Haswell", "SkylakeX"); set by OPENBLAS_CORETYPE.
    public static var coreName: String { String(cString: locus_blas_corename()) }
    public static var configuration: String { String(cString: locus_blas_config()) }
}

/// Calls, floating-point operations and seconds of `BLAS.gemm`, apart for the products Locus splits
/// across threads and those it runs in one call (too small to split: attention's per-head products).
public final class GEMMMeter: @unchecked Sendable {
    public struct Tally: Sendable, Codable {
        public var calls = 0
        public var flops = 0
        public var seconds = 0.0
        public var gflopsPerSecond: Double { seconds > 0 ? Double(flops) / seconds / 1e9 : 0 }
    }
    private let lock = NSLock()
    private var tallies = [Tally(), Tally()]
    private var vectorTally = Tally()
    private var vectorBytes = 0

    public init() {}

    func record(flops: Int, split: Bool, since start: UInt64) {
        let s = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        lock.lock()
        tallies[split ? 1 : 0].calls += 1
        tallies[split ? 1 : 0].flops += flops
        tallies[split ? 1 : 0].seconds += s
        lock.unlock()
    }

    /// A matrix–vector product (`gemv`, or a row of weights kept in their file's type) that read `bytes` of weights.
    public func recordVector(bytes: Int, since start: UInt64) {
        let s = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        lock.lock()
        vectorTally.calls += 1
        vectorTally.flops += bytes / 2
        vectorTally.seconds += s
        vectorBytes += bytes
        lock.unlock()
    }

    /// Matrix–vector products (flops counted as 2 per Float32 weight read) and the bytes of weights they read.
    public var vector: (tally: Tally, bytes: Int) { lock.lock(); defer { lock.unlock() }; return (vectorTally, vectorBytes) }

    /// Products run in one call, and products split across threads.
    public var serial: Tally { lock.lock(); defer { lock.unlock() }; return tallies[0] }
    public var split: Tally { lock.lock(); defer { lock.unlock() }; return tallies[1] }
    public func reset() { lock.lock(); tallies = [Tally(), Tally()]; vectorTally = Tally(); vectorBytes = 0; lock.unlock() }
}
