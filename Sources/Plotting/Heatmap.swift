import Foundation

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
    /// Label at least every n-th column (0 = as often as the labels fit).
    public var columnLabelEvery = 0
    /// Whether the row labels are tokens, drawn in quotes so that their spaces show (false: names, drawn as they are).
    public var rowLabelsAreTokens = true

    /// A panel; `minimum` and `maximum` of the colour scale default to the finite values' range.
    public init(
        title: String, rowLabels: [String], markedRows: Set<Int> = [], columnLabels: [String], values: [[Double]],
        colorMap: ColorMap, minimum: Double? = nil, maximum: Double? = nil, scaleLabel: String, xLabel: String
    ) {
        precondition(values.count == rowLabels.count && values.allSatisfy { $0.count == columnLabels.count },
            "heatmap '\(title)': \(values.count) rows of \(values.map(\.count)) values for \(rowLabels.count) row and \(columnLabels.count) column labels")
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

    /// Where `v` falls on the colour scale, 0 at `minimum` and 1 at `maximum`.
    func t(_ v: Double) -> Double { maximum > minimum ? (v - minimum) / (maximum - minimum) : 0.5 }

    /// The colour of cell `row`, `column`.
    public func color(row: Int, column: Int) -> RGB { colorMap.color(t(values[row][column])) }

    /// Row `r`'s label as drawn: a token quoted, line breaks and tabs spelled out, `*` after a marked row.
    func rowText(_ r: Int) -> String {
        let visible = rowLabels[r].replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\t", with: "\\t").replacingOccurrences(of: "\r", with: "\\r")
        return (rowLabelsAreTokens ? "'" + visible + "'" : visible) + (markedRows.contains(r) ? "*" : "")
    }
}

/// Panels side by side with an optional title above them, rendered by Cairo to PNG and SVG.
public struct HeatmapFigure: Sendable {
    public var title: String?
    public var panels: [HeatmapPanel]

    public init(title: String? = nil, panels: [HeatmapPanel]) {
        self.title = title
        self.panels = panels
    }

    /// The figure as PNG bytes, `scale` pixels per point.
    public func png(scale: Double = 1) throws -> [UInt8] { try Render.png(self, scale: scale) }

    /// The figure as an SVG document.
    public func svg() throws -> String { try Render.svg(self) }
}

extension HeatmapFigure: Drawing {
    // Geometry, in points.
    static let cellW = 16.0, cellH = 20.0, panelGap = 36.0, barGap = 12.0, barW = 14.0, tick = 4.0, gap = 6.0

    struct PanelLayout {
        let grid: Rect, bar: Rect
        let columns: TickLabels
        let barTicks: (values: [Double], step: Double)
        let scaleLabelX: Double
    }

    struct Layout: FigureLayout {
        let panels: [PanelLayout]
        let width: Double, height: Double
    }

    var documentTitle: String { title ?? panels.map(\.title).joined(separator: "; ") }

    func layout(_ m: Canvas) -> Layout {
        let titleH = titleHeight(m)
        let panelTitleH = m.measure("Mg", .panelTitle).height, labelH = m.measure("Mg", .label).height
        var x = Self.margin, bottom = 0.0, top = Self.margin + titleH + panelTitleH + 10
        var built: [(left: Double, gridW: Double, gridH: Double, columns: TickLabels, ticks: ([Double], Double), tickW: Double)] = []
        var widths: [Double] = []
        for p in panels {
            let gridW = Double(p.columnLabels.count) * Self.cellW, gridH = Double(p.rowLabels.count) * Self.cellH
            let rowW = m.widest(p.rowLabels.indices.map(p.rowText), .label) + 8
            let columns = TickLabels.horizontalAxis(p.columnLabels.map { m.measure($0, .tick) }, pitch: Self.cellW, gap: Self.gap, every: p.columnLabelEvery)
            let ticks: (values: [Double], step: Double) = gridH >= 2.5 * labelH ? Ticks.nice(p.minimum, p.maximum, maxCount: max(2, min(6, Int(gridH / (2 * labelH))))) : ([p.maximum], 1)
            let tickW = m.widest(ticks.values.map { Ticks.label($0, step: ticks.step) }, .tick)
            let scale = m.measure(p.scaleLabel, .label)
            let right = Self.barGap + Self.barW + Self.tick + 3 + tickW + Self.gap + scale.height
            // Titles and axis labels are centred on the grid; a wide one widens the panel on both sides.
            let overhang = max(m.measure(p.title, .panelTitle).width, m.measure(p.xLabel, .label).width) / 2 - gridW / 2
            let left = max(rowW, overhang).rounded(.up)
            widths.append(left + gridW + max(right, overhang))
            top = max(top, Self.margin + titleH + (scale.width - gridH) / 2)
            bottom = max(bottom, gridH + Self.tick + 3 + columns.depth + Self.gap + labelH, gridH / 2 + scale.width / 2)
            built.append((left, gridW, gridH, columns, ticks, tickW))
        }
        top = top.rounded(.up)
        var out: [PanelLayout] = []
        for (b, w) in zip(built, widths) {
            let grid = Rect(x: x + b.left, y: top, w: b.gridW, h: b.gridH)
            let bar = Rect(x: grid.maxX + Self.barGap, y: top, w: Self.barW, h: b.gridH)
            out.append(PanelLayout(grid: grid, bar: bar, columns: b.columns, barTicks: b.ticks, scaleLabelX: bar.maxX + Self.tick + 3 + b.tickW + Self.gap))
            x += w + Self.panelGap
        }
        return Layout(panels: out, width: width(panelsEnd: x - Self.panelGap, m), height: (top + bottom + Self.margin).rounded(.up))
    }

    func draw(_ l: Layout, on c: Canvas) {
        drawTitle(on: c)
        for (p, pl) in zip(panels, l.panels) {
            let g = pl.grid
            c.text(p.title, at: Point(x: g.x + g.w / 2, y: g.y - 10), anchor: (0.5, 1), .panelTitle)
            for r in p.rowLabels.indices {
                let y = g.y + Double(r) * Self.cellH
                let marked = p.markedRows.contains(r)
                c.text(p.rowText(r), at: Point(x: g.x - 8, y: y + Self.cellH / 2), anchor: (1, 0.5), .label, marked ? .black : .grey)
                if marked { c.fill(Rect(x: g.x - 5, y: y + 2, w: 3, h: Self.cellH - 4), .black) }
                for col in p.columnLabels.indices {
                    c.fill(Rect(x: g.x + Double(col) * Self.cellW, y: y, w: Self.cellW, h: Self.cellH), p.color(row: r, column: col))
                }
            }
            c.frame(g, .black)
            let cx = { (i: Int) in g.x + (Double(i) + 0.5) * Self.cellW }
            for i in pl.columns.shown { c.line([Point(x: cx(i), y: g.maxY), Point(x: cx(i), y: g.maxY + Self.tick)], .black) }
            pl.columns.drawBelow(p.columnLabels, x: cx, y: g.maxY + Self.tick + 3, on: c, .tick)
            c.text(p.xLabel, at: Point(x: g.x + g.w / 2, y: g.maxY + Self.tick + 3 + pl.columns.depth + Self.gap), anchor: (0.5, 0), .label)
            // Colour bar, high at the top, with ticks and the scale's name beside it.
            c.verticalGradient(pl.bar, p.colorMap)
            c.frame(pl.bar, .black)
            for v in pl.barTicks.values {
                let y = pl.bar.maxY - min(max(p.t(v), 0), 1) * pl.bar.h
                c.line([Point(x: pl.bar.maxX, y: y), Point(x: pl.bar.maxX + Self.tick, y: y)], .black)
                c.text(Ticks.label(v, step: pl.barTicks.step), at: Point(x: pl.bar.maxX + Self.tick + 3, y: y), anchor: (0, 0.5), .tick)
            }
            c.text(p.scaleLabel, at: Point(x: pl.scaleLabelX, y: pl.bar.y + pl.bar.h / 2), anchor: (0.5, 0), .label, rotated: true)
        }
    }
}
