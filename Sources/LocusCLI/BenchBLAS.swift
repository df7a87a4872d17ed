import ArgumentParser
import Foundation
import Linalg

struct BenchBLAS: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blas",
        abstract: "GFLOP/s of the matrix products the model uses, for choosing layouts and OPENBLAS_CORETYPE.")

    @Option(help: "BLAS threads (default: all cores).") var threads: Int?
    @Flag(help: "Print JSON instead of text.") var json = false

    struct Row: Encodable {
        let name: String
        let gflops: Double
        let gigabytesPerSecond: Double
    }

    func run() throws {
        if let threads { BLAS.threads = threads }
        var rows: [Row] = []
        func time(_ reps: Int, _ body: () -> Void) -> Double {
            body()
            let s = Date()
            for _ in 0..<reps { body() }
            return Date().timeIntervalSince(s) / Double(reps)
        }
        for (inputs, outputs) in [(576, 1536), (1536, 576), (576, 49152)] {
            let w = [Float](repeating: 0.01, count: inputs * outputs)
            let x = [Float](repeating: 1, count: inputs)
            var y = [Float](repeating: 0, count: outputs)
            // [in, out] layout: y = Wᵀ x  (row-major, transposed)
            let t1 = time(50) { BLAS.gemv(transpose: true, rows: inputs, cols: outputs, a: w, lda: outputs, x: x, y: &y) }
            // [out, in] layout: y = W x (row-major, not transposed)
            let t2 = time(50) { BLAS.gemv(transpose: false, rows: outputs, cols: inputs, a: w, lda: inputs, x: x, y: &y) }
            let flops = 2.0 * Double(inputs * outputs), bytes = 4.0 * Double(inputs * outputs)

            rows.append(Row(name: "gemv [in=\(inputs),out=\(outputs)] stored [in,out]", gflops: flops / t1 / 1e9, gigabytesPerSecond: bytes / t1 / 1e9))
            rows.append(Row(name: "gemv [in=\(inputs),out=\(outputs)] stored [out,in]", gflops: flops / t2 / 1e9, gigabytesPerSecond: bytes / t2 / 1e9))
        }
        // The same products streamed from memory, as in decoding: 64 different matrices in turn (far beyond the caches).
        for (inputs, outputs) in [(576, 1536), (1536, 576)] {
            let copies = 64, size = inputs * outputs
            let w = [Float](repeating: 0.01, count: copies * size)
            let x = [Float](repeating: 1, count: inputs)
            var y = [Float](repeating: 0, count: outputs)
            let t1 = time(4) {
                w.withUnsafeBufferPointer { wp in
                    for c in 0..<copies { BLAS.gemv(transpose: true, rows: inputs, cols: outputs, a: wp.baseAddress! + c * size, lda: outputs, x: x, y: &y) }
                }
            } / Double(copies)
            let t2 = time(4) {
                w.withUnsafeBufferPointer { wp in
                    for c in 0..<copies { BLAS.gemv(transpose: false, rows: outputs, cols: inputs, a: wp.baseAddress! + c * size, lda: inputs, x: x, y: &y) }
                }
            } / Double(copies)
            let flops = 2.0 * Double(size), bytes = 4.0 * Double(size)
            rows.append(Row(name: "gemv [in=\(inputs),out=\(outputs)] stored [in,out], from memory", gflops: flops / t1 / 1e9, gigabytesPerSecond: bytes / t1 / 1e9))
            rows.append(Row(name: "gemv [in=\(inputs),out=\(outputs)] stored [out,in], from memory", gflops: flops / t2 / 1e9, gigabytesPerSecond: bytes / t2 / 1e9))
        }
        for (m, k, n) in [(128, 576, 1536), (128, 1536, 576), (16, 576, 1536), (512, 576, 1536), (128, 64, 128)] {
            let a = [Float](repeating: 0.5, count: m * k)
            let b = [Float](repeating: 0.5, count: k * n)
            var c = [Float](repeating: 0, count: m * n)
            let t1 = time(20) { BLAS.gemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: &c, ldc: n) }
            let t2 = time(20) { BLAS.gemm(transposeB: true, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: k, c: &c, ldc: n) }
            let flops = 2.0 * Double(m * n * k)
            rows.append(Row(name: "gemm \(m)x\(k)x\(n) B [k,n]", gflops: flops / t1 / 1e9, gigabytesPerSecond: 0))
            rows.append(Row(name: "gemm \(m)x\(k)x\(n) B [n,k]ᵀ", gflops: flops / t2 / 1e9, gigabytesPerSecond: 0))
        }
        if json { return try printJSON(rows) }
        print("OpenBLAS core \(BLAS.coreName), \(BLAS.threads) threads, \(BLAS.splitsProducts ? "split by Locus" : "threaded by OpenBLAS")")
        for r in rows { print(String(format: "%8.1f GFLOP/s %7.1f GB/s  ", r.gflops, r.gigabytesPerSecond) + r.name) }
    }
}
