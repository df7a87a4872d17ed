// Dot products of stored rows with one Float32 vector, read straight from the file's blocks: the
// matrix–vector product of decoding, where reading the weights is the whole cost. F16, BF16 and
// Q8_0 are converted in registers, eight lanes at a time, and never written out. Q4_0 and Q4_1
// first split a row's nibbles into bytes in an L1 buffer, then take them from there as Q8_0's bytes
// (see `dotQ4`); their offsets (m, or −8d) multiply the block's
// Σx, computed once per vector. The K-quants go through `dequantize` 256 values at a time. Sums run
// in a different order from "dequantize, then dot", so results agree with it to rounding
// (Tests/ModelFormatsTests/RowDotsTests.swift), not bit for bit.

extension StoredMatrix {
    /// `y[i - range.lowerBound] = row(i) · x` for the rows `range` (`x` has `cols` floats).
    public func rowDots(_ range: Range<Int>, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        guard !range.isEmpty else { return }
        let blocks = cols / type.blockSize
        func each(_ dot: (UnsafeRawPointer) -> Float) {
            for (k, r) in range.enumerated() { y[k] = dot(base + r * rowBytes) }
        }
        switch type {
        case .f32: each { dotF32($0.assumingMemoryBound(to: Float.self), x, cols) }
        case .f16: each { dotF16($0, x, cols) }
        case .bf16: each { dotBF16($0, x, cols) }
        case .q8_0: each { dotQ8_0($0, x, blocks) }
        case .q4_0, .q4_1:
            let sums = UnsafeMutablePointer<Float>.allocate(capacity: blocks)
            defer { sums.deallocate() }
            for b in 0..<blocks { sums[b] = dotF32(x + 32 * b, ones, 32) }
            let scratch = Q4Scratch(blocks: blocks)
            defer { scratch.deallocate() }
            if type == .q4_1 {
                each { dotQ4(row: $0, x, sums, blocks, blockBytes: 20, codesAt: 4, minimum: { loadHalf($0, at: 2) }, scratch) }
            } else {
                each { dotQ4(row: $0, x, sums, blocks, blockBytes: 18, codesAt: 2, minimum: { -8 * loadHalf($0, at: 0) }, scratch) }
            }
        default:
            let chunk = 256  // a whole number of blocks of every type (32 or 256 values)
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: chunk)
            defer { scratch.deallocate() }
            let chunkBytes = type.byteCount(elements: chunk)!
            each { row in
                var s: Float = 0
                var c = 0
                while c < cols {
                    let n = Swift.min(chunk, cols - c)
                    let bytes = UnsafeRawBufferPointer(start: row + c / chunk * chunkBytes, count: type.byteCount(elements: n)!)
                    try! dequantize(type, from: bytes, count: n, into: scratch)
                    s += dotF32(scratch, x + c, n)
                    c += n
                }
                return s
            }
        }
    }
}

// MARK: - Eight lanes at a time

@inline(__always) private func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

/// Eight signed bytes as floats (one sign-extension and one conversion with AVX2).
@inline(__always) private func int8x8(_ q: UnsafeRawPointer) -> SIMD8<Float> {
    let p = q.assumingMemoryBound(to: Int8.self)
    var v = SIMD8<Float>()
    for j in 0..<8 { v[j] = Float(p[j]) }
    return v
}

func dotF32(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var s0 = SIMD8<Float>(), s1 = SIMD8<Float>()
    var i = 0
    while i + 16 <= n {
        s0.addProduct(load8(a + i), load8(b + i))
        s1.addProduct(load8(a + i + 8), load8(b + i + 8))
        i += 16
    }
    var s = (s0 + s1).sum()
    while i < n { s += a[i] * b[i]; i += 1 }
    return s
}

private func dotF16(_ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ n: Int) -> Float {
    var s0 = SIMD8<Float>(), s1 = SIMD8<Float>()
    var i = 0
    while i + 16 <= n {
        let h0 = row.loadUnaligned(fromByteOffset: 2 * i, as: SIMD8<Float16>.self)
        let h1 = row.loadUnaligned(fromByteOffset: 2 * i + 16, as: SIMD8<Float16>.self)
        s0.addProduct(SIMD8<Float>(h0), load8(x + i))
        s1.addProduct(SIMD8<Float>(h1), load8(x + i + 8))
        i += 16
    }
    var s = (s0 + s1).sum()
    while i < n { s += loadHalf(row, at: 2 * i) * x[i]; i += 1 }
    return s
}

private func dotBF16(_ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ n: Int) -> Float {
    let p = row.assumingMemoryBound(to: UInt16.self)
    @inline(__always) func widen(_ at: Int) -> SIMD8<Float> {
        var v = SIMD8<Float>()
        for j in 0..<8 { v[j] = Float(bitPattern: UInt32(UInt16(littleEndian: p[at + j])) << 16) }
        return v
    }
    var s0 = SIMD8<Float>(), s1 = SIMD8<Float>()
    var i = 0
    while i + 16 <= n {
        s0.addProduct(widen(i), load8(x + i))
        s1.addProduct(widen(i + 8), load8(x + i + 8))
        i += 16
    }
    var s = (s0 + s1).sum()
    while i < n { s += Float(bitPattern: UInt32(UInt16(littleEndian: p[i])) << 16) * x[i]; i += 1 }
    return s
}

/// Thirty-two ones (a block's Σx as a dot product), allocated once for the process.
private let ones: UnsafePointer<Float> = {
    let p = UnsafeMutablePointer<Float>.allocate(capacity: 32)
    p.initialize(repeating: 1, count: 32)
    return UnsafePointer(p)
}()

/// One row's unpacked nibbles (one byte per element) and its blocks' scales and offsets, reused
/// across the rows of a `rowDots` call.
private struct Q4Scratch {
    let nibbles: UnsafeMutableRawPointer
    let scales: UnsafeMutablePointer<Float>
    let offsets: UnsafeMutablePointer<Float>
    init(blocks: Int) {
        nibbles = .allocate(byteCount: 32 * blocks, alignment: 64)
        scales = .allocate(capacity: 2 * blocks)
        offsets = scales + blocks
    }
    func deallocate() {
        nibbles.deallocate()
        scales.deallocate()
    }
}

/// Eight bytes as floats, loaded straight into the widening conversion.
@inline(__always) private func uint8x8(_ q: UnsafeRawPointer) -> SIMD8<Float> {
    SIMD8<Float>(SIMD8<Int32>(truncatingIfNeeded: q.loadUnaligned(as: SIMD8<UInt8>.self)))
}

/// Q4_0 / Q4_1 (d, [m,] 16 bytes: element j in the low nibble of byte j, j + 16 in its high nibble;
/// x = q·d + m, with m = −8d for Q4_0): Σ_b (d_b · Σ_j q_j x_j + m_b · Σ_j x_j).
///
/// Two passes over the row. The first splits every block's nibbles into bytes and converts its d and m;
/// the second only widens, converts and multiplies. In one pass the compiler forwarded the stored
/// nibbles through byte inserts and chained each block's half-float loads to the previous block's sum
/// (a register it merged into), so a block cost about twice its conversions (perf annotate, llvm-mca).
/// What remains is bound by the conversions themselves: eight widenings and conversions per block.
@inline(__always) private func dotQ4(
    row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ sums: UnsafePointer<Float>, _ blocks: Int, blockBytes: Int, codesAt: Int,
    minimum: (UnsafeRawPointer) -> Float, _ scratch: Q4Scratch
) -> Float {
    let nibbles = scratch.nibbles, d = scratch.scales, m = scratch.offsets
    for b in 0..<blocks {
        let p = row + blockBytes * b
        let q = p.loadUnaligned(fromByteOffset: codesAt, as: SIMD4<UInt32>.self)
        nibbles.storeBytes(of: q & 0x0F0F_0F0F, toByteOffset: 32 * b, as: SIMD4<UInt32>.self)
        nibbles.storeBytes(of: (q &>> 4) & 0x0F0F_0F0F, toByteOffset: 32 * b + 16, as: SIMD4<UInt32>.self)
        d[b] = loadHalf(p, at: 0)
        m[b] = minimum(p)
    }
    var total = SIMD8<Float>()
    for b in 0..<blocks {
        let n = nibbles + 32 * b, xb = x + 32 * b
        var a = uint8x8(n) * load8(xb), c = uint8x8(n + 8) * load8(xb + 8)
        a.addProduct(uint8x8(n + 16), load8(xb + 16))
        c.addProduct(uint8x8(n + 24), load8(xb + 24))
        total.addProduct(a + c, SIMD8(repeating: d[b]))
    }
    return total.sum() + dotF32(m, sums, blocks)
}

/// Q8_0 (34-byte blocks: d, 32 int8): Σ_b d_b · Σ_j q_j x_j.
private func dotQ8_0(_ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ blocks: Int) -> Float {
    var total = SIMD8<Float>()
    for b in 0..<blocks {
        let p = row + 34 * b, q = p + 2, xb = x + 32 * b
        var a = int8x8(q) * load8(xb), c = int8x8(q + 8) * load8(xb + 8)
        a.addProduct(int8x8(q + 16), load8(xb + 16))
        c.addProduct(int8x8(q + 24), load8(xb + 24))
        total.addProduct(a + c, SIMD8(repeating: loadHalf(p, at: 0)))
    }
    return total.sum()
}
