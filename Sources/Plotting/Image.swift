import CCairo
import Foundation

/// A decoded PNG image (cairo_image_surface_create_from_png_stream), for reading pixels back.
public struct PNGImage: Sendable {
    public let width: Int, height: Int
    /// Rows top to bottom, 3 bytes (R, G, B) per pixel; transparent pixels are composed over white.
    public let rgb: [UInt8]

    /// Decodes `bytes`; `source` names them (a file, a figure) in the error if they are not a PNG image.
    public init(_ bytes: [UInt8], source: String) throws {
        final class Reader {
            let bytes: [UInt8]
            var offset = 0
            init(_ bytes: [UInt8]) { self.bytes = bytes }
        }
        let reader = Reader(bytes)
        let read: cairo_read_func_t = { closure, data, length in
            let r = Unmanaged<Reader>.fromOpaque(closure!).takeUnretainedValue()
            let n = Int(length)
            guard r.offset + n <= r.bytes.count else { return CAIRO_STATUS_READ_ERROR }
            r.bytes.withUnsafeBufferPointer { data!.update(from: $0.baseAddress! + r.offset, count: n) }
            r.offset += n
            return CAIRO_STATUS_SUCCESS
        }
        let surface = cairo_image_surface_create_from_png_stream(read, Unmanaged.passUnretained(reader).toOpaque())!
        defer { cairo_surface_destroy(surface) }
        let status = cairo_surface_status(surface)
        guard status == CAIRO_STATUS_SUCCESS else {
            throw PlottingError.badImage(source: source, expected: "a PNG image (\(bytes.count) bytes read)", status: String(cString: cairo_status_to_string(status)))
        }
        cairo_surface_flush(surface)
        width = Int(cairo_image_surface_get_width(surface))
        height = Int(cairo_image_surface_get_height(surface))
        let stride = Int(cairo_image_surface_get_stride(surface)), format = cairo_image_surface_get_format(surface)
        guard let data = cairo_image_surface_get_data(surface), format == CAIRO_FORMAT_RGB24 || format == CAIRO_FORMAT_ARGB32 else {
            throw PlottingError.badImage(source: source, expected: "an 8-bit RGB or RGBA PNG image", status: "pixel format \(format.rawValue)")
        }
        var out = [UInt8](repeating: 255, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                // Native-endian 32-bit pixels, premultiplied by alpha: composing over white adds (255 - alpha).
                let p = UnsafeRawPointer(data + y * stride + x * 4).loadUnaligned(as: UInt32.self)
                let a = format == CAIRO_FORMAT_ARGB32 ? Int(p >> 24) : 255
                for (i, shift) in [16, 8, 0].enumerated() { out[(y * width + x) * 3 + i] = UInt8(min(255, Int((p >> UInt32(shift)) & 0xff) + 255 - a)) }
            }
        }
        rgb = out
    }

    /// The colour at column `x`, row `y` (0, 0 is the top left).
    public func pixel(_ x: Int, _ y: Int) -> RGB {
        precondition(x >= 0 && x < width && y >= 0 && y < height, "pixel (\(x), \(y)) outside a \(width)×\(height) image")
        let i = (y * width + x) * 3
        return RGB(rgb[i], rgb[i + 1], rgb[i + 2])
    }
}
