import Linalg

/// `y = x · W + b` for `rows` rows of `x` (row stride `W.inputs`), through BLAS.
func applyLinear(_ w: Linear, _ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
    w.weight.withUnsafeBufferPointer { wp in
        if rows == 1 {
            BLAS.gemv(transpose: true, rows: w.inputs, cols: w.outputs, a: wp.baseAddress!, lda: w.outputs, x: x, y: y)
        } else {
            BLAS.gemm(
                m: rows, n: w.outputs, k: w.inputs, a: x, lda: w.inputs, b: wp.baseAddress!, ldb: w.outputs,
                c: y, ldc: w.outputs)
        }
    }
    if let bias = w.bias {
        for r in 0..<rows {
            let yr = y + r * w.outputs
            for j in 0..<w.outputs { yr[j] += bias[j] }
        }
    }
}

func applyLinear(_ w: Linear, _ x: [Float], rows: Int) -> [Float] {
    var y = [Float](repeating: 0, count: rows * w.outputs)
    x.withUnsafeBufferPointer { xp in
        y.withUnsafeMutableBufferPointer { yp in applyLinear(w, xp.baseAddress!, rows: rows, into: yp.baseAddress!) }
    }
    return y
}

/// The norm of a model family applied to `rows` rows of width `d`.
func applyNorm(_ n: NormWeights, kind: NormKind, epsilon: Float, _ x: [Float], rows: Int, d: Int) -> (y: [Float], stats: NormStats) {
    var y = [Float](repeating: 0, count: rows * d)
    var stats = NormStats(mean: [], inverse: [])
    x.withUnsafeBufferPointer { xp in
        y.withUnsafeMutableBufferPointer { yp in
            n.weight.withUnsafeBufferPointer { wp in
                switch kind {
                case .rms:
                    stats.inverse = Norms.rms(xp.baseAddress!, yp.baseAddress!, rows: rows, d: d, weight: wp.baseAddress!, epsilon: epsilon)
                case .layer:
                    let r: (mean: [Float], inverseStd: [Float])
                    if let b = n.bias {
                        r = b.withUnsafeBufferPointer { bp in
                            Norms.layer(xp.baseAddress!, yp.baseAddress!, rows: rows, d: d, weight: wp.baseAddress!, bias: bp.baseAddress!, epsilon: epsilon)
                        }
                    } else {
                        r = Norms.layer(xp.baseAddress!, yp.baseAddress!, rows: rows, d: d, weight: wp.baseAddress!, bias: nil, epsilon: epsilon)
                    }
                    stats = NormStats(mean: r.mean, inverse: r.inverseStd)
                }
            }
        }
    }
    return (y, stats)
}

/// Per-row statistics a norm's backward pass needs (mean is empty for RMSNorm).
struct NormStats: Sendable {
    var mean: [Float]
    var inverse: [Float]
}

@inline(__always) func add(_ a: inout [Float], _ b: [Float]) {
    precondition(a.count == b.count)
    a.withUnsafeMutableBufferPointer { ap in
        b.withUnsafeBufferPointer { bp in
            for i in 0..<ap.count { ap[i] += bp[i] }
        }
    }
}
