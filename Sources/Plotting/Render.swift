import CCairo
import Foundation

/// Why a figure could not be rendered or an image read.
public enum PlottingError: Error, CustomStringConvertible, Equatable {
    /// Cairo refused an operation on a surface: what was being made, and Cairo's status.
    case cairo(making: String, status: String)
    /// Bytes that should have been a PNG image were not: where they came from, what was expected, Cairo's status.
    case badImage(source: String, expected: String, status: String)

    public var description: String {
        switch self {
        case .cairo(let making, let status): return "cairo could not make \(making): \(status)"
        case .badImage(let source, let expected, let status): return "\(source): expected \(expected), cairo says: \(status)"
        }
    }
}

/// The size of a laid-out figure, in points.
protocol FigureLayout {
    var width: Double { get }
    var height: Double { get }
}

/// A figure laid out once (text measured) and then drawn on a surface of the layout's size.
protocol Drawing {
    associatedtype Layout: FigureLayout
    func layout(_ measure: Canvas) -> Layout
    func draw(_ layout: Layout, on canvas: Canvas)
    /// The title drawn across the top, if any.
    var title: String? { get }
    /// The title of the SVG document.
    var documentTitle: String { get }
}

/// The figure title every kind of figure draws the same way: top left, inside the margin.
extension Drawing {
    static var margin: Double { 16 }

    /// The height the title takes above the panels, its gap below included.
    func titleHeight(_ m: Canvas) -> Double { title.map { m.measure($0, .title).height + 10 } ?? 0 }

    /// The figure's width, given where the last panel ends: wide enough for the title too.
    func width(panelsEnd: Double, _ m: Canvas) -> Double {
        max(panelsEnd + Self.margin, (title.map { m.measure($0, .title).width } ?? 0) + 2 * Self.margin).rounded(.up)
    }

    func drawTitle(on c: Canvas) {
        if let title { c.text(title, at: Point(x: Self.margin, y: Self.margin), anchor: (0, 0), .title) }
    }
}

/// A Cairo surface, destroyed with its owner.
final class ImageSurface {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { cairo_surface_destroy(pointer) }
}

/// Bytes written by Cairo's stream functions.
private final class ByteSink {
    var bytes: [UInt8] = []
}

private let appendToSink: cairo_write_func_t = { closure, data, length in
    let sink = Unmanaged<ByteSink>.fromOpaque(closure!).takeUnretainedValue()
    sink.bytes.append(contentsOf: UnsafeBufferPointer(start: data, count: Int(length)))
    return CAIRO_STATUS_SUCCESS
}

private func check(_ status: cairo_status_t, _ making: String) throws {
    guard status == CAIRO_STATUS_SUCCESS else { throw PlottingError.cairo(making: making, status: String(cString: cairo_status_to_string(status))) }
}

enum Render {
    /// Lays `figure` out and draws it on a white `surface` scaled by `scale`; returns the canvas (for its texts).
    @discardableResult
    static func draw<F: Drawing>(_ figure: F, _ layout: F.Layout, on surface: OpaquePointer, scale: Double) throws -> Canvas {
        let cr = cairo_create(surface)!
        defer { cairo_destroy(cr) }
        try check(cairo_status(cr), "a drawing context")
        cairo_scale(cr, scale, scale)
        let canvas = Canvas(cr)
        canvas.fill(Rect(x: 0, y: 0, w: layout.width, h: layout.height), .white)
        figure.draw(layout, on: canvas)
        try check(cairo_status(cr), "the figure")
        return canvas
    }

    /// An RGB image surface of the figure, `scale` pixels per point, and the canvas it was drawn with.
    static func image<F: Drawing>(_ figure: F, scale: Double) throws -> (surface: ImageSurface, canvas: Canvas) {
        let layout = figure.layout(Canvas.measuring())
        let (w, h) = (layout.width, layout.height)
        let surface = ImageSurface(cairo_image_surface_create(CAIRO_FORMAT_RGB24, Int32((w * scale).rounded(.up)), Int32((h * scale).rounded(.up)))!)
        try check(cairo_surface_status(surface.pointer), "a \(Int(w * scale))×\(Int(h * scale)) image")
        return (surface, try draw(figure, layout, on: surface.pointer, scale: scale))
    }

    /// PNG bytes of the figure (cairo_surface_write_to_png_stream), `scale` pixels per point.
    static func png<F: Drawing>(_ figure: F, scale: Double) throws -> [UInt8] {
        let (surface, _) = try image(figure, scale: scale)
        let sink = ByteSink()
        try check(cairo_surface_write_to_png_stream(surface.pointer, appendToSink, Unmanaged.passUnretained(sink).toOpaque()), "PNG bytes")
        return sink.bytes
    }

    /// The figure as an SVG document (cairo_svg_surface_create_for_stream), with its title as `<title>` and an
    /// invisible layer of `<text>` elements over Cairo's glyph outlines, so that its words can be searched and copied.
    static func svg<F: Drawing>(_ figure: F) throws -> String {
        let layout = figure.layout(Canvas.measuring())
        let (w, h) = (layout.width, layout.height)
        let sink = ByteSink()
        let canvas: Canvas
        do {
            let surface = cairo_svg_surface_create_for_stream(appendToSink, Unmanaged.passUnretained(sink).toOpaque(), w, h)!
            defer { cairo_surface_destroy(surface) }
            try check(cairo_surface_status(surface), "an SVG surface")
            cairo_svg_surface_set_document_unit(surface, CAIRO_SVG_UNIT_PX)
            canvas = try draw(figure, layout, on: surface, scale: 1)
            cairo_surface_finish(surface)
            try check(cairo_surface_status(surface), "the SVG document")
        }
        let svg = String(decoding: sink.bytes, as: UTF8.self)
        guard let open = svg.range(of: "<svg"), let end = svg[open.upperBound...].firstIndex(of: ">"), let close = svg.range(of: "</svg>", options: .backwards) else {
            throw PlottingError.cairo(making: "the SVG document", status: "no <svg> element in its output")
        }
        let head = svg[...end], body = svg[svg.index(after: end)..<close.lowerBound], tail = svg[close.lowerBound...]
        return head + "\n<title>\(xmlEscaped(figure.documentTitle))</title>" + body + textLayer(canvas.texts) + tail
    }

    static func textLayer(_ texts: [PlacedText]) -> String {
        var s = "<g fill-opacity=\"0\" font-family=\"DejaVu Sans\">\n"
        for t in texts {
            let x = String(format: "%.2f", t.baseline.x), y = String(format: "%.2f", t.baseline.y)
            let rotate = t.rotated ? " transform=\"rotate(-90 \(x) \(y))\"" : ""
            s += "<text x=\"\(x)\" y=\"\(y)\" font-size=\"\(t.font.size)\"\(t.font.bold ? " font-weight=\"bold\"" : "")\(rotate) xml:space=\"preserve\">\(xmlEscaped(t.text))</text>\n"
        }
        return s + "</g>\n"
    }
}

/// `text` with `&`, `<`, `>` and `"` escaped, and control characters (not allowed in XML 1.0) as `?`.
func xmlEscaped(_ text: String) -> String {
    var s = ""
    for u in text.unicodeScalars {
        switch u {
        case "&": s += "&amp;"
        case "<": s += "&lt;"
        case ">": s += "&gt;"
        case "\"": s += "&quot;"
        default: s.unicodeScalars.append(u.value < 0x20 && u != "\t" && u != "\n" ? "?" : u)
        }
    }
    return s
}
