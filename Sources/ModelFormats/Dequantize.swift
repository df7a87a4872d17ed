// Dequantization of GGUF tensor data to Float32: the plain types (F32, F16, BF16) and ggml's
// 32-element block types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0). The 256-element K-quants live in
// DequantizeKQuants.swift. Each type has one small function whose loop follows ggml's block
// layout (ggml-common.h) and reference `dequantize_row_*` arithmetic (ggml-quants.c) in the same
// order of float operations, so results are bit-identical to ggml and to the Python `gguf`
// package (checked by Tests/ModelFormatsTests/DequantizeTests.swift).
//
// Blocks are read byte by byte or with `loadUnaligned`: tensor data is memory-mapped straight
// from the file and blocks (18, 20, 22, ... bytes) have no alignment.

#if _endian(big)
#error("GGUF tensor data is little-endian; Locus reads it in place and assumes a little-endian host.")
#endif

/// Why `dequantize(_:from:count:into:)` refused its input.
public enum DequantizeError: Error, Equatable, CustomStringConvertible {
    /// Locus has no dequantizer for this type (`GGMLType.canDequantize` is false).
    case unsupportedType(GGMLType)
    /// `count` is negative or not a whole number of the type's blocks.
    case countNotMultipleOfBlock(type: GGMLType, count: Int)
    /// `raw` does not hold exactly the bytes that `count` elements of the type need.
    case byteCountMismatch(type: GGMLType, expected: Int, found: Int)

    public var description: String {
        switch self {
        case .unsupportedType(let type):
            return "Locus cannot dequantize tensors of type \(type)"
        case .countNotMultipleOfBlock(let type, let count):
            return "\(count) elements is not a whole number of \(type) blocks (\(type.blockSize) elements each)"
        case .byteCountMismatch(let type, let expected, let found):
            return "\(type) data for this element count should be \(expected) bytes, found \(found)"
        }
    }
}

/// Dequantizes `count` elements of `type` stored in `raw` (which must hold exactly type.byteCount(elements: count) bytes) into `out`.
///
/// `out` must have room for `count` floats (it may be uninitialized). Supported types are exactly
/// those with `type.canDequantize`.
public func dequantize(_ type: GGMLType, from raw: UnsafeRawBufferPointer, count: Int, into out: UnsafeMutablePointer<Float>) throws(DequantizeError) {
    guard type.canDequantize, let blockBytes = type.typeSize else { throw .unsupportedType(type) }
    let blockSize = type.blockSize
    guard count >= 0, count % blockSize == 0 else { throw .countNotMultipleOfBlock(type: type, count: count) }
    let blocks = count / blockSize
    // An element count too large to have a byte size cannot match any buffer.
    let (product, overflow) = blocks.multipliedReportingOverflow(by: blockBytes)
    let expected = overflow ? Int.max : product
    guard raw.count == expected else { throw .byteCountMismatch(type: type, expected: expected, found: raw.count) }
    guard blocks > 0, let base = raw.baseAddress else { return }

    switch type {
    case .f32: UnsafeMutableRawPointer(out).copyMemory(from: base, byteCount: expected)
    case .f16: dequantizeF16(base, count: count, into: out)
    case .bf16: dequantizeBF16(base, count: count, into: out)
    case .q4_0: forEachBlock(base, blocks, blockBytes, blockSize, out, dequantizeQ4_0(block:into:))
    case .q4_1: forEachBlock(base, blocks, blockBytes, blockSize, out, dequantizeQ4_1(block:into:))
    case .q5_0: forEachBlock(base, blocks, blockBytes, blockSize, out, dequantizeQ5_0(block:into:))
    case .q5_1: forEachBlock(base, blocks, blockBytes, blockSize, out, dequantizeQ5_1(block:into:))
    case .q8_0: forEachBlock(base, blocks, blockBytes, blockSize, out, dequantizeQ8_0(block:into:))
    case .q2_K: forEachBlock(base, blocks, blockBytes, blockSize, out, dequantizeQ2_K(block:into:))
    case .q3_K: forEachBlock(base, blocks, blockBytes, blockSize, out, dequantizeQ3_K(block:into:))
    case .q4_K: forEachBlock(base, blocks, blockBytes, blockSize, out, dequantizeQ4_K(block:into:))
    case .q5_K: forEachBlock(base, blocks, blockBytes, blockSize, out, dequantizeQ5_K(block:into:))
    case .q6_K: forEachBlock(base, blocks, blockBytes, blockSize, out, dequantizeQ6_K(block:into:))
    case .q8_K: forEachBlock(base, blocks, blockBytes, blockSize, out, dequantizeQ8_K(block:into:))
    default: throw .unsupportedType(type)  // unreachable while canDequantize matches the cases above
    }
}

/// Calls `body` for each block: its bytes and where its `blockSize` floats go.
@inline(__always)
private func forEachBlock(
    _ base: UnsafeRawPointer, _ blocks: Int, _ blockBytes: Int, _ blockSize: Int, _ out: UnsafeMutablePointer<Float>,
    _ body: (UnsafeRawPointer, UnsafeMutablePointer<Float>) -> Void
) {
    for b in 0..<blocks {
        body(base + b * blockBytes, out + b * blockSize)
    }
}

// MARK: - Reading block fields

/// The byte at `offset`.
@inline(__always)
func loadU8(_ p: UnsafeRawPointer, at offset: Int) -> UInt8 {
    p.load(fromByteOffset: offset, as: UInt8.self)
}

/// The little-endian IEEE half at `offset`, widened (exactly) to Float.
@inline(__always)
func loadHalf(_ p: UnsafeRawPointer, at offset: Int) -> Float {
    Float(Float16(bitPattern: UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))))
}

// MARK: - Plain types

/// F16: IEEE half per element (eight at a time through F16C's conversion when built for it).
func dequantizeF16(_ src: UnsafeRawPointer, count: Int, into y: UnsafeMutablePointer<Float>) {
    #if arch(x86_64) && !LOCUS_F16C
    halfToFloatTable.withUnsafeBufferPointer { table in
        for i in 0..<count {
            y[i] = table[Int(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))]
        }
    }
    #else
    var i = 0
    while i + 8 <= count {
        let h = src.loadUnaligned(fromByteOffset: 2 * i, as: SIMD8<Float16>.self)
        UnsafeMutableRawPointer(y + i).storeBytes(of: SIMD8<Float>(h), as: SIMD8<Float>.self)
        i += 8
    }
    while i < count {
        y[i] = loadHalf(src, at: 2 * i)
        i += 1
    }
    #endif
}

#if arch(x86_64) && !LOCUS_F16C
/// `Float(Float16(bitPattern: h))` for every h (256 KB, built on first use). Without F16C (not in
/// Swift's default x86-64 target: `LOCUS_GENERIC_CPU=1` builds) each Float16 -> Float conversion is a
/// library call, about five times slower per element than this lookup; whole F16 tensors go through the table.
private let halfToFloatTable: [Float] = (0...0xFFFF).map { Float(Float16(bitPattern: UInt16($0))) }
#endif

/// BF16: the top 16 bits of a Float32.
func dequantizeBF16(_ src: UnsafeRawPointer, count: Int, into y: UnsafeMutablePointer<Float>) {
    for i in 0..<count {
        let bits = UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
        y[i] = Float(bitPattern: UInt32(bits) << 16)
    }
}

// MARK: - 32-element block types
//
// In all of these, byte j of the 16 packed nibble bytes holds element j in its low nibble and
// element j + 16 in its high nibble.

/// Q4_0, 18 bytes: d (f16) | qs[16] (4-bit). x = (q - 8) * d.
func dequantizeQ4_0(block: UnsafeRawPointer, into y: UnsafeMutablePointer<Float>) {
    let d = loadHalf(block, at: 0)
    let qs = block + 2
    for j in 0..<16 {
        let q = loadU8(qs, at: j)
        y[j] = Float(Int32(q & 0x0F) - 8) * d
        y[j + 16] = Float(Int32(q >> 4) - 8) * d
    }
}

/// Q4_1, 20 bytes: d (f16) | m (f16) | qs[16] (4-bit). x = q * d + m.
func dequantizeQ4_1(block: UnsafeRawPointer, into y: UnsafeMutablePointer<Float>) {
    let d = loadHalf(block, at: 0)
    let m = loadHalf(block, at: 2)
    let qs = block + 4
    for j in 0..<16 {
        let q = loadU8(qs, at: j)
        y[j] = Float(q & 0x0F) * d + m
        y[j + 16] = Float(q >> 4) * d + m
    }
}

/// Q5_0, 22 bytes: d (f16) | qh (u32: bit i = 5th bit of element i) | qs[16] (low 4 bits).
/// x = (q - 16) * d.
func dequantizeQ5_0(block: UnsafeRawPointer, into y: UnsafeMutablePointer<Float>) {
    let d = loadHalf(block, at: 0)
    let qh = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
    let qs = block + 6
    for j in 0..<16 {
        let q = loadU8(qs, at: j)
        let lo = UInt32(q & 0x0F) | ((qh >> UInt32(j)) & 1) << 4
        let hi = UInt32(q >> 4) | ((qh >> UInt32(j + 16)) & 1) << 4
        y[j] = Float(Int32(lo) - 16) * d
        y[j + 16] = Float(Int32(hi) - 16) * d
    }
}

/// Q5_1, 24 bytes: d (f16) | m (f16) | qh (u32: bit i = 5th bit of element i) | qs[16].
/// x = q * d + m.
func dequantizeQ5_1(block: UnsafeRawPointer, into y: UnsafeMutablePointer<Float>) {
    let d = loadHalf(block, at: 0)
    let m = loadHalf(block, at: 2)
    let qh = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
    let qs = block + 8
    for j in 0..<16 {
        let q = loadU8(qs, at: j)
        let lo = UInt32(q & 0x0F) | ((qh >> UInt32(j)) & 1) << 4
        let hi = UInt32(q >> 4) | ((qh >> UInt32(j + 16)) & 1) << 4
        y[j] = Float(lo) * d + m
        y[j + 16] = Float(hi) * d + m
    }
}

/// Q8_0, 34 bytes: d (f16) | qs[32] (int8). x = q * d.
func dequantizeQ8_0(block: UnsafeRawPointer, into y: UnsafeMutablePointer<Float>) {
    let d = loadHalf(block, at: 0)
    let qs = block + 2
    for j in 0..<32 {
        y[j] = Float(Int8(bitPattern: loadU8(qs, at: j))) * d
    }
}

// MARK: - Encoding (for the exporter)

/// The IEEE half nearest to `x` (ties to even; overflow gives infinity), as its bit pattern.
public func float32ToFloat16Bits(_ x: Float) -> UInt16 {
    Float16(x).bitPattern
}

/// `values` as little-endian IEEE halves (GGUF's F16 layout), 2 bytes per value.
public func encodeF16(_ values: UnsafeBufferPointer<Float>) -> [UInt8] {
    [UInt8](unsafeUninitializedCapacity: values.count * 2) { buffer, initialized in
        initialized = 0
        guard let dst = buffer.baseAddress.map(UnsafeMutableRawPointer.init) else { return }
        for i in 0..<values.count {
            dst.storeBytes(of: float32ToFloat16Bits(values[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
        }
        initialized = values.count * 2
    }
}

/// `values` quantized to Q8_0 exactly as ggml's reference `quantize_row_q8_0_ref` (and the
/// Python gguf package) do: per block of 32, d = amax / 127, q = round(x / d) with ties away
/// from zero, computed as x * (1 / d) with the Float32 d, and d stored as f16.
/// `values.count` must be a multiple of 32. Non-finite inputs give unspecified quants (no trap).
public func quantizeQ8_0(_ values: UnsafeBufferPointer<Float>) -> [UInt8] {
    precondition(values.count % 32 == 0, "Q8_0 needs a multiple of 32 values, got \(values.count)")
    let blocks = values.count / 32
    return [UInt8](unsafeUninitializedCapacity: blocks * 34) { buffer, initialized in
        initialized = 0
        guard blocks > 0, let dst = buffer.baseAddress.map(UnsafeMutableRawPointer.init),
              let src = values.baseAddress else { return }
        for b in 0..<blocks {
            let x = src + 32 * b
            let block = dst + 34 * b
            var amax: Float = 0
            for j in 0..<32 { amax = max(amax, abs(x[j])) }
            let d = amax / 127
            let id: Float = d != 0 ? 1 / d : 0
            block.storeBytes(of: float32ToFloat16Bits(d).littleEndian, toByteOffset: 0, as: UInt16.self)
            for j in 0..<32 {
                let q = (x[j] * id).rounded(.toNearestOrAwayFromZero)
                let clamped: Int8 = q.isNaN ? 0 : Int8(Swift.max(-128, Swift.min(127, q)))
                block.storeBytes(of: UInt8(bitPattern: clamped), toByteOffset: 2 + j, as: UInt8.self)
            }
        }
        initialized = blocks * 34
    }
}
