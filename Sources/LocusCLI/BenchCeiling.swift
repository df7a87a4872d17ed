import Dispatch
import Foundation
import Linalg

/// This machine's limits, measured in the same run as the figure they are compared with: the GFLOP/s of
/// a large square sgemm on every core (what the matrix products could reach), and the GB/s of reading a
/// buffer far larger than the caches (what decoding, which reads every weight once per token, could reach).
struct Ceiling: Encodable {
    let sgemmGFLOPs: Double
    let readGBs: Double

    /// About half a second: best of five 2048³ products (17 GFLOP each), best of five reads of 512 MiB.
    static func measure() -> Ceiling {
        let n = 2048
        let a = [Float](repeating: 0.5, count: n * n), b = [Float](repeating: 0.25, count: n * n)
        var c = [Float](repeating: 0, count: n * n)
        var best = Double.infinity
        for _ in 0..<5 {
            let s = DispatchTime.now().uptimeNanoseconds
            BLAS.gemm(m: n, n: n, k: n, a: a, lda: n, b: b, ldb: n, c: &c, ldc: n)
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - s) / 1e9)
        }
        let gflops = 2 * Double(n * n * n) / best / 1e9
        let count = 128 << 20  // floats: 512 MiB
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: count)
        defer { buffer.deallocate() }
        buffer.initialize(repeating: 1, count: count)
        let parts = BLAS.threads
        var read = Double.infinity
        for _ in 0..<5 {
            let s = DispatchTime.now().uptimeNanoseconds
            DispatchQueue.concurrentPerform(iterations: parts) { p in
                let lo = count * p / parts, hi = count * (p + 1) / parts
                var acc = SIMD16<Float>()
                var i = lo
                while i + 16 <= hi {
                    acc += UnsafeRawPointer(buffer + i).loadUnaligned(as: SIMD16<Float>.self)
                    i += 16
                }
                if acc.sum() == -1 { print("") }  // keeps the sum alive
            }
            read = min(read, Double(DispatchTime.now().uptimeNanoseconds - s) / 1e9)
        }
        return Ceiling(sgemmGFLOPs: (gflops * 10).rounded() / 10, readGBs: (Double(count * 4) / read / 1e9 * 10).rounded() / 10)
    }
}

/// The matrix-product work of one timed job: GFLOP counted by `BLAS.gemm` (every product the engine
/// runs through OpenBLAS, whatever the weights' file type), the wall seconds, the rate, and its share of
/// the sgemm ceiling of the same run.
struct ComputeFigures: Encodable {
    let flops: Int
    let gflop: Double
    let seconds: Double
    let gflopsPerSecond: Double
    let shareOfSGEMM: Double

    init(flops: Int, seconds: Double, ceiling: Ceiling) {
        let rate = seconds > 0 ? Double(flops) / seconds / 1e9 : 0
        self.flops = flops
        gflop = (Double(flops) / 1e9 * 10).rounded() / 10
        self.seconds = (seconds * 1000).rounded() / 1000
        gflopsPerSecond = (rate * 10).rounded() / 10
        shareOfSGEMM = (rate / ceiling.sgemmGFLOPs * 1000).rounded() / 1000
    }

    /// Runs `body` with a fresh meter on every product and returns its figures.
    static func measure<T>(_ ceiling: Ceiling, _ body: () throws -> T) rethrows -> (T, ComputeFigures) {
        let meter = GEMMMeter()
        BLAS.meter = meter
        defer { BLAS.meter = nil }
        let s = DispatchTime.now().uptimeNanoseconds
        let value = try body()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - s) / 1e9
        return (value, ComputeFigures(flops: meter.split.flops + meter.serial.flops, seconds: seconds, ceiling: ceiling))
    }

    var text: String {
        String(format: "%.1f GFLOP in %.2f s: %.1f GFLOP/s, %.0f %% of sgemm", gflop, seconds, gflopsPerSecond, shareOfSGEMM * 100)
    }
}
