import Foundation

/// Sequential colour maps like matplotlib's (white to a dark hue), used as the ROME figures use them:
/// purple for hidden states, green for MLP, red for attention.
public enum ColorMap: String, Codable, Sendable {
    case purples, greens, reds, blues

    var stops: [RGB] {
        switch self {
        case .purples: return [RGB(252, 251, 253), RGB(188, 189, 220), RGB(117, 107, 177), RGB(63, 0, 125)]
        case .greens: return [RGB(247, 252, 245), RGB(161, 217, 155), RGB(49, 163, 84), RGB(0, 68, 27)]
        case .reds: return [RGB(255, 245, 240), RGB(252, 146, 114), RGB(222, 45, 38), RGB(103, 0, 13)]
        case .blues: return [RGB(247, 251, 255), RGB(158, 202, 225), RGB(49, 130, 189), RGB(8, 48, 107)]
        }
    }

    /// The colour at `t` in [0, 1] (clamped); NaN is grey.
    func color(_ t: Double) -> RGB {
        guard t.isFinite else { return RGB(200, 200, 200) }
        let s = stops, x = min(max(t, 0), 1) * Double(s.count - 1)
        let i = min(Int(x), s.count - 2), f = x - Double(i)
        func mix(_ a: UInt8, _ b: UInt8) -> UInt8 { UInt8((Double(a) + (Double(b) - Double(a)) * f).rounded()) }
        return RGB(mix(s[i].r, s[i + 1].r), mix(s[i].g, s[i + 1].g), mix(s[i].b, s[i + 1].b))
    }
}

/// One heatmap: rows (tokens) down, columns (layers) across, a labelled colour bar.
public struct HeatmapPanel: Sendable {
    public var title: String
    public var rowLabels: [String]
    /// Rows drawn with a marker and a `*` after the label (the subject's tokens).
    public var markedRows: Set<Int>
    public var columnLabels: [String]
    /// `values[row][column]`.
    public var values: [[Double]]
    public var colorMap: ColorMap
    public var minimum: Double
    public var maximum: Double
    /// What the colour means, e.g. `p(Paris)`.
    public var scaleLabel: String
    public var xLabel: String
    /// Label every n-th column (0 = choose).
    public var columnLabelEvery = 0

    public init(
        title: String, rowLabels: [String], markedRows: Set<Int> = [], columnLabels: [String], values: [[Double]],
        colorMap: ColorMap, minimum: Double? = nil, maximum: Double? = nil, scaleLabel: String, xLabel: String
    ) {
        self.title = title
        self.rowLabels = rowLabels
        self.markedRows = markedRows
        self.columnLabels = columnLabels
        self.values = values
        self.colorMap = colorMap
        let finite = values.flatMap { $0 }.filter(\.isFinite)
        self.minimum = minimum ?? finite.min() ?? 0
        self.maximum = maximum ?? finite.max() ?? 1
        self.scaleLabel = scaleLabel
        self.xLabel = xLabel
    }

    func t(_ v: Double) -> Double { maximum > minimum ? (v - minimum) / (maximum - minimum) : 0.5 }
}

/// Panels side by side, drawn the same way as SVG and as PNG.
public struct HeatmapFigure: Sendable {
    public var title: String?
    public var panels: [HeatmapPanel]

    public init(title: String? = nil, panels: [HeatmapPanel]) {
        self.title = title
        self.panels = panels
    }

    // Geometry, in pixels (text is 12 px per character, 14 px high).
    static let charW = 12, textH = 14, cellW = 16, cellH = 22, margin = 20, gap = 40, barW = 18

    struct Layout {
        let x: Int, labelW: Int, gridX: Int, gridY: Int, gridW: Int, gridH: Int, barX: Int, width: Int
    }

    func layouts() -> (panels: [Layout], width: Int, height: Int) {
        var x = Self.margin
        var out: [Layout] = []
        let top = Self.margin + (title == nil ? 0 : Self.textH + 14) + Self.textH + 12
        var maxH = 0
        for p in panels {
            let labelW = (p.rowLabels.map { visibleLabel($0).count + 1 }.max() ?? 1) * Self.charW + 10
            let gridW = p.columnLabels.count * Self.cellW, gridH = p.rowLabels.count * Self.cellH
            let barX = x + labelW + gridW + 16
            let tickW = 6 * Self.charW
            let w = max(labelW + gridW + 16 + Self.barW + 6 + tickW, p.title.count * Self.charW, labelW + p.xLabel.count * Self.charW)
            out.append(Layout(x: x, labelW: labelW, gridX: x + labelW, gridY: top, gridW: gridW, gridH: gridH, barX: barX, width: w))
            maxH = max(maxH, gridH)
            x += w + Self.gap
        }
        return (out, x - Self.gap + Self.margin, top + maxH + 2 * Self.textH + 36 + Self.margin)
    }

    func visibleLabel(_ s: String) -> String {
        s.replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\t", with: "\\t")
    }

    func columnStep(_ p: HeatmapPanel) -> Int { p.columnLabelEvery > 0 ? p.columnLabelEvery : (p.columnLabels.count > 12 ? 5 : 1) }

    static func tick(_ v: Double) -> String {
        abs(v) >= 100 || (abs(v) < 0.01 && v != 0) ? String(format: "%.1e", v) : String(format: "%.3f", v)
    }

    /// The figure as PNG bytes.
    public func png() -> [UInt8] {
        let (ls, W, H) = layouts()
        var cv = Canvas(width: W, height: H)
        let black = RGB(0, 0, 0), grey = RGB(90, 90, 90)
        if let title { cv.text(title, Self.margin, Self.margin) }
        for (p, l) in zip(panels, ls) {
            cv.text(p.title, l.x, l.gridY - Self.textH - 10)
            for (r, label) in p.rowLabels.enumerated() {
                let y = l.gridY + r * Self.cellH
                let text = "'" + visibleLabel(label) + "'" + (p.markedRows.contains(r) ? "*" : "")
                let tw = Canvas.textWidth(text)
                cv.text(text, l.gridX - 8 - tw + (p.markedRows.contains(r) ? 0 : 0), y + (Self.cellH - Self.textH) / 2, color: p.markedRows.contains(r) ? black : grey)
                if p.markedRows.contains(r) { cv.fill(l.gridX - 5, y + 2, 3, Self.cellH - 4, black) }
                for (c, v) in p.values[r].enumerated() {
                    cv.fill(l.gridX + c * Self.cellW, y, Self.cellW, Self.cellH, p.colorMap.color(p.t(v)))
                }
            }
            // Frame, column ticks and axis label.
            cv.fill(l.gridX, l.gridY + l.gridH, l.gridW, 1, black)
            cv.fill(l.gridX, l.gridY, 1, l.gridH, black)
            for c in stride(from: 0, to: p.columnLabels.count, by: columnStep(p)) {
                let cx = l.gridX + c * Self.cellW + Self.cellW / 2
                cv.fill(cx, l.gridY + l.gridH, 1, 5, black)
                let s = p.columnLabels[c]
                cv.text(s, cx - Canvas.textWidth(s) / 2, l.gridY + l.gridH + 8)
            }
            cv.text(p.xLabel, l.gridX, l.gridY + l.gridH + Self.textH + 16)
            // Colour bar, high at the top.
            for y in 0..<l.gridH {
                cv.fill(l.barX, l.gridY + y, Self.barW, 1, p.colorMap.color(1 - Double(y) / Double(max(l.gridH - 1, 1))))
            }
            for (f, v) in [(0.0, p.maximum), (0.5, (p.minimum + p.maximum) / 2), (1.0, p.minimum)] {
                let y = l.gridY + Int(f * Double(l.gridH - 1))
                cv.fill(l.barX + Self.barW, y, 4, 1, black)
                cv.text(Self.tick(v), l.barX + Self.barW + 6, min(max(y - Self.textH / 2, l.gridY - 4), l.gridY + l.gridH - Self.textH + 4))
            }
            cv.text(p.scaleLabel, l.barX - 4, l.gridY + l.gridH + 8)
        }
        return cv.png
    }

    /// The figure as an SVG document.
    public func svg() -> String {
        let (ls, W, H) = layouts()
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(W)\" height=\"\(H)\" viewBox=\"0 0 \(W) \(H)\" font-family=\"DejaVu Sans Mono, monospace\" font-size=\"14\">\n"
        s += "<rect width=\"\(W)\" height=\"\(H)\" fill=\"white\"/>\n"
        func text(_ t: String, _ x: Int, _ y: Int, anchor: String = "start", fill: String = "black") {
            s += "<text x=\"\(x)\" y=\"\(y + 12)\" text-anchor=\"\(anchor)\" fill=\"\(fill)\" xml:space=\"preserve\">\(escape(t))</text>\n"
        }
        if let title { text(title, Self.margin, Self.margin) }
        for (p, l) in zip(panels, ls) {
            text(p.title, l.x, l.gridY - Self.textH - 10)
            for (r, label) in p.rowLabels.enumerated() {
                let y = l.gridY + r * Self.cellH
                let marked = p.markedRows.contains(r)
                text("'" + visibleLabel(label) + "'" + (marked ? "*" : ""), l.gridX - 8, y + (Self.cellH - Self.textH) / 2, anchor: "end", fill: marked ? "black" : "#5a5a5a")
                if marked { s += "<rect x=\"\(l.gridX - 5)\" y=\"\(y + 2)\" width=\"3\" height=\"\(Self.cellH - 4)\" fill=\"black\"/>\n" }
                for (c, v) in p.values[r].enumerated() {
                    s += "<rect x=\"\(l.gridX + c * Self.cellW)\" y=\"\(y)\" width=\"\(Self.cellW)\" height=\"\(Self.cellH)\" fill=\"\(p.colorMap.color(p.t(v)).hex)\"><title>\(escape(label)) layer \(p.columnLabels[c]): \(String(format: "%.4f", v))</title></rect>\n"
                }
            }
            s += "<rect x=\"\(l.gridX)\" y=\"\(l.gridY)\" width=\"\(l.gridW)\" height=\"\(l.gridH)\" fill=\"none\" stroke=\"black\" stroke-width=\"1\"/>\n"
            for c in stride(from: 0, to: p.columnLabels.count, by: columnStep(p)) {
                let cx = l.gridX + c * Self.cellW + Self.cellW / 2
                s += "<line x1=\"\(cx)\" y1=\"\(l.gridY + l.gridH)\" x2=\"\(cx)\" y2=\"\(l.gridY + l.gridH + 5)\" stroke=\"black\"/>\n"
                text(p.columnLabels[c], cx, l.gridY + l.gridH + 8, anchor: "middle")
            }
            text(p.xLabel, l.gridX, l.gridY + l.gridH + Self.textH + 16)
            let id = "g\(l.x)"
            s += "<defs><linearGradient id=\"\(id)\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">"
            for k in 0...10 { s += "<stop offset=\"\(Double(k) / 10)\" stop-color=\"\(p.colorMap.color(Double(k) / 10).hex)\"/>" }
            s += "</linearGradient></defs>\n"
            s += "<rect x=\"\(l.barX)\" y=\"\(l.gridY)\" width=\"\(Self.barW)\" height=\"\(l.gridH)\" fill=\"url(#\(id))\" stroke=\"black\" stroke-width=\"0.5\"/>\n"
            for (f, v) in [(0.0, p.maximum), (0.5, (p.minimum + p.maximum) / 2), (1.0, p.minimum)] {
                let y = l.gridY + Int(f * Double(l.gridH - 1))
                s += "<line x1=\"\(l.barX + Self.barW)\" y1=\"\(y)\" x2=\"\(l.barX + Self.barW + 4)\" y2=\"\(y)\" stroke=\"black\"/>\n"
                text(Self.tick(v), l.barX + Self.barW + 6, y - Self.textH / 2)
            }
            text(p.scaleLabel, l.barX - 4, l.gridY + l.gridH + 8)
        }
        return s + "</svg>\n"
    }

    func escape(_ t: String) -> String {
        t.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }
}
