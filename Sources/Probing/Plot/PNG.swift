import CDeflate
import Foundation

/// A minimal PNG encoder: 8-bit RGB, filter "none", one IDAT compressed with zlib (falling back to
/// stored deflate blocks if zlib fails), CRC-32 per chunk.
public enum PNG {
    /// PNG bytes of an RGB image (`rgb.count == width · height · 3`, rows top to bottom).
    public static func encode(width: Int, height: Int, rgb: [UInt8]) -> [UInt8] {
        precondition(rgb.count == width * height * 3 && width > 0 && height > 0, "PNG: \(rgb.count) bytes for \(width)×\(height) RGB")
        var raw = [UInt8]()
        raw.reserveCapacity(height * (width * 3 + 1))
        for y in 0..<height {
            raw.append(0)  // filter: none
            raw.append(contentsOf: rgb[(y * width * 3)..<((y + 1) * width * 3)])
        }
        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        var ihdr = bigEndian(UInt32(width)) + bigEndian(UInt32(height))
        ihdr += [8, 2, 0, 0, 0]  // bit depth 8, colour type RGB, deflate, adaptive filtering, no interlace
        chunk("IHDR", ihdr, into: &out)
        chunk("IDAT", zlibCompressed(raw) ?? zlibStored(raw), into: &out)
        chunk("IEND", [], into: &out)
        return out
    }

    /// A zlib stream compressed by zlib's deflate (nil if zlib reports an error).
    static func zlibCompressed(_ data: [UInt8]) -> [UInt8]? {
        var size = compressBound(uLong(data.count))
        var out = [UInt8](repeating: 0, count: Int(size))
        let status = data.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                compress2(dst.baseAddress, &size, src.baseAddress, uLong(data.count), locus_Z_BEST_COMPRESSION())
            }
        }
        guard status == locus_Z_OK() else { return nil }
        return Array(out.prefix(Int(size)))
    }

    /// A zlib stream of stored deflate blocks (at most 65,535 bytes each).
    static func zlibStored(_ data: [UInt8]) -> [UInt8] {
        var z: [UInt8] = [0x78, 0x01]
        var i = 0
        repeat {
            let n = min(65_535, data.count - i)
            let final: UInt8 = i + n == data.count ? 1 : 0
            z.append(final)
            z += [UInt8(n & 0xff), UInt8(n >> 8), UInt8(~n & 0xff), UInt8((~n >> 8) & 0xff)]
            z.append(contentsOf: data[i..<(i + n)])
            i += n
        } while i < data.count
        return z + bigEndian(adler32(data))
    }

    static func chunk(_ type: String, _ body: [UInt8], into out: inout [UInt8]) {
        let t = Array(type.utf8)
        out += bigEndian(UInt32(body.count)) + t + body
        out += bigEndian(crc32(t + body))
    }

    static let crcTable: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// CRC-32 (ISO 3309, as PNG and zlib's `crc32` compute it).
    public static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xff)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    /// Adler-32 (RFC 1950).
    public static func adler32(_ bytes: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        for x in bytes {
            a = (a + UInt32(x)) % 65_521
            b = (b + a) % 65_521
        }
        return (b << 16) | a
    }

    static func bigEndian(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)] }
}

/// An RGB raster to draw figures on.
struct Canvas {
    let width: Int, height: Int
    var rgb: [UInt8]

    init(width: Int, height: Int) {
        self.width = width
        self.height = height
        rgb = [UInt8](repeating: 255, count: width * height * 3)
    }

    mutating func fill(_ x: Int, _ y: Int, _ w: Int, _ h: Int, _ c: RGB) {
        // Clipped to the canvas: a rectangle partly or wholly outside draws only what is inside.
        let (x0, x1, y0, y1) = (max(0, x), min(width, x + w), max(0, y), min(height, y + h))
        guard x0 < x1, y0 < y1 else { return }
        for yy in y0..<y1 {
            for xx in x0..<x1 {
                let o = (yy * width + xx) * 3
                rgb[o] = c.r
                rgb[o + 1] = c.g
                rgb[o + 2] = c.b
            }
        }
    }

    /// Draws text with the 5×7 font at `scale` pixels per font pixel; returns the width drawn.
    @discardableResult
    mutating func text(_ s: String, _ x: Int, _ y: Int, scale: Int = 2, color: RGB = RGB(0, 0, 0)) -> Int {
        var cx = x
        for ch in s {
            let c: Character = ch.isASCII && (ch.asciiValue ?? 0) >= 32 ? ch : "?"
            for gy in 0..<BitmapFont.height {
                for gx in 0..<BitmapFont.width where BitmapFont.ink(c, gx, gy) {
                    fill(cx + gx * scale, y + gy * scale, scale, scale, color)
                }
            }
            cx += (BitmapFont.width + 1) * scale
        }
        return cx - x
    }

    static func textWidth(_ s: String, scale: Int = 2) -> Int { s.count * (BitmapFont.width + 1) * scale }

    var png: [UInt8] { PNG.encode(width: width, height: height, rgb: rgb) }
}

struct RGB: Equatable {
    let r: UInt8, g: UInt8, b: UInt8
    init(_ r: UInt8, _ g: UInt8, _ b: UInt8) {
        self.r = r
        self.g = g
        self.b = b
    }
    var hex: String { String(format: "#%02x%02x%02x", r, g, b) }
}
