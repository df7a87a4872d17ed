import Foundation

/// Axis ticks: where they go and how their labels are written.
enum Ticks {
    /// Values a "nice" step apart (1, 2, 2.5 or 5 × 10^k) inside [lo, hi], at most `maxCount` of them (at least one).
    static func nice(_ lo: Double, _ hi: Double, maxCount: Int) -> (values: [Double], step: Double) {
        guard hi > lo, lo.isFinite, hi.isFinite else { return ([lo.isFinite ? lo : 0], 1) }
        let raw = (hi - lo) / Double(max(maxCount - 1, 1)), magnitude = pow(10, (log10(raw)).rounded(.down))
        for m in [1, 2, 2.5, 5, 10, 20] {
            let step = m * magnitude
            let first = (lo / step - 1e-9).rounded(.up), last = (hi / step + 1e-9).rounded(.down)
            if Int(last - first) + 1 <= max(maxCount, 1) && last >= first {
                return (stride(from: first, through: last, by: 1).map { $0 * step + 0 }, step)
            }
        }
        return ([lo, hi], hi - lo)
    }

    /// `v` written with as many decimals as `step` needs (`%g` for very large or very small steps).
    static func label(_ v: Double, step: Double) -> String {
        guard step > 0, step.isFinite else { return String(format: "%g", v) }
        if step >= 1e5 || step < 1e-4 { return String(format: "%g", v) }
        var decimals = max(0, Int((-log10(step)).rounded(.up)))
        if abs(step * pow(10, Double(decimals)) - (step * pow(10, Double(decimals))).rounded()) > 1e-6 { decimals += 1 }
        let s = String(format: "%.\(decimals)f", v)
        return s.hasPrefix("-") && Double(s) == 0 ? String(s.dropFirst()) : s
    }
}

/// Which of an axis' labels are drawn, and how, so that no two overlap: labels centred on positions `pitch`
/// apart are thinned to every 1st, 2nd, 5th, 10th, 20th, … and, along a horizontal axis, rotated to read bottom
/// to top when that keeps many more of them.
struct TickLabels: Equatable {
    /// Indices of the labels drawn.
    let shown: [Int]
    /// Whether the labels are rotated 90° counter-clockwise.
    let rotated: Bool
    /// The space the labels take across the axis.
    let depth: Double

    static let steps = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000]

    /// The smallest step (at least `every`) at which labels `extents` long along the axis, centred `pitch` apart,
    /// keep `gap` between neighbours that are drawn (a step past the last label draws only the first).
    static func step(extents: [Double], pitch: Double, gap: Double, every: Int) -> Int {
        func fits(_ s: Int) -> Bool {
            stride(from: s, to: extents.count, by: s).allSatisfy { j in (extents[j - s] + extents[j]) / 2 + gap <= Double(s) * pitch }
        }
        return steps.first { $0 >= every && fits($0) } ?? max(extents.count, 1)
    }

    /// Labels of `sizes` under a horizontal axis, centred on positions `pitch` apart; `every` (> 0) asks for at
    /// least that step. Horizontal labels are kept `gap` apart, rotated ones `lineGap` (as lines of text are);
    /// horizontal unless rotating keeps more than twice as many labels.
    static func horizontalAxis(_ sizes: [TextSize], pitch: Double, gap: Double, lineGap: Double = 2, every: Int = 0) -> TickLabels {
        let width = sizes.map(\.width).max() ?? 0, height = sizes.map(\.height).max() ?? 0
        let flat = step(extents: sizes.map(\.width), pitch: pitch, gap: gap, every: max(every, 1))
        let upright = step(extents: sizes.map { _ in height }, pitch: pitch, gap: lineGap, every: max(every, 1))
        let rotated = 2 * upright < flat
        let s = rotated ? upright : flat
        return TickLabels(shown: Array(stride(from: 0, to: sizes.count, by: s)), rotated: rotated, depth: sizes.isEmpty ? 0 : rotated ? width : height)
    }

    /// Draws the labels under a horizontal axis at `y`, label `i` centred on `x(i)`; returns their boxes.
    @discardableResult
    func drawBelow(_ labels: [String], x: (Int) -> Double, y: Double, on canvas: Canvas, _ font: Font) -> [Rect] {
        shown.map { i in
            canvas.text(labels[i], at: Point(x: x(i), y: y), anchor: rotated ? (1, 0.5) : (0.5, 0), font, rotated: rotated)
        }
    }
}
