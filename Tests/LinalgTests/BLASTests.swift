import Linalg
import XCTest

/// The BLAS/LAPACK wrappers against naive loops on odd shapes.
final class BLASTests: XCTestCase {
    func naiveMatmul(_ a: [Float], _ b: [Float], m: Int, n: Int, k: Int, ta: Bool, tb: Bool) -> [Float] {
        var c = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var s: Float = 0
                for p in 0..<k {
                    let av = ta ? a[p * m + i] : a[i * k + p]
                    let bv = tb ? b[j * k + p] : b[p * n + j]
                    s += av * bv
                }
                c[i * n + j] = s
            }
        }
        return c
    }

    func testGemmAllTransposesOddShapes() {
        var rng = SystemRandomNumberGenerator()
        for (m, n, k) in [(1, 1, 1), (3, 5, 7), (17, 1, 9), (1, 33, 4), (31, 29, 37)] {
            for ta in [false, true] {
                for tb in [false, true] {
                    let a = (0..<(m * k)).map { _ in Float.random(in: -1...1, using: &rng) }
                    let b = (0..<(k * n)).map { _ in Float.random(in: -1...1, using: &rng) }
                    var c = [Float](repeating: 0, count: m * n)
                    BLAS.gemm(transposeA: ta, transposeB: tb, m: m, n: n, k: k, a: a, lda: ta ? m : k, b: b, ldb: tb ? k : n, c: &c, ldc: n)
                    let want = naiveMatmul(a, b, m: m, n: n, k: k, ta: ta, tb: tb)
                    for i in 0..<c.count { XCTAssertEqual(c[i], want[i], accuracy: 1e-4, "m\(m) n\(n) k\(k) ta\(ta) tb\(tb)") }
                }
            }
        }
    }

    /// The concurrent column split gives the same products as the naive loops (forced on small shapes).
    func testSplitProductsMatchNaive() {
        let (savedThreshold, savedThreads, savedSplit) = (BLAS.splitThreshold, BLAS.threads, BLAS.splitsProducts)
        defer { BLAS.splitThreshold = savedThreshold; BLAS.threads = savedThreads; BLAS.splitsProducts = savedSplit }
        BLAS.splitThreshold = 1
        BLAS.threads = 3
        BLAS.splitsProducts = true
        let meter = GEMMMeter()
        BLAS.meter = meter
        defer { BLAS.meter = nil }
        var rng = SystemRandomNumberGenerator()
        for (m, n, k) in [(5, 97, 13), (1, 64, 40), (33, 50, 7)] {
            for tb in [false, true] {
                let a = (0..<(m * k)).map { _ in Float.random(in: -1...1, using: &rng) }
                let b = (0..<(k * n)).map { _ in Float.random(in: -1...1, using: &rng) }
                var c = [Float](repeating: 1, count: m * n)
                BLAS.gemm(transposeB: tb, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: tb ? k : n, beta: 0.5, c: &c, ldc: n)
                let want = naiveMatmul(a, b, m: m, n: n, k: k, ta: false, tb: tb)
                for i in 0..<c.count { XCTAssertEqual(c[i], want[i] + 0.5, accuracy: 1e-4, "m\(m) n\(n) k\(k) tb\(tb)") }
            }
        }
        // The meter saw every product, each split (n ≥ 32 with the threshold at 1), with 2mnk operations.
        XCTAssertEqual(meter.split.calls, 6)
        XCTAssertEqual(meter.serial.calls, 0)
        XCTAssertEqual(meter.split.flops, 2 * 2 * (5 * 97 * 13 + 1 * 64 * 40 + 33 * 50 * 7))
        BLAS.splitsProducts = false
        var c = [Float](repeating: 0, count: 4)
        BLAS.gemm(m: 2, n: 2, k: 3, a: [1, 2, 3, 4, 5, 6], lda: 3, b: [1, 0, 0, 1, 1, 1], ldb: 2, c: &c, ldc: 2)
        XCTAssertEqual(c, [4, 5, 10, 11])
        XCTAssertEqual(meter.serial.calls, 1)
        XCTAssertEqual(meter.serial.flops, 24)
        BLAS.splitsProducts = true
        for transpose in [false, true] {
            let rows = 70, cols = 45
            let a = (0..<(rows * cols)).map { _ in Float.random(in: -1...1, using: &rng) }
            let x = (0..<(transpose ? rows : cols)).map { _ in Float.random(in: -1...1, using: &rng) }
            var y = [Float](repeating: 0, count: transpose ? cols : rows)
            BLAS.gemv(transpose: transpose, rows: rows, cols: cols, a: a, lda: cols, x: x, y: &y)
            let want = transpose
                ? naiveMatmul(x, a, m: 1, n: cols, k: rows, ta: false, tb: false)
                : naiveMatmul(a, x, m: rows, n: 1, k: cols, ta: false, tb: false)
            for i in 0..<y.count { XCTAssertEqual(y[i], want[i], accuracy: 1e-4) }
        }
        // syrk split over the summed rows: the upper triangle of beta·C + AᵀA, the lower left alone.
        for (n, k, beta) in [(7, 100, 1.0), (33, 64, 0.5), (5, 48, 0.0)] {
            let a = (0..<(k * n)).map { _ in Double.random(in: -1...1, using: &rng) }
            let c0 = (0..<(n * n)).map { _ in Double.random(in: -1...1, using: &rng) }
            var c = c0
            BLAS.syrkTransposed(n: n, k: k, a: a, lda: n, beta: beta, c: &c, ldc: n)
            for i in 0..<n {
                for j in 0..<n {
                    var want = c0[i * n + j]
                    if j >= i {
                        want *= beta
                        for r in 0..<k { want += a[r * n + i] * a[r * n + j] }
                    }
                    XCTAssertEqual(c[i * n + j], want, accuracy: 1e-10, "syrk n\(n) k\(k) beta\(beta) (\(i), \(j))")
                }
            }
        }
    }

    func testGemvMatchesGemm() {
        let rows = 13, cols = 7
        let a = (0..<(rows * cols)).map { Float($0 % 11) - 5 }
        let x = (0..<rows).map { Float($0) * 0.5 }
        var y = [Float](repeating: 0, count: cols)
        BLAS.gemv(transpose: true, rows: rows, cols: cols, a: a, lda: cols, x: x, y: &y)
        let want = naiveMatmul(x, a, m: 1, n: cols, k: rows, ta: false, tb: false)
        XCTAssertEqual(y, want)
    }

    func testPositiveDefiniteSolveAndEigen() throws {
        let n = 5
        var m = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { m[i * n + j] = 1 / Double(i + j + 1) + (i == j ? 1 : 0) } }
        let x = (0..<n).map { Double($0) - 2 }
        var b = [Double](repeating: 0, count: n)
        for i in 0..<n { for j in 0..<n { b[i] += m[i * n + j] * x[j] } }
        var a = m
        try LAPACK.solvePositiveDefinite(n: n, rightHandSides: 1, a: &a, b: &b)
        for i in 0..<n { XCTAssertEqual(b[i], x[i], accuracy: 1e-10) }

        var e = m
        let w = try LAPACK.symmetricEigen(n: n, a: &e)
        XCTAssertEqual(w, w.sorted())
        // A v = λ v for every eigenpair (column j of e)
        for j in 0..<n {
            for i in 0..<n {
                var av: Double = 0
                for p in 0..<n { av += m[i * n + p] * e[p * n + j] }
                XCTAssertEqual(av, w[j] * e[i * n + j], accuracy: 1e-10)
            }
        }
        var singular = [Double](repeating: 1, count: 4)
        var rhs = [Double](repeating: 1, count: 2)
        XCTAssertThrowsError(try LAPACK.solve(n: 2, rightHandSides: 1, a: &singular, b: &rhs))
    }

    /// The kernel family follows the measurements: SkylakeX only on Intel with AVX-512 (an AVX-512 EPYC
    /// ran faster on Haswell kernels), Haswell with AVX2, OpenBLAS's own choice otherwise.
    func testRecommendedCoreTypeFollowsVendorAndFlags() {
        let avx512 = "fpu sse2 avx avx2 fma avx512f avx512bw avx512dq avx512vl"
        func info(_ vendor: String, _ flags: String) -> String {
            "processor\t: 0\nvendor_id\t: \(vendor)\ncpu family\t: 6\nflags\t\t: \(flags)\n"
        }
        XCTAssertEqual(BLASCoreType.recommended(cpuinfo: info("GenuineIntel", avx512)), "SkylakeX")
        XCTAssertEqual(BLASCoreType.recommended(cpuinfo: info("AuthenticAMD", avx512)), "Haswell")
        XCTAssertEqual(BLASCoreType.recommended(cpuinfo: info("GenuineIntel", "fpu sse2 avx avx2 fma")), "Haswell")
        XCTAssertEqual(BLASCoreType.recommended(cpuinfo: info("AuthenticAMD", "fpu sse2 avx")), nil)
        XCTAssertEqual(BLASCoreType.recommended(cpuinfo: "no flags here"), nil)
    }
}
