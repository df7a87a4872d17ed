import Foundation

/// What one command printed, and the files it wrote that the notebook should link.
public struct CommandOutput: Sendable, Equatable {
    public var text: String
    public var files: [String]
    public init(text: String, files: [String] = []) {
        self.text = text
        self.files = files
    }
}

/// Runs one notebook command line (already split into arguments, `locus` omitted) in this process.
public protocol CommandExecutor {
    func execute(_ arguments: [String], defaultModel: String?, outputDirectory: String) throws -> CommandOutput
}

/// Runs notebooks: every block in order, outputs written back under each block.
public struct NotebookRunner {
    public let executor: CommandExecutor
    /// Outputs longer than this many lines are folded into a `<details>` element.
    public var foldLines = 40

    public init(executor: CommandExecutor) { self.executor = executor }

    public struct Report: Sendable {
        public var blocksRun = 0
        public var failure: (block: Int, line: Int, message: String)?
        public var seconds: Double = 0
    }

    /// Runs every block and returns the notebook with outputs replaced. A failing command stops the run:
    /// its error is written under its block, earlier outputs stay, later blocks keep their old outputs.
    ///
    /// Commands run in the notebook's folder, so relative paths in a notebook are relative to it, and
    /// results named with `as NAME` go to `<notebook name>.outputs/NAME` beside it.
    public func run(_ notebook: Notebook, path: String) -> (Notebook, Report) {
        var nb = notebook
        var report = Report()
        let start = Date()
        let fm = FileManager.default
        let previous = fm.currentDirectoryPath
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty { fm.changeCurrentDirectoryPath(folder) }
        defer { fm.changeCurrentDirectoryPath(previous) }
        let dir = "."
        let base = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        let outDir = base + ".outputs"
        // Every run starts from an empty outputs folder, so results (and ledgers) of earlier runs cannot leak in.
        try? fm.removeItem(atPath: outDir)
        var variables: [String: String] = [:]
        let model = nb.value("model")
        for (blockNumber, block) in nb.blocks.enumerated() {
            var pieces: [String] = []
            var failed: String?
            for raw in block.source {
                let line = raw.trimmingCharacters(in: .whitespaces)
                if line.isEmpty || line.hasPrefix("#") { continue }
                do {
                    var args = try splitArguments(expand(line, variables))
                    if args.first == "locus" { args.removeFirst() }
                    var name: String?
                    if args.count >= 2, args[args.count - 2] == "as" {
                        name = args.removeLast()
                        args.removeLast()
                    }
                    if let name, !args.contains("--out") {
                        args += ["--out", outDir + "/" + name]
                        try fm.createDirectory(atPath: outDir, withIntermediateDirectories: true)
                    }
                    let out = try executor.execute(args, defaultModel: model, outputDirectory: outDir)
                    if let name, let i = args.firstIndex(of: "--out"), i + 1 < args.count { variables[name] = args[i + 1] }
                    pieces.append(render(out, relativeTo: dir))
                } catch {
                    failed = "\(error)"
                    pieces.append("```text\nerror: \(error)\n```")
                    report.failure = (blockNumber, 0, "\(error)")
                    break
                }
            }
            nb.setOutput(pieces.joined(separator: "\n"), at: block.index)
            report.blocksRun += 1
            if failed != nil { break }
        }
        report.seconds = Date().timeIntervalSince(start)
        return (nb, report)
    }

    /// Replaces `$NAME` with the output path of an earlier `as NAME` command.
    func expand(_ line: String, _ variables: [String: String]) throws -> String {
        var out = line
        for (k, v) in variables.sorted(by: { $0.key.count > $1.key.count }) { out = out.replacingOccurrences(of: "$" + k, with: v) }
        if let r = out.range(of: #"\$[A-Za-z_][A-Za-z0-9_]*"#, options: .regularExpression) {
            throw NotebookError(line: 0, message: "unknown variable \(out[r]): name an earlier result with `as NAME`")
        }
        return out
    }

    func render(_ out: CommandOutput, relativeTo dir: String) -> String {
        var parts: [String] = []
        let text = out.text.trimmingCharacters(in: .newlines)
        if !text.isEmpty {
            let lines = text.components(separatedBy: "\n")
            let fenced = "```text\n" + text + "\n```"
            if lines.count > foldLines {
                parts.append("<details><summary>output (\(lines.count) lines)</summary>\n\n" + fenced + "\n\n</details>")
            } else {
                parts.append(fenced)
            }
        }
        for f in out.files {
            let rel = f.hasPrefix(dir + "/") ? String(f.dropFirst(dir.count + 1)) : f
            let name = (f as NSString).lastPathComponent
            // A figure written as both PNG and SVG is shown once (the PNG), with the SVG linked.
            let pngTwin = f.hasSuffix(".svg") && out.files.contains(String(f.dropLast(4)) + ".png")
            if (f.hasSuffix(".svg") && !pngTwin) || f.hasSuffix(".png") { parts.append("![\(name)](\(rel))") } else { parts.append("[\(name)](\(rel))") }
        }
        return parts.joined(separator: "\n\n")
    }
}

/// Splits a command line like a shell does for words and quotes (no globbing, no expansion).
public func splitArguments(_ line: String) throws -> [String] {
    var args: [String] = []
    var current = ""
    var inWord = false
    var quote: Character?
    var escaped = false
    for c in line {
        if escaped {
            current.append(c)
            escaped = false
            continue
        }
        if c == "\\" && quote != "'" {
            escaped = true
            inWord = true
            continue
        }
        if let q = quote {
            if c == q { quote = nil } else { current.append(c) }
            continue
        }
        if c == "\"" || c == "'" {
            quote = c
            inWord = true
        } else if c == " " || c == "\t" {
            if inWord { args.append(current) }
            current = ""
            inWord = false
        } else {
            current.append(c)
            inWord = true
        }
    }
    if quote != nil { throw NotebookError(line: 0, message: "unclosed quote in: \(line)") }
    if inWord { args.append(current) }
    return args
}
