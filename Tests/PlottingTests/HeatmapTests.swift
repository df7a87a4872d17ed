import Foundation
import XCTest

@testable import Plotting

/// A trace-like figure: three panels, the subject's rows marked.
func traceFigure(rows: [String] = ["The", " Eiff", "el", " Tower", " is", " in"], layers: Int = 12) -> HeatmapFigure {
    let values = rows.indices.map { r in (0..<layers).map { l in Double(r * layers + l) / Double(rows.count * layers) } }
    let panels = [(ColorMap.purples, "hidden"), (.greens, "MLP"), (.reds, "Attn")].map { map, kind in
        HeatmapPanel(
            title: "Impact of restoring \(kind) after corrupted input", rowLabels: rows, markedRows: [1, 2, 3], columnLabels: (0..<layers).map(String.init),
            values: values, colorMap: map, minimum: 0, maximum: 1, scaleLabel: "p(Paris)", xLabel: "single restored layer")
    }
    return HeatmapFigure(title: "The Eiffel Tower is in -> ' Paris'", panels: panels)
}

/// Width and height from a PNG's IHDR chunk (bytes 16..<24, big-endian).
func ihdrSize(_ png: [UInt8]) -> (Int, Int) {
    func be(_ i: Int) -> Int { png[i..<(i + 4)].reduce(0) { $0 << 8 | Int($1) } }
    return (be(16), be(20))
}

final class HeatmapTests: XCTestCase {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    func testPNGHasTheLaidOutSize() throws {
        let fig = traceFigure()
        let l = fig.layout(Canvas.measuring())
        for scale in [1.0, 2.0] {
            let png = try fig.png(scale: scale)
            XCTAssertEqual(Array(png.prefix(8)), Self.signature)
            XCTAssertEqual(String(decoding: png[12..<16], as: UTF8.self), "IHDR")
            let (w, h) = ihdrSize(png)
            XCTAssertEqual(w, Int((l.width * scale).rounded(.up)))
            XCTAssertEqual(h, Int((l.height * scale).rounded(.up)))
            XCTAssertGreaterThan(w, 3 * 12 * Int(HeatmapFigure.cellW * scale), "three panels of twelve columns")
        }
    }

    /// Read back, every cell's centre is the colour map's colour of its value, and the label margin holds antialiased text.
    func testPixelsReadBackAsCellColoursAndText() throws {
        let fig = traceFigure()
        let l = fig.layout(Canvas.measuring())
        let image = try PNGImage(try fig.png(), source: "trace figure")
        for (p, pl) in zip(fig.panels, l.panels) {
            for r in p.rowLabels.indices {
                for c in p.columnLabels.indices {
                    let x = Int(pl.grid.x + (Double(c) + 0.5) * HeatmapFigure.cellW), y = Int(pl.grid.y + (Double(r) + 0.5) * HeatmapFigure.cellH)
                    XCTAssertEqual(image.pixel(x, y), p.color(row: r, column: c), "\(p.colorMap) row \(r) column \(c)")
                }
            }
            // The row labels' margin: dark pixels, and grey ones at the glyphs' edges (antialiasing).
            var dark = 0, grey = 0
            for y in Int(pl.grid.y)..<Int(pl.grid.maxY) {
                for x in Int(pl.grid.x) - 60..<Int(pl.grid.x) - 8 {
                    let v = image.pixel(x, y).g
                    if v < 100 { dark += 1 } else if v < 230 { grey += 1 }
                }
            }
            XCTAssertGreaterThan(dark, 50, "text in the label margin of \(p.title)")
            XCTAssertGreaterThan(grey, 50, "antialiased text in the label margin of \(p.title)")
            // The colour bar runs from the map's lowest colour at the bottom to its highest at the top.
            let bx = Int(pl.bar.x + pl.bar.w / 2)
            for (y, t) in [(Int(pl.bar.y) + 2, 1.0), (Int(pl.bar.maxY) - 3, 0.0)] {
                let got = image.pixel(bx, y), want = p.colorMap.color(t)
                XCTAssertLessThan(abs(Int(got.g) - Int(want.g)) + abs(Int(got.r) - Int(want.r)), 24, "colour bar at \(t): \(got) vs \(want)")
            }
        }
        // Outside everything (the bottom-right corner) is white.
        XCTAssertEqual(image.pixel(image.width - 2, image.height - 2), .white)
    }

    func testSVGIsWellFormedXMLWithTitleAndLabels() throws {
        let svg = try traceFigure().svg()
        let texts = try XMLTexts(svg)
        XCTAssertEqual(texts.root, "svg")
        XCTAssertEqual(texts.of("title"), ["The Eiffel Tower is in -> ' Paris'"])
        let words = texts.of("text")
        for want in ["The Eiffel Tower is in -> ' Paris'", "Impact of restoring MLP after corrupted input", "' Eiff'*", "' is'", "p(Paris)", "single restored layer", "10"] {
            XCTAssertTrue(words.contains(want), "'\(want)' in the SVG's text: \(words.prefix(20))")
        }
        XCTAssertGreaterThan(texts.count("path") + texts.count("use"), 10, "Cairo drew glyphs and shapes")
    }

    /// Every line of text of a crowded figure (long tokens, many layers) lies inside the figure and clear of the others.
    func testNoTextOverlapsInACrowdedFigure() throws {
        let rows = (0..<24).map { i in i % 3 == 0 ? " an extraordinarily long token \(i)" : i % 3 == 1 ? "\n" : " w\(i)" }
        let fig = traceFigure(rows: rows, layers: 40)
        let (_, canvas) = try Render.image(fig, scale: 1)
        let l = fig.layout(Canvas.measuring())
        let bounds = Rect(x: 0, y: 0, w: l.width, h: l.height)
        let boxes = canvas.texts
        XCTAssertGreaterThan(boxes.count, 3 * (24 + 5))
        for (i, a) in boxes.enumerated() {
            XCTAssertTrue(bounds.contains(a.box), "'\(a.text)' \(a.box) outside \(bounds)")
            for b in boxes[(i + 1)...] where a.box.intersects(b.box) { XCTFail("'\(a.text)' \(a.box) overlaps '\(b.text)' \(b.box)") }
        }
    }

    func testBadPNGBytesNameTheirSource() {
        XCTAssertThrowsError(try PNGImage(Array("not a png".utf8), source: "/tmp/x.png")) { e in
            guard case PlottingError.badImage(let source, let expected, _) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(source, "/tmp/x.png")
            XCTAssertTrue(expected.contains("PNG"), expected)
        }
    }
}
