// Dequantization of ggml's K-quants: super-blocks of 256 elements split into sub-blocks (16 of
// 16 elements, or 8 of 32) that each carry a small integer scale (and for some types a min),
// themselves scaled by f16 super-block factors d and dmin. Each function walks the sub-blocks in
// output order; the comments give the byte layout (ggml-common.h) and which bits feed an element.
// Float operations follow ggml's `dequantize_row_*_K` so results are bit-identical.
// Shared readers (`loadU8`, `loadHalf`) and the dispatcher are in Dequantize.swift.

/// Q2_K, 84 bytes: scales[16] | qs[64] | d (f16) | dmin (f16).
/// Sub-block k (16 elements) has scale byte k: low nibble scales d, high nibble scales dmin.
/// Its 2-bit quants are bits 2p...2p+1 of qs[32h + 16(k % 2) + i], with h = k / 8 and
/// p = (k % 8) / 2. x = (d * sc) * q - (dmin * m).
func dequantizeQ2_K(block: UnsafeRawPointer, into y: UnsafeMutablePointer<Float>) {
    let d = loadHalf(block, at: 80)
    let dmin = loadHalf(block, at: 82)
    for k in 0..<16 {
        let sc = loadU8(block, at: k)
        let dl = d * Float(sc & 0x0F)
        let ml = dmin * Float(sc >> 4)
        let qs = block + 16 + 32 * (k / 8) + 16 * (k % 2)
        let shift = UInt8(2 * ((k % 8) / 2))
        let out = y + 16 * k
        for i in 0..<16 {
            let q = (loadU8(qs, at: i) >> shift) & 3
            out[i] = dl * Float(q) - ml
        }
    }
}

/// Q3_K, 110 bytes: hmask[32] | qs[64] | scales[12] (sixteen 6-bit scales) | d (f16).
/// Sub-block k (16 elements): low 2 bits as in Q2_K (bits 2p...2p+1 of qs[32h + 16(k % 2) + i]);
/// the third bit is bit k / 2 of hmask[16(k % 2) + i], and a *clear* bit subtracts 4.
/// Scale k: low 4 bits from scales[k] (k < 8) or the high nibble of scales[k - 8]; high 2 bits
/// are bits 2(k / 4)... of scales[8 + k % 4]; the 6-bit value is offset by -32.
/// x = (d * (s - 32)) * (q - (bit ? 0 : 4)).
func dequantizeQ3_K(block: UnsafeRawPointer, into y: UnsafeMutablePointer<Float>) {
    let d = loadHalf(block, at: 108)
    for k in 0..<16 {
        let low = k < 8 ? loadU8(block, at: 96 + k) & 0x0F : loadU8(block, at: 96 + k - 8) >> 4
        let high = (loadU8(block, at: 96 + 8 + k % 4) >> UInt8(2 * (k / 4))) & 3
        let dl = d * Float(Int32(low | high << 4) - 32)
        let qs = block + 32 + 32 * (k / 8) + 16 * (k % 2)
        let hmask = block + 16 * (k % 2)
        let shift = UInt8(2 * ((k % 8) / 2))
        let hbit = UInt8(1) << UInt8(k / 2)
        let out = y + 16 * k
        for i in 0..<16 {
            let q = Int32((loadU8(qs, at: i) >> shift) & 3)
            let h = loadU8(hmask, at: i) & hbit
            out[i] = dl * Float(q - (h != 0 ? 0 : 4))
        }
    }
}

/// The 6-bit scale and min of sub-block k (0..<8) packed in the 12 `scales` bytes of Q4_K/Q5_K:
/// for k < 4 the low 6 bits of bytes k and k + 4; for k >= 4 the nibbles of byte k + 4 plus the
/// top 2 bits of bytes k - 4 and k.
@inline(__always)
func kQuantScaleMin(_ scales: UnsafeRawPointer, _ k: Int) -> (scale: UInt8, min: UInt8) {
    if k < 4 {
        return (loadU8(scales, at: k) & 63, loadU8(scales, at: k + 4) & 63)
    }
    let packed = loadU8(scales, at: k + 4)
    let scale = (packed & 0x0F) | (loadU8(scales, at: k - 4) >> 6) << 4
    let min = (packed >> 4) | (loadU8(scales, at: k) >> 6) << 4
    return (scale, min)
}

/// Q4_K, 144 bytes: d (f16) | dmin (f16) | scales[12] | qs[128].
/// Sub-block k (32 elements): 4-bit quants are the low (k even) or high (k odd) nibbles of
/// qs[32(k / 2) + i]. x = (d * sc) * q - (dmin * m).
func dequantizeQ4_K(block: UnsafeRawPointer, into y: UnsafeMutablePointer<Float>) {
    let d = loadHalf(block, at: 0)
    let dmin = loadHalf(block, at: 2)
    for k in 0..<8 {
        let (sc, m) = kQuantScaleMin(block + 4, k)
        let dl = d * Float(sc)
        let ml = dmin * Float(m)
        let qs = block + 16 + 32 * (k / 2)
        let shift = UInt8(4 * (k % 2))
        let out = y + 32 * k
        for i in 0..<32 {
            let q = (loadU8(qs, at: i) >> shift) & 0x0F
            out[i] = dl * Float(q) - ml
        }
    }
}

/// Q5_K, 176 bytes: d (f16) | dmin (f16) | scales[12] | qh[32] | qs[128].
/// Sub-block k (32 elements): low 4 bits as in Q4_K; the 5th bit is bit k of qh[i].
/// x = (d * sc) * q - (dmin * m).
func dequantizeQ5_K(block: UnsafeRawPointer, into y: UnsafeMutablePointer<Float>) {
    let d = loadHalf(block, at: 0)
    let dmin = loadHalf(block, at: 2)
    for k in 0..<8 {
        let (sc, m) = kQuantScaleMin(block + 4, k)
        let dl = d * Float(sc)
        let ml = dmin * Float(m)
        let qs = block + 48 + 32 * (k / 2)
        let qh = block + 16
        let shift = UInt8(4 * (k % 2))
        let out = y + 32 * k
        for i in 0..<32 {
            let low = (loadU8(qs, at: i) >> shift) & 0x0F
            let high = (loadU8(qh, at: i) >> UInt8(k)) & 1
            out[i] = dl * Float(low | high << 4) - ml
        }
    }
}

/// Q6_K, 210 bytes: ql[128] (low 4 bits) | qh[64] (high 2 bits) | scales[16] (int8) | d (f16).
/// Element e = 128h + 32r + l (h = half, r = quarter 0..<4, l 0..<32) takes the low (r < 2) or
/// high (r >= 2) nibble of ql[64h + 32(r % 2) + l] and bits 2r...2r+1 of qh[32h + l]; its scale
/// is scales[e / 16]. Walking sub-blocks k of 16 elements: h = k / 8, r = (k % 8) / 2,
/// l = 16(k % 2) + i. x = (d * scale) * (q - 32).
func dequantizeQ6_K(block: UnsafeRawPointer, into y: UnsafeMutablePointer<Float>) {
    let d = loadHalf(block, at: 208)
    for k in 0..<16 {
        let h = k / 8, r = (k % 8) / 2
        let dl = d * Float(Int8(bitPattern: loadU8(block, at: 192 + k)))
        let ql = block + 64 * h + 32 * (r % 2) + 16 * (k % 2)
        let qh = block + 128 + 32 * h + 16 * (k % 2)
        let lowShift = UInt8(4 * (r / 2)), highShift = UInt8(2 * r)
        let out = y + 16 * k
        for i in 0..<16 {
            let low = (loadU8(ql, at: i) >> lowShift) & 0x0F
            let high = (loadU8(qh, at: i) >> highShift) & 3
            out[i] = dl * Float(Int32(low | high << 4) - 32)
        }
    }
}

/// Q8_K, 292 bytes: d (Float32, the only K-quant with a full-precision scale) | qs[256] (int8) |
/// bsums[16] (int16 sums of 16 quants, used only by dot products). x = d * q.
func dequantizeQ8_K(block: UnsafeRawPointer, into y: UnsafeMutablePointer<Float>) {
    let d = Float(bitPattern: UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 0, as: UInt32.self)))
    let qs = block + 4
    for j in 0..<256 {
        y[j] = d * Float(Int8(bitPattern: loadU8(qs, at: j)))
    }
}
