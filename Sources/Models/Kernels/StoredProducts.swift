import Dispatch
import Linalg
import ModelFormats

/// The products on weights kept in their file's type (`StoredMatrix`, rows = outputs): the one kernel
/// the forward pass, the backward pass and the read-out use for F16, BF16, Q8_0, Q4_K, … weights.
///
/// Rows are converted to Float32 a tile at a time into a scratch buffer that stays in cache and is
/// multiplied by OpenBLAS there (`x · tileᵀ`, or `g · tile` for the backward pass); with one input row
/// (decoding) each row is dotted straight from its stored blocks (`StoredMatrix.rowDots`). F32 rows
/// need no conversion: OpenBLAS reads them in place from the map.
extension StoredMatrix {
    /// Rows per converted tile: about 4 MiB of Float32 (the product on a thinner tile runs below
    /// OpenBLAS's peak), at least 64 rows.
    var tileRows: Int { Swift.min(rows, Swift.max(64, (1 << 20) / Swift.max(cols, 1))) }

    /// `y[n, rows] = x[n, cols] · Mᵀ` (row strides `ldx`, `ldy`).
    func timesTransposed(_ x: UnsafePointer<Float>, n: Int, ldx: Int, into y: UnsafeMutablePointer<Float>, ldy: Int) {
        guard n > 0, rows > 0 else { return }
        if type == .f32 {
            let m = base.assumingMemoryBound(to: Float.self)
            BLAS.gemm(transposeB: true, m: n, n: rows, k: cols, a: x, lda: ldx, b: m, ldb: cols, c: y, ldc: ldy)
            return
        }
        if n == 1 {
            // Decoding: each thread dots its own rows straight from the stored blocks (reading them is the cost).
            let parts = Swift.min(BLAS.threads, Swift.max(1, rows * cols / (1 << 16)))
            Parallel.perform(parts) { p in
                let r0 = rows * p / parts, r1 = rows * (p + 1) / parts
                rowDots(r0..<r1, x, into: y + r0)
            }
            return
        }
        forEachTile { r, tile in
            BLAS.gemm(transposeB: true, m: n, n: r.count, k: cols, a: x, lda: ldx, b: tile, ldb: cols, c: y + r.lowerBound, ldc: ldy)
        }
    }

    /// `out[n, cols] += g[n, rows] · M` (row strides `ldg`, `ldo`): the backward pass of `timesTransposed`.
    func accumulateTimes(_ g: UnsafePointer<Float>, n: Int, ldg: Int, into out: UnsafeMutablePointer<Float>, ldo: Int) {
        guard n > 0, rows > 0 else { return }
        if type == .f32 {
            let m = base.assumingMemoryBound(to: Float.self)
            BLAS.gemm(m: n, n: cols, k: rows, a: g, lda: ldg, b: m, ldb: cols, beta: 1, c: out, ldc: ldo)
            return
        }
        forEachTile { r, tile in
            BLAS.gemm(m: n, n: cols, k: r.count, a: g + r.lowerBound, lda: ldg, b: tile, ldb: cols, beta: 1, c: out, ldc: ldo)
        }
    }

    /// Converts the rows a tile at a time into one scratch buffer and hands each tile to `body`.
    private func forEachTile(_ body: (Range<Int>, UnsafePointer<Float>) -> Void) {
        let tile = tileRows
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: tile * cols)
        defer { scratch.deallocate() }
        var r = 0
        while r < rows {
            let e = Swift.min(r + tile, rows)
            convert(r..<e, into: scratch)
            body(r..<e, scratch)
            r = e
        }
    }

    /// Converts rows to Float32 on every core (the tile then feeds one threaded product).
    private func convert(_ range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        let parts = Swift.min(BLAS.threads, Swift.max(1, range.count / 8))
        if parts == 1 { return dequantizeRows(range, into: out) }
        Parallel.perform(parts) { p in
            let a = range.lowerBound + range.count * p / parts, b = range.lowerBound + range.count * (p + 1) / parts
            dequantizeRows(a..<b, into: out + (a - range.lowerBound) * cols)
        }
    }
}

extension RowMatrix {
    /// `y[n, rows] = x[n, cols] · Mᵀ` (the unembedding's logits), Float32 or in the file's type.
    public func timesTransposed(_ x: UnsafePointer<Float>, n: Int, into y: UnsafeMutablePointer<Float>) {
        switch storage {
        case .dense(let v):
            v.withUnsafeBufferPointer { mp in
                if n == 1 {
                    BLAS.gemv(rows: rows, cols: cols, a: mp.baseAddress!, lda: cols, x: x, y: y)
                } else {
                    BLAS.gemm(transposeB: true, m: n, n: rows, k: cols, a: x, lda: cols, b: mp.baseAddress!, ldb: cols, c: y, ldc: rows)
                }
            }
        case .stored(let m): m.timesTransposed(x, n: n, ldx: cols, into: y, ldy: rows)
        }
    }

    /// `out[n, cols] = g[n, rows] · M` (overwrites `out`).
    public func times(_ g: UnsafePointer<Float>, n: Int, into out: UnsafeMutablePointer<Float>) {
        switch storage {
        case .dense(let v):
            v.withUnsafeBufferPointer { mp in
                BLAS.gemm(m: n, n: cols, k: rows, a: g, lda: rows, b: mp.baseAddress!, ldb: cols, c: out, ldc: cols)
            }
        case .stored(let m):
            out.update(repeating: 0, count: n * cols)
            m.accumulateTimes(g, n: n, ldg: rows, into: out, ldo: cols)
        }
    }
}
