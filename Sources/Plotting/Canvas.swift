import CCairo
import Foundation

/// A point in figure coordinates (points; one point is one pixel of a PNG at scale 1), y down.
struct Point: Equatable {
    var x: Double, y: Double
}

/// An axis-aligned rectangle in figure coordinates.
struct Rect: Equatable, CustomStringConvertible {
    var x: Double, y: Double, w: Double, h: Double
    var maxX: Double { x + w }
    var maxY: Double { y + h }
    /// Whether the two rectangles share interior (touching edges do not count).
    func intersects(_ o: Rect) -> Bool { x < o.maxX && o.x < maxX && y < o.maxY && o.y < maxY }
    func contains(_ o: Rect) -> Bool { o.x >= x - 1e-9 && o.y >= y - 1e-9 && o.maxX <= maxX + 1e-9 && o.maxY <= maxY + 1e-9 }
    var description: String { String(format: "(%.1f, %.1f, %.1f × %.1f)", x, y, w, h) }
}

/// DejaVu Sans (Debian's `fonts-dejavu-core`) at a size in points.
struct Font: Equatable {
    var size: Double
    var bold = false
    static let title = Font(size: 14, bold: true), panelTitle = Font(size: 12), label = Font(size: 11), tick = Font(size: 10)
}

/// The space a line of text takes: its advance and the font's ascent and descent.
struct TextSize: Equatable {
    var width: Double, ascent: Double, descent: Double
    var height: Double { ascent + descent }
}

/// A line of text as drawn: its box on the figure, and where its baseline starts (for the SVG text layer).
struct PlacedText {
    let text: String, font: Font, box: Rect, baseline: Point, rotated: Bool
}

/// Drawing on a Cairo context: rectangles, lines, polygons, gradients and text, in figure coordinates.
/// Every line of text drawn is recorded in `texts`.
final class Canvas {
    let cr: OpaquePointer
    private(set) var texts: [PlacedText] = []

    /// Takes a reference to `cr`, with metric hinting off so that text measures the same on every surface.
    init(_ cr: OpaquePointer) {
        self.cr = cairo_reference(cr)
        let options = cairo_font_options_create()
        cairo_font_options_set_hint_metrics(options, CAIRO_HINT_METRICS_OFF)
        cairo_set_font_options(cr, options)
        cairo_font_options_destroy(options)
    }

    deinit { cairo_destroy(cr) }

    /// A canvas that draws nowhere, for measuring text before a figure's size is known.
    static func measuring() -> Canvas {
        let surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1)
        let cr = cairo_create(surface)!
        defer { cairo_destroy(cr); cairo_surface_destroy(surface) }
        return Canvas(cr)
    }

    private func use(_ font: Font) {
        cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, font.bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL)
        cairo_set_font_size(cr, font.size)
    }

    private func setColor(_ c: RGB, alpha: Double = 1) {
        let (r, g, b) = c.unit
        cairo_set_source_rgba(cr, r, g, b, alpha)
    }

    /// The size of `text` in `font` (measured with cairo_text_extents and cairo_font_extents).
    func measure(_ text: String, _ font: Font) -> TextSize {
        use(font)
        var t = cairo_text_extents_t(), f = cairo_font_extents_t()
        cairo_text_extents(cr, text, &t)
        cairo_font_extents(cr, &f)
        return TextSize(width: t.x_advance, ascent: f.ascent, descent: f.descent)
    }

    /// The widest of `texts` in `font` (0 for none).
    func widest(_ texts: [String], _ font: Font) -> Double { texts.map { measure($0, font).width }.max() ?? 0 }

    func fill(_ r: Rect, _ c: RGB, alpha: Double = 1) {
        setColor(c, alpha: alpha)
        cairo_rectangle(cr, r.x, r.y, r.w, r.h)
        cairo_fill(cr)
    }

    /// The outline of `r`, on pixel centres so that a 1-point line is crisp.
    func frame(_ r: Rect, _ c: RGB, width: Double = 1) {
        setColor(c)
        cairo_set_line_width(cr, width)
        cairo_rectangle(cr, r.x + 0.5, r.y + 0.5, r.w - 1, r.h - 1)
        cairo_stroke(cr)
    }

    /// A polyline through `points`.
    func line(_ points: [Point], _ c: RGB, width: Double = 1, dash: [Double] = []) {
        guard points.count > 1 else { return }
        setColor(c)
        cairo_set_line_width(cr, width)
        cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND)
        cairo_set_dash(cr, dash, Int32(dash.count), 0)
        cairo_move_to(cr, points[0].x, points[0].y)
        for p in points.dropFirst() { cairo_line_to(cr, p.x, p.y) }
        cairo_stroke(cr)
        cairo_set_dash(cr, nil, 0, 0)
    }

    /// A filled polygon (closed from the last point back to the first).
    func polygon(_ points: [Point], _ c: RGB, alpha: Double) {
        guard points.count > 2 else { return }
        setColor(c, alpha: alpha)
        cairo_move_to(cr, points[0].x, points[0].y)
        for p in points.dropFirst() { cairo_line_to(cr, p.x, p.y) }
        cairo_close_path(cr)
        cairo_fill(cr)
    }

    func circle(_ center: Point, radius: Double, _ c: RGB) {
        setColor(c)
        cairo_arc(cr, center.x, center.y, radius, 0, 2 * Double.pi)
        cairo_fill(cr)
    }

    /// `r` filled with `map` from its value at the bottom (0) to the top (1).
    func verticalGradient(_ r: Rect, _ map: ColorMap) {
        let pattern = cairo_pattern_create_linear(0, r.maxY, 0, r.y)
        defer { cairo_pattern_destroy(pattern) }
        for (i, s) in map.stops.enumerated() {
            let (red, g, b) = s.unit
            cairo_pattern_add_color_stop_rgb(pattern, Double(i) / Double(map.stops.count - 1), red, g, b)
        }
        cairo_set_source(cr, pattern)
        cairo_rectangle(cr, r.x, r.y, r.w, r.h)
        cairo_fill(cr)
    }

    /// Draws `text` so that the point `(anchor.x, anchor.y)` of its box (0 = left/top, 1 = right/bottom) lies
    /// at `at`. Rotated text reads bottom to top (90° counter-clockwise); the anchor is then taken in the
    /// text's own frame, so `(1, 0.5)` puts the text's end at `at`, centred across it. Returns the box.
    @discardableResult
    func text(_ text: String, at: Point, anchor: (x: Double, y: Double), _ font: Font, _ c: RGB = .black, rotated: Bool = false) -> Rect {
        let s = measure(text, font)
        // In the text's frame: left end of the baseline relative to `at`.
        let dx = -anchor.x * s.width, dy = -anchor.y * s.height + s.ascent
        let baseline = rotated ? Point(x: at.x + dy, y: at.y - dx) : Point(x: at.x + dx, y: at.y + dy)
        let box = rotated
            ? Rect(x: at.x - anchor.y * s.height, y: at.y - (1 - anchor.x) * s.width, w: s.height, h: s.width)
            : Rect(x: at.x + dx, y: at.y - anchor.y * s.height, w: s.width, h: s.height)
        setColor(c)
        cairo_save(cr)
        cairo_translate(cr, baseline.x, baseline.y)
        if rotated { cairo_rotate(cr, -Double.pi / 2) }
        cairo_move_to(cr, 0, 0)
        cairo_show_text(cr, text)
        cairo_restore(cr)
        texts.append(PlacedText(text: text, font: font, box: box, baseline: baseline, rotated: rotated))
        return box
    }
}

extension Canvas {
    /// Runs `body` with drawing clipped to `r`.
    func clipped(to r: Rect, _ body: () -> Void) {
        cairo_save(cr)
        cairo_rectangle(cr, r.x, r.y, r.w, r.h)
        cairo_clip(cr)
        body()
        cairo_restore(cr)
    }
}
