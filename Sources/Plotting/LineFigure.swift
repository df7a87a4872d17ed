import Foundation

/// One line of a `LinePlot`: y against x, optionally with a band (e.g. a confidence interval) around it.
public struct LineSeries: Sendable {
    public var name: String
    public var x: [Double]
    public var y: [Double]
    /// `(low, high)` per point, drawn as a translucent band; NaN breaks the line and the band.
    public var band: (low: [Double], high: [Double])?
    /// The line's colour (nil: the plot's next palette colour).
    public var color: RGB?
    public var dashed: Bool

    public init(name: String, x: [Double], y: [Double], band: (low: [Double], high: [Double])? = nil, color: RGB? = nil, dashed: Bool = false) {
        precondition(x.count == y.count && band.map { $0.low.count == y.count && $0.high.count == y.count } ?? true,
            "series '\(name)': \(x.count) x, \(y.count) y" + (band.map { ", \($0.low.count) low, \($0.high.count) high" } ?? ""))
        self.name = name
        self.x = x
        self.y = y
        self.band = band
        self.color = color
        self.dashed = dashed
    }

    /// Runs of consecutive points whose values (and band) are finite.
    func runs() -> [Range<Int>] {
        var out: [Range<Int>] = [], start: Int?
        for i in 0...y.count {
            let ok = i < y.count && x[i].isFinite && y[i].isFinite && (band.map { $0.low[i].isFinite && $0.high[i].isFinite } ?? true)
            if ok, start == nil { start = i }
            if !ok, let s = start { out.append(s..<i); start = nil }
        }
        return out
    }
}

/// Axes with lines: a title, axis labels, ticks, and a legend to the right naming each series.
public struct LinePlot: Sendable {
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [LineSeries]
    /// The y axis' range (nil: the data's, bands included, with a margin).
    public var yRange: ClosedRange<Double>?

    public init(title: String, xLabel: String, yLabel: String, series: [LineSeries], yRange: ClosedRange<Double>? = nil) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.yRange = yRange
    }

    func color(_ i: Int) -> RGB { series[i].color ?? RGB.palette[i % RGB.palette.count] }

    /// The range of `values`' finite numbers, widened by 5% on each side (a unit around a single value).
    static func padded(_ values: [Double]) -> ClosedRange<Double> {
        let f = values.filter(\.isFinite)
        guard let lo = f.min(), let hi = f.max() else { return 0...1 }
        let pad = hi > lo ? (hi - lo) * 0.05 : max(abs(lo) * 0.05, 0.5)
        return (lo - pad)...(hi + pad)
    }

    var xRange: ClosedRange<Double> { Self.padded(series.flatMap(\.x)) }
    var yAxisRange: ClosedRange<Double> {
        yRange ?? Self.padded(series.flatMap { s in s.y + (s.band.map { $0.low + $0.high } ?? []) })
    }
}

/// Line plots side by side with an optional title above them, rendered by Cairo to PNG and SVG.
public struct LineFigure: Sendable {
    public var title: String?
    public var plots: [LinePlot]

    public init(title: String? = nil, plots: [LinePlot]) {
        self.title = title
        self.plots = plots
    }

    /// The figure as PNG bytes, `scale` pixels per point.
    public func png(scale: Double = 1) throws -> [UInt8] { try Render.png(self, scale: scale) }

    /// The figure as an SVG document.
    public func svg() throws -> String { try Render.svg(self) }
}
