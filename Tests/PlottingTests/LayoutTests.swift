import Foundation
import XCTest

@testable import Plotting

final class LayoutTests: XCTestCase {
    /// Draws the labels under an axis at `pitch` and returns their boxes.
    func boxes(_ labels: [String], pitch: Double) -> (TickLabels, [Rect]) {
        let c = Canvas.measuring()
        let t = TickLabels.horizontalAxis(labels.map { c.measure($0, .tick) }, pitch: pitch, gap: 6)
        return (t, t.drawBelow(labels, x: { 100 + (Double($0) + 0.5) * pitch }, y: 50, on: c, .tick))
    }

    func assertDisjoint(_ boxes: [Rect], file: StaticString = #filePath, line: UInt = #line) {
        for (i, a) in boxes.enumerated() {
            for b in boxes[(i + 1)...] where a.intersects(b) { XCTFail("\(a) overlaps \(b)", file: file, line: line) }
        }
    }

    /// Many long token labels: rotated, every one shown, none overlapping, all below the axis within `depth`.
    func testLongTokenLabelsAreRotatedAndDoNotOverlap() {
        let labels = (0..<80).map { "'\(String(repeating: "token", count: 1 + $0 % 5)) \($0)'" }
        let (t, b) = boxes(labels, pitch: 16)
        XCTAssertTrue(t.rotated)
        XCTAssertEqual(t.shown, Array(0..<80))
        assertDisjoint(b)
        for r in b {
            XCTAssertGreaterThanOrEqual(r.y, 50 - 1e-9)
            XCTAssertLessThanOrEqual(r.maxY, 50 + t.depth + 1e-9)
        }
        XCTAssertEqual(t.depth, b.map(\.h).max()!, accuracy: 1e-9, "the margin is sized from the longest label")
    }

    /// Too crowded even rotated: thinned to a nice step, still no overlap.
    func testCrowdedLabelsAreThinned() {
        let labels = (0..<300).map { "long label number \($0)" }
        let (t, b) = boxes(labels, pitch: 3)
        XCTAssertTrue(t.rotated)
        XCTAssertGreaterThan(t.shown[1], 1)
        XCTAssertTrue(TickLabels.steps.contains(t.shown[1]))
        assertDisjoint(b)
    }

    /// Short numbers stay horizontal, thinned only as much as they need.
    func testLayerNumbersStayHorizontal() {
        let (t, b) = boxes((0..<30).map(String.init), pitch: 16)
        XCTAssertFalse(t.rotated)
        XCTAssertEqual(t.shown, Array(stride(from: 0, to: 30, by: 2)))
        assertDisjoint(b)
        // One long label ("embed") among them is judged by its own width, not turning every number on its side.
        let (lens, lensBoxes) = boxes(["embed"] + (0..<30).map(String.init), pitch: 16)
        XCTAssertFalse(lens.rotated)
        XCTAssertEqual(lens.shown.first, 0)
        assertDisjoint(lensBoxes)
        let (wide, _) = boxes((0..<30).map(String.init), pitch: 40)
        XCTAssertEqual(wide.shown.count, 30)
    }

    func testNiceTicksAndTheirLabels() {
        let t = Ticks.nice(0.0163, 0.7015, maxCount: 6)
        XCTAssertEqual(t.values.map { Ticks.label($0, step: t.step) }, ["0.2", "0.4", "0.6"])
        XCTAssertLessThanOrEqual(t.values.count, 6)
        XCTAssertTrue(t.values.allSatisfy { $0 >= 0.0163 && $0 <= 0.7015 })
        let layers = Ticks.nice(-1.45, 30.45, maxCount: 8)
        XCTAssertEqual(layers.values, [0, 5, 10, 15, 20, 25, 30])
        XCTAssertEqual(Ticks.label(0.25, step: 0.25), "0.25")
        XCTAssertEqual(Ticks.label(-0.0, step: 0.1), "0.0")
        XCTAssertEqual(Ticks.label(-1e-17, step: 0.5), "0.0")
        XCTAssertEqual(Ticks.label(3e-6, step: 1e-6), "3e-06")
        XCTAssertEqual(Ticks.nice(2, 2, maxCount: 5).values, [2])
    }
}
