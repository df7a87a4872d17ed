import Linalg
import Foundation

/// Row softmax in place over `cols` entries; -inf entries get probability 0.
enum Softmax {
    static func rows(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        Parallel.ranges(rows, minimum: max(1, (1 << 15) / max(1, cols))) { rs in Softmax.rows(x, rs, cols: cols) }
    }

    static func rows(_ x: UnsafeMutablePointer<Float>, _ rows: Range<Int>, cols: Int) {
        for r in rows {
            let row = x + r * cols
            let m = VectorMath.max(row, cols)
            if m == -Float.infinity {
                row.update(repeating: 0, count: cols)
                continue
            }
            for j in 0..<cols { row[j] = VectorMath.expApprox(row[j] - m) }
            let inv = 1 / VectorMath.sum(row, cols)
            for j in 0..<cols { row[j] *= inv }
        }
    }

    /// Given p = softmax(s) and dL/dp, writes dL/ds = p ⊙ (dp - Σ p dp) into `ds`.
    static func rowsBackward(
        _ p: UnsafePointer<Float>, _ dp: UnsafePointer<Float>, _ ds: UnsafeMutablePointer<Float>, rows: Int, cols: Int
    ) {
        for r in 0..<rows {
            let pr = p + r * cols, gr = dp + r * cols, dr = ds + r * cols
            var dotv: Float = 0
            for j in 0..<cols { dotv += pr[j] * gr[j] }
            for j in 0..<cols { dr[j] = pr[j] * (gr[j] - dotv) }
        }
    }

    /// log-softmax of one row, in Double for accuracy of small probabilities.
    static func logSoftmax(_ x: UnsafePointer<Float>, count: Int) -> [Float] {
        var m = -Float.infinity
        for j in 0..<count where x[j] > m { m = x[j] }
        var sum: Double = 0
        for j in 0..<count { sum += exp(Double(x[j] - m)) }
        let lse = Double(m) + log(sum)
        return (0..<count).map { Float(Double(x[$0]) - lse) }
    }
}
