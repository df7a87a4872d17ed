import Foundation

/// A markdown notebook: front matter, prose, runnable ```` ```locus ```` blocks and the outputs
/// Locus wrote under them.
///
/// The file is kept as a list of segments so that re-running replaces each block's output in place
/// and leaves every other byte of the file as it was.
public struct Notebook: Equatable, Sendable {
    /// `key: value` pairs from a leading `---` front-matter block (flat YAML subset).
    public var frontMatter: [(key: String, value: String)]
    public var segments: [Segment]

    public enum Segment: Equatable, Sendable {
        /// Text kept verbatim (includes the front matter block itself).
        case text(String)
        /// A runnable block: its source lines (commands), and the output written under it, if any.
        case block(source: [String], output: String?)
    }

    public static func == (a: Notebook, b: Notebook) -> Bool {
        a.segments == b.segments && a.frontMatter.map { "\($0.key)=\($0.value)" } == b.frontMatter.map { "\($0.key)=\($0.value)" }
    }

    public func value(_ key: String) -> String? { frontMatter.last { $0.key == key }?.value }

    public var blocks: [(index: Int, source: [String], output: String?)] {
        segments.enumerated().compactMap { i, s in
            if case .block(let src, let out) = s { return (i, src, out) }
            return nil
        }
    }

    static let openFence = "```locus"
    static let outputStart = "<!-- locus:output -->"
    static let outputEnd = "<!-- /locus:output -->"

    /// Parses a notebook. Outputs are recognised only directly under a block (blank lines between allowed).
    public init(markdown: String) throws(NotebookError) {
        var lines = markdown.components(separatedBy: "\n")
        // An empty file has one empty line and no newline (it is written back empty).
        let trailingNewline = markdown.hasSuffix("\n")
        if trailingNewline { lines.removeLast() }
        var segments: [Segment] = []
        var text: [String] = []
        var front: [(String, String)] = []
        var i = 0
        if lines.first == "---" {
            var j = 1
            while j < lines.count && lines[j] != "---" {
                let l = lines[j]
                if let colon = l.firstIndex(of: ":"), !l.hasPrefix(" "), !l.hasPrefix("#") {
                    let k = l[..<colon].trimmingCharacters(in: .whitespaces)
                    var v = l[l.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                    if v.count >= 2, (v.hasPrefix("\"") && v.hasSuffix("\"")) || (v.hasPrefix("'") && v.hasSuffix("'")) {
                        v = String(v.dropFirst().dropLast())
                    }
                    front.append((k, v))
                }
                j += 1
            }
            guard j < lines.count else { throw NotebookError(line: 1, message: "front matter opened with '---' is never closed") }
            text.append(contentsOf: lines[0...j])
            i = j + 1
        }
        func flushText() {
            if !text.isEmpty { segments.append(.text(text.joined(separator: "\n"))) }
            text = []
        }
        while i < lines.count {
            let line = lines[i]
            if line.trimmingCharacters(in: .whitespaces) == Self.openFence {
                let start = i + 1
                var j = start
                while j < lines.count && lines[j].trimmingCharacters(in: .whitespaces) != "```" { j += 1 }
                guard j < lines.count else { throw NotebookError(line: i + 1, message: "```locus block is never closed") }
                let source = Array(lines[start..<j])
                // An output block may follow after blank lines.
                var k = j + 1
                while k < lines.count && lines[k].trimmingCharacters(in: .whitespaces).isEmpty { k += 1 }
                var output: String?
                var next = j + 1
                if k < lines.count && lines[k] == Self.outputStart {
                    var e = k + 1
                    while e < lines.count && lines[e] != Self.outputEnd { e += 1 }
                    guard e < lines.count else { throw NotebookError(line: k + 1, message: "output block is never closed (\(Self.outputEnd))") }
                    output = lines[(k + 1)..<e].joined(separator: "\n")
                    next = e + 1
                }
                flushText()
                segments.append(.block(source: source, output: output))
                i = next
                continue
            }
            text.append(line)
            i += 1
        }
        flushText()
        self.frontMatter = front
        self.segments = segments
        self.trailingNewline = trailingNewline
    }

    private var trailingNewline = true

    /// The notebook as markdown, with each block's output (if any) written under it.
    public var markdown: String {
        var parts: [String] = []
        for s in segments {
            switch s {
            case .text(let t): parts.append(t)
            case .block(let source, let output):
                var b = ([Self.openFence] + source + ["```"]).joined(separator: "\n")
                if let output { b += "\n\n" + Self.outputStart + "\n" + output + "\n" + Self.outputEnd }
                parts.append(b)
            }
        }
        return parts.joined(separator: "\n") + (trailingNewline ? "\n" : "")
    }

    /// Replaces the output of the segment at `index` (a block).
    public mutating func setOutput(_ output: String?, at index: Int) {
        guard case .block(let src, _) = segments[index] else { return }
        segments[index] = .block(source: src, output: output)
    }
}

/// A notebook that cannot be parsed or run, with the line it concerns.
public struct NotebookError: Error, CustomStringConvertible, Equatable, Sendable {
    public let line: Int
    public let message: String
    public init(line: Int, message: String) {
        self.line = line
        self.message = message
    }
    public var description: String { "line \(line): \(message)" }
}
