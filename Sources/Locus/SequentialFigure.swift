import Foundation

/// The figure of sequential editing runs: efficacy and neighbourhood scores of the first records
/// edited, and the WikiText perplexity, against the number of edits, one line per run (method).
public enum SequentialFigure {
    /// Points of one report: (edits, ES, NS, perplexity) at 0 edits and at every checkpoint that scored
    /// the first records. At 0 edits ES and NS are the scores before editing of the run's records.
    /// A checkpoint without scores (older reports) is plotted for perplexity only.
    public static func points(_ r: EvaluationReport) -> [(edits: Double, es: Double?, ns: Double?, perplexity: Double)] {
        var out: [(Double, Double?, Double?, Double)] = []
        for p in r.perplexityTrajectory ?? [] {
            if p.edits == 0 {
                out.append((0, r.counterFactBefore?.ES ?? r.zsreBefore?.efficacy, r.counterFactBefore?.NS ?? r.zsreBefore?.specificity, p.perplexity))
            } else if p.counterFact == nil && p.zsre == nil && p.edits == r.records && r.records <= Evaluation.trackedRecords {
                // A report made before checkpoints scored records: at the end, the scores after are those of the first records.
                out.append((Double(p.edits), r.counterFactAfter?.ES ?? r.zsreAfter?.efficacy, r.counterFactAfter?.NS ?? r.zsreAfter?.specificity, p.perplexity))
            } else {
                out.append((Double(p.edits), p.counterFact?.ES ?? p.zsre?.efficacy, p.counterFact?.NS ?? p.zsre?.specificity, p.perplexity))
            }
        }
        return out
    }

    /// Throws when a report is not a sequential run with a trajectory (`--sequential --perplexity
    /// --checkpoint-every N`), naming it.
    public static func figure(_ reports: [(name: String, report: EvaluationReport)]) throws -> LineFigure {
        var es: [LineSeries] = [], ns: [LineSeries] = [], ppl: [LineSeries] = []
        for (name, r) in reports {
            let pts = points(r)
            guard r.sequential, pts.count >= 2 else {
                throw ValidationFailure(
                    "\(name): expected a sequential run with a trajectory (locus eval … --sequential --perplexity --checkpoint-every N), found \(pts.count) point(s)")
            }
            let label = r.method.rawValue
            let scored = pts.filter { $0.es != nil && $0.ns != nil }
            es.append(LineSeries(name: label, x: scored.map(\.edits), y: scored.map { $0.es! }))
            ns.append(LineSeries(name: label, x: scored.map(\.edits), y: scored.map { $0.ns! }))
            ppl.append(LineSeries(name: label, x: pts.map(\.edits), y: pts.map { log10($0.perplexity) }))
        }
        let first = reports.first.map { min(Evaluation.trackedRecords, $0.report.records) } ?? 0
        return LineFigure(
            title: "Sequential editing (\(reports.first?.report.dataset ?? "")): the first \(first) records and WikiText perplexity",
            plots: [
                LinePlot(title: "Efficacy (ES) of the first records", xLabel: "edits", yLabel: "ES", series: es, yRange: 0...100),
                LinePlot(title: "Neighbourhood (NS)", xLabel: "edits", yLabel: "NS", series: ns, yRange: 0...100),
                LinePlot(title: "Perplexity", xLabel: "edits", yLabel: "log10 perplexity", series: ppl),
            ])
    }
}

/// A message for bad input to a figure.
public struct ValidationFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
