import Foundation
import XCTest

@testable import Plotting

final class LineFigureTests: XCTestCase {
    /// Two series over x 0...10 on a fixed y range 0...1: a flat line at 0.5 with a band 0.25...0.75, and one with a gap.
    func figure() -> LineFigure {
        let x = (0...10).map(Double.init)
        let flat = LineSeries(name: "single hidden state", x: x, y: x.map { _ in 0.5 }, band: (x.map { _ in 0.25 }, x.map { _ in 0.75 }), color: RGB(117, 107, 177))
        let gappy = LineSeries(name: "MLP", x: x, y: x.map { $0 == 5 ? .nan : $0 / 20 }, dashed: true)
        return LineFigure(title: "Indirect effect", plots: [
            LinePlot(title: "at the last subject token", xLabel: "layer", yLabel: "AIE", series: [flat, gappy], yRange: 0...1),
            LinePlot(title: "perplexity", xLabel: "edits", yLabel: "perplexity", series: [LineSeries(name: "ROME", x: [1, 10, 100], y: [20, 25, 775])]),
        ])
    }

    func testPNGDecodesWithBandAndLegend() throws {
        let fig = figure()
        let l = fig.layout(Canvas.measuring())
        let png = try fig.png()
        XCTAssertEqual(Array(png.prefix(8)), HeatmapTests.signature)
        let (w, h) = ihdrSize(png)
        XCTAssertEqual(w, Int(l.width))
        XCTAssertEqual(h, Int(l.height))
        let image = try PNGImage(png, source: "line figure")
        let a = l.plots[0].area
        // x = 2.5 (between markers), y = 0.625: inside the band, off the line: the series' colour over white at bandAlpha.
        let xr = fig.plots[0].xRange
        let px = Int(a.x + (2.5 - xr.lowerBound) / (xr.upperBound - xr.lowerBound) * a.w), py = Int(a.maxY - 0.625 * a.h)
        let band = image.pixel(px, py)
        for (got, c) in [(band.r, 117), (band.g, 107), (band.b, 177)] {
            XCTAssertEqual(Double(got), 255 * (1 - LineFigure.bandAlpha) + Double(c) * LineFigure.bandAlpha, accuracy: 2, "band pixel \(band)")
        }
        XCTAssertEqual(image.pixel(px, Int(a.maxY - 0.9 * a.h)), .white, "above the band")
        XCTAssertEqual(image.pixel(px, Int(a.maxY - 0.5 * a.h)).g < 200, true, "the line itself")
        // The legend's swatch line is drawn in the series' colour.
        let lg = l.plots[0].legend
        let swatch = image.pixel(Int(lg.x + LineFigure.gap + LineFigure.swatch / 2), Int(lg.y + LineFigure.gap / 2 + 0.5 * l.plots[0].rowH))
        XCTAssertLessThan(abs(Int(swatch.r) - 117) + abs(Int(swatch.b) - 177), 40, "legend swatch \(swatch)")
    }

    func testSVGNamesSeriesAndAxes() throws {
        let texts = try XMLTexts(try figure().svg())
        let words = texts.of("text")
        for want in ["Indirect effect", "at the last subject token", "single hidden state", "MLP", "ROME", "layer", "AIE", "edits", "perplexity", "10"] {
            XCTAssertTrue(words.contains(want), "'\(want)' in \(words)")
        }
    }

    func testRunsBreakAtMissingValues() {
        let s = LineSeries(name: "s", x: [0, 1, 2, 3, 4], y: [1, .nan, 2, 3, .infinity])
        XCTAssertEqual(s.runs(), [0..<1, 2..<4])
        let banded = LineSeries(name: "b", x: [0, 1, 2], y: [1, 2, 3], band: ([0, .nan, 2], [2, 3, 4]))
        XCTAssertEqual(banded.runs(), [0..<1, 2..<3])
    }

    /// No text of a line figure overlaps another or leaves the figure.
    func testNoTextOverlaps() throws {
        let fig = figure()
        let (_, canvas) = try Render.image(fig, scale: 1)
        let l = fig.layout(Canvas.measuring())
        let bounds = Rect(x: 0, y: 0, w: l.width, h: l.height)
        for (i, a) in canvas.texts.enumerated() {
            XCTAssertTrue(bounds.contains(a.box), "'\(a.text)' \(a.box)")
            for b in canvas.texts[(i + 1)...] where a.box.intersects(b.box) { XCTFail("'\(a.text)' \(a.box) overlaps '\(b.text)' \(b.box)") }
        }
    }
}
