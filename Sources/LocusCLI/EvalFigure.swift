import ArgumentParser
import Foundation
import Locus

struct EvalFigure: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval-figure",
        abstract: "Plot sequential evaluation reports (locus eval --json) together: ES, NS and perplexity against the number of edits, one line per method.")

    @Option(help: "Output path without extension: writes PATH.png and PATH.svg.") var out: String
    @Argument(help: "JSON reports of `locus eval … --sequential --perplexity --checkpoint-every N --json`.") var reports: [String]

    func run() throws {
        guard !reports.isEmpty else { throw ValidationError("give at least one report") }
        var loaded: [(String, EvaluationReport)] = []
        for path in reports {
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch { throw ValidationError("\(path): cannot read: \(error.localizedDescription)") }
            do { loaded.append((path, try JSONDecoder().decode(EvaluationReport.self, from: data))) } catch {
                throw ValidationError("\(path): expected the JSON of `locus eval --json`: \(error)")
            }
        }
        let fig: LineFigure
        do { fig = try SequentialFigure.figure(loaded) } catch { throw ValidationError("\(error)") }
        try Data(try fig.png()).write(to: URL(fileURLWithPath: out + ".png"), options: .atomic)
        try Data(try fig.svg().utf8).write(to: URL(fileURLWithPath: out + ".svg"), options: .atomic)
        print("wrote \(out).png and \(out).svg")
    }
}
