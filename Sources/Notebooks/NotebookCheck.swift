import Foundation

/// Compares outputs of a re-run with the outputs stored in the notebook, numbers within a tolerance.
public struct NotebookCheck {
    /// A number matches if |a − b| ≤ absolute + relative·|b|.
    public var absolute: Double
    public var relative: Double

    public init(absolute: Double = 1e-4, relative: Double = 1e-3) {
        self.absolute = absolute
        self.relative = relative
    }

    public struct Difference: Sendable, CustomStringConvertible {
        public let block: Int
        public let expected: String
        public let actual: String
        public var description: String {
            "block \(block + 1):\n" + lineDiff(expected, actual)
        }
    }

    /// Differences between the stored outputs of `stored` and those of `rerun` (block by block).
    public func compare(stored: Notebook, rerun: Notebook) -> [Difference] {
        var diffs: [Difference] = []
        for (n, (a, b)) in zip(stored.blocks, rerun.blocks).enumerated() {
            let e = a.output ?? "", f = b.output ?? ""
            if !matches(e, f) { diffs.append(Difference(block: n, expected: e, actual: f)) }
        }
        return diffs
    }

    /// True when the texts are equal after replacing numbers (and up to the width of runs of spaces),
    /// and the numbers agree within tolerance.
    public func matches(_ expected: String, _ actual: String) -> Bool {
        let (se, ne) = Self.split(expected), (sa, na) = Self.split(actual)
        guard se == sa, ne.count == na.count else { return false }
        for (x, y) in zip(na, ne) where abs(x - y) > absolute + relative * abs(y) { return false }
        return true
    }

    static let number = try! NSRegularExpression(pattern: #"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?"#)
    /// Durations and rates ("86.8 s", "12 ms", "540 tok/s"): run time, which a check ignores.
    static let duration = try! NSRegularExpression(pattern: #"[-+]?(?:\d+\.\d*|\.\d+|\d+)\s?(?:s|ms|seconds|tok/s)\b"#)

    static let spaces = try! NSRegularExpression(pattern: #"[ \t]+"#)

    /// The text with numbers replaced by a marker and runs of spaces by one space, and the numbers
    /// (durations are dropped).
    static func split(_ s: String) -> (String, [Double]) {
        let s = duration.stringByReplacingMatches(in: s, range: NSRange(location: 0, length: (s as NSString).length), withTemplate: "<time>")
        let ns = s as NSString
        var skeleton = ""
        var numbers: [Double] = []
        var last = 0
        for m in number.matches(in: s, range: NSRange(location: 0, length: ns.length)) {
            skeleton += ns.substring(with: NSRange(location: last, length: m.range.location - last)) + "#"
            numbers.append(Double(ns.substring(with: m.range)) ?? .nan)
            last = m.range.location + m.range.length
        }
        skeleton += ns.substring(from: last)
        // Runs of spaces are column alignment, not content: a table re-aligned still matches.
        skeleton = spaces.stringByReplacingMatches(in: skeleton, range: NSRange(location: 0, length: (skeleton as NSString).length), withTemplate: " ")
        return (skeleton, numbers)
    }
}

/// A readable line diff: lines only in the stored output with "-", only in the new one with "+".
func lineDiff(_ a: String, _ b: String) -> String {
    let x = a.components(separatedBy: "\n"), y = b.components(separatedBy: "\n")
    var out: [String] = []
    let n = max(x.count, y.count)
    for i in 0..<n {
        let l = i < x.count ? x[i] : nil, r = i < y.count ? y[i] : nil
        if l == r { continue }
        if let l { out.append("- " + l) }
        if let r { out.append("+ " + r) }
        if out.count > 40 {
            out.append("  ...")
            break
        }
    }
    return out.joined(separator: "\n")
}
