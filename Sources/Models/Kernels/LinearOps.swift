import Dispatch
import Linalg

/// `y = x · W + b` for `rows` rows of `x` (row stride `W.inputs`), through BLAS, or the stored-weights
/// kernel for weights kept in their file's type.
func applyLinear(_ w: Linear, _ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
    switch w.storage {
    case .dense(let weight):
        weight.withUnsafeBufferPointer { wp in
            if rows == 1 {
                BLAS.gemv(transpose: true, rows: w.inputs, cols: w.outputs, a: wp.baseAddress!, lda: w.outputs, x: x, y: y)
            } else {
                BLAS.gemm(
                    m: rows, n: w.outputs, k: w.inputs, a: x, lda: w.inputs, b: wp.baseAddress!, ldb: w.outputs,
                    c: y, ldc: w.outputs)
            }
        }
    case .stored(let m, nil):
        let started = rows == 1 && BLAS.meter != nil ? DispatchTime.now().uptimeNanoseconds : 0
        m.timesTransposed(x, n: rows, ldx: w.inputs, into: y, ldy: w.outputs)
        if rows == 1 { BLAS.meter?.recordVector(bytes: m.byteCount, since: started) }
    case .stored(let m, let order?):
        let O = w.outputs
        let file = UnsafeMutablePointer<Float>.allocate(capacity: rows * O)
        defer { file.deallocate() }
        m.timesTransposed(x, n: rows, ldx: w.inputs, into: file, ldy: O)
        for r in 0..<rows { for (i, o) in order.enumerated() { y[r * O + o] = file[r * O + i] } }
    }
    if let bias = w.bias {
        for r in 0..<rows {
            let yr = y + r * w.outputs
            for j in 0..<w.outputs { yr[j] += bias[j] }
        }
    }
}

/// `dx = dy · Wᵀ` (`[rows, inputs]`), the input gradient of `applyLinear`.
func linearInputGradient(_ w: Linear, _ dy: [Float], rows: Int) -> [Float] {
    var dx = [Float](repeating: 0, count: rows * w.inputs)
    dy.withUnsafeBufferPointer { gp in
        dx.withUnsafeMutableBufferPointer { xp in
            switch w.storage {
            case .dense(let weight):
                weight.withUnsafeBufferPointer { wp in
                    BLAS.gemm(
                        transposeB: true, m: rows, n: w.inputs, k: w.outputs, a: gp.baseAddress!, lda: w.outputs, b: wp.baseAddress!,
                        ldb: w.outputs, c: xp.baseAddress!, ldc: w.inputs)
                }
            case .stored(let m, nil):
                m.accumulateTimes(gp.baseAddress!, n: rows, ldg: w.outputs, into: xp.baseAddress!, ldo: w.inputs)
            case .stored(let m, let order?):
                var file = [Float](repeating: 0, count: rows * w.outputs)
                for r in 0..<rows { for (i, o) in order.enumerated() { file[r * w.outputs + i] = gp[r * w.outputs + o] } }
                file.withUnsafeBufferPointer { m.accumulateTimes($0.baseAddress!, n: rows, ldg: w.outputs, into: xp.baseAddress!, ldo: w.inputs) }
            }
        }
    }
    return dx
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
