import Foundation

extension LineFigure: Drawing {
    // Geometry, in points.
    static let areaW = 360.0, areaH = 240.0, plotGap = 28.0, tick = 4.0, gap = 6.0, swatch = 22.0, bandAlpha = 0.15

    struct PlotLayout {
        let area: Rect
        let xTicks: (values: [Double], step: Double), yTicks: (values: [Double], step: Double)
        let xLabels: TickLabels
        let legend: Rect
        let rowH: Double
    }

    struct Layout: FigureLayout {
        let plots: [PlotLayout]
        let width: Double, height: Double
    }

    var documentTitle: String { title ?? plots.map(\.title).joined(separator: "; ") }

    static func xTickLabels(_ p: LinePlot) -> (values: [Double], step: Double) { Ticks.nice(p.xRange.lowerBound, p.xRange.upperBound, maxCount: 8) }
    static func yTickLabels(_ p: LinePlot) -> (values: [Double], step: Double) { Ticks.nice(p.yAxisRange.lowerBound, p.yAxisRange.upperBound, maxCount: 6) }

    func layout(_ m: Canvas) -> Layout {
        let titleH = titleHeight(m)
        let labelH = m.measure("Mg", .label).height, panelTitleH = m.measure("Mg", .panelTitle).height
        let top = (Self.margin + titleH + panelTitleH + 10).rounded(.up)
        var x = Self.margin, bottom = 0.0
        var out: [PlotLayout] = []
        for p in plots {
            let xt = Self.xTickLabels(p), yt = Self.yTickLabels(p)
            let yTickW = m.widest(yt.values.map { Ticks.label($0, step: yt.step) }, .tick)
            let left = (labelH + Self.gap + yTickW + Self.tick + 3).rounded(.up)
            let pitch = xt.values.count > 1 ? Self.areaW * xt.step / (p.xRange.upperBound - p.xRange.lowerBound) : Self.areaW
            let xLabels = TickLabels.horizontalAxis(xt.values.map { m.measure(Ticks.label($0, step: xt.step), .tick) }, pitch: pitch, gap: Self.gap)
            let overhang = max(0, max(m.measure(p.title, .panelTitle).width, m.measure(p.xLabel, .label).width) / 2 - Self.areaW / 2)
            let area = Rect(x: x + max(left, overhang), y: top, w: Self.areaW, h: Self.areaH)
            let rowH = labelH + 4
            let legendW = Self.swatch + 3 * Self.gap + m.widest(p.series.map(\.name), .label)
            let legend = Rect(x: area.maxX + 12, y: top, w: legendW, h: Double(p.series.count) * rowH + Self.gap)
            out.append(PlotLayout(area: area, xTicks: xt, yTicks: yt, xLabels: xLabels, legend: legend, rowH: rowH))
            bottom = max(bottom, Self.areaH + Self.tick + 3 + xLabels.depth + Self.gap + labelH, legend.h)
            x = max(legend.maxX, area.maxX + overhang) + Self.plotGap
        }
        return Layout(plots: out, width: width(panelsEnd: x - Self.plotGap, m), height: (top + bottom + Self.margin).rounded(.up))
    }

    func draw(_ l: Layout, on c: Canvas) {
        drawTitle(on: c)
        for (p, pl) in zip(plots, l.plots) {
            let a = pl.area, xr = p.xRange, yr = p.yAxisRange
            let px = { (x: Double) in a.x + (x - xr.lowerBound) / (xr.upperBound - xr.lowerBound) * a.w }
            let py = { (y: Double) in a.maxY - (y - yr.lowerBound) / (yr.upperBound - yr.lowerBound) * a.h }
            c.text(p.title, at: Point(x: a.x + a.w / 2, y: a.y - 10), anchor: (0.5, 1), .panelTitle)
            for v in pl.yTicks.values {
                c.line([Point(x: a.x, y: py(v)), Point(x: a.maxX, y: py(v))], RGB(225, 225, 225))
                c.line([Point(x: a.x - Self.tick, y: py(v)), Point(x: a.x, y: py(v))], .black)
                c.text(Ticks.label(v, step: pl.yTicks.step), at: Point(x: a.x - Self.tick - 3, y: py(v)), anchor: (1, 0.5), .tick)
            }
            for i in pl.xLabels.shown { c.line([Point(x: px(pl.xTicks.values[i]), y: a.maxY), Point(x: px(pl.xTicks.values[i]), y: a.maxY + Self.tick)], .black) }
            pl.xLabels.drawBelow(pl.xTicks.values.map { Ticks.label($0, step: pl.xTicks.step) }, x: { px(pl.xTicks.values[$0]) }, y: a.maxY + Self.tick + 3, on: c, .tick)
            c.text(p.xLabel, at: Point(x: a.x + a.w / 2, y: a.maxY + Self.tick + 3 + pl.xLabels.depth + Self.gap), anchor: (0.5, 0), .label)
            let yTickW = pl.yTicks.values.map { c.measure(Ticks.label($0, step: pl.yTicks.step), .tick).width }.max() ?? 0
            c.text(p.yLabel, at: Point(x: a.x - Self.tick - 3 - yTickW - Self.gap, y: a.y + a.h / 2), anchor: (0.5, 1), .label, rotated: true)
            c.clipped(to: a) {
                for (i, s) in p.series.enumerated() {
                    for run in s.runs() {
                        if let band = s.band {
                            let upper = run.map { Point(x: px(s.x[$0]), y: py(band.high[$0])) }, lower = run.reversed().map { Point(x: px(s.x[$0]), y: py(band.low[$0])) }
                            c.polygon(upper + lower, p.color(i), alpha: Self.bandAlpha)
                        }
                        c.line(run.map { Point(x: px(s.x[$0]), y: py(s.y[$0])) }, p.color(i), width: 1.8, dash: s.dashed ? [5, 3] : [])
                        for j in run { c.circle(Point(x: px(s.x[j]), y: py(s.y[j])), radius: 2.2, p.color(i)) }
                    }
                }
            }
            c.frame(a, .black)
            drawLegend(p, pl, on: c)
        }
    }

    func drawLegend(_ p: LinePlot, _ pl: PlotLayout, on c: Canvas) {
        guard !p.series.isEmpty else { return }
        c.frame(pl.legend, RGB(160, 160, 160))
        for (i, s) in p.series.enumerated() {
            let y = pl.legend.y + Self.gap / 2 + (Double(i) + 0.5) * pl.rowH, x0 = pl.legend.x + Self.gap
            if s.band != nil { c.fill(Rect(x: x0, y: y - 5, w: Self.swatch, h: 10), p.color(i), alpha: Self.bandAlpha) }
            c.line([Point(x: x0, y: y), Point(x: x0 + Self.swatch, y: y)], p.color(i), width: 1.8, dash: s.dashed ? [5, 3] : [])
            c.text(s.name, at: Point(x: x0 + Self.swatch + Self.gap, y: y), anchor: (0, 0.5), .label)
        }
    }
}
