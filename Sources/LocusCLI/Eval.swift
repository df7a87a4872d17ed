import ArgumentParser
import Foundation
import Locus

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Edit CounterFact or zsRE records and print the paper-style table before and after.",
        discussion: """
            CounterFact: ES/PS/NS are the % of rewrite/paraphrase/neighbourhood prompts where P(new) > P(true) \
            (neighbourhood: P(true) > P(new)); EM/PM/NM the mean differences of those probabilities (×100); S the \
            harmonic mean of ES, PS, NS; GE the generation n-gram entropy (with --generation). zsRE: token accuracy. \
            Each batch is edited from the unedited model and scored, then undone (the ROME/MEMIT protocol), unless \
            --sequential keeps every batch (the AlphaEdit protocol; records are scored at the end).
            """)

    @OptionGroup var options: ModelOptions
    @OptionGroup var editing: EditingOptions
    @Argument(help: "counterfact or zsre") var dataset: String
    @Option(help: "\(EditMethod.names).") var method: EditMethod = .rome
    @Option(help: "Records to edit.") var records = 50
    @Option(help: "Skip this many records first.") var offset = 0
    @Option(help: "Requests per edit (ROME and r-ROME: 1).") var batch = 1
    @Flag(help: "Keep every batch, then score all records at the end.") var sequential = false
    @Option(help: "Generation prompts per record for the n-gram entropy GE (0: none).") var generation = 0
    @Flag(help: "Measure the WikiText perplexity canary after each edit.") var perplexity = false
    @Option(help: "With --sequential and --perplexity: also measure it after every N edits.") var checkpointEvery: Int?
    @Option(help: "A dataset file in the ROME or EasyEdit format (default: the shipped one).") var data: String?
    @Option(
        help: ArgumentHelp(
            "Keep the run's progress in this folder (start.h5, then one part-NNNNNN.h5 per save, appended) and continue from it when it holds a run with the same settings.",
            valueName: "folder"))
    var resume: String?
    @Option(help: "With --resume: save at least every N edits.") var saveEvery = 25
    @Option(help: "With --resume: stop (saved) after editing N more records; run the same command again to go on.") var stopAfter: Int?
    @Option(
        parsing: .upToNextOption,
        help: "MEMIT only: evaluate at each of these mom2 weights λ, reusing one z optimisation per batch (a table per λ).")
    var lambdas: [Double] = []

    func run() throws {
        guard let ds = Evaluation.Dataset(rawValue: dataset) else { throw ValidationError("dataset must be counterfact or zsre") }
        if method.editsOneRequest && batch != 1 { throw ValidationError("\(method.rawValue) edits one request at a time: use --batch 1") }
        if !lambdas.isEmpty && (method != .memit || sequential) {
            throw ValidationError("--lambdas sweeps MEMIT's λ over independent batches: use it with --method memit and without --sequential")
        }
        if resume != nil && !lambdas.isEmpty { throw ValidationError("--resume does not apply to a λ sweep (--lambdas)") }
        if saveEvery < 1 { throw ValidationError("--save-every needs a positive count") }
        if let n = stopAfter, n < 1 || resume == nil { throw ValidationError("--stop-after needs a positive count and --resume") }
        if let n = checkpointEvery, n < 1 || !sequential || !perplexity {
            throw ValidationError("--checkpoint-every needs a positive count, --sequential and --perplexity")
        }
        let m = try options.load()
        var requests: [EditRequest] = []
        var skipped: [String] = []
        // Records that are not valid requests (a zsRE question without its subject in it, say) are
        // skipped and reported, as the reference's dataset loaders would fail on them.
        switch ds {
        case .counterfact:
            let all = try Datasets.counterFact(path: data)
            for r in all.dropFirst(offset) where requests.count < records {
                do { requests.append(try EditRequest(counterFact: r)) } catch { skipped.append("\(error)") }
            }
        case .zsre:
            let all = try Datasets.zsRE(path: data)
            for (i, r) in all.enumerated().dropFirst(offset) where requests.count < records {
                do { requests.append(try EditRequest(zsRE: r, index: i)) } catch { skipped.append("\(error)") }
            }
        }
        for s in skipped { log("skipped: \(s)") }
        let e = try editing.editor(m, persistLedger: false)
        if !lambdas.isEmpty {
            let reports = try Evaluation.lambdaSweep(
                editor: e, requests: requests, dataset: ds, lambdas: lambdas, batch: batch, generationPrompts: generation,
                perplexity: perplexity, log: { log($0) })
            if options.json { return try printJSON(reports) }
            for r in reports {
                print(String(format: "λ = %g", r.hyperparameters.locate?.mom2UpdateWeight ?? .nan))
                printReport(r, model: m, skipped: skipped)
            }
            return
        }
        let report = try Evaluation.run(
            editor: e, requests: requests, dataset: ds, method: method, batch: batch, sequential: sequential,
            generationPrompts: generation, perplexity: perplexity, checkpointEvery: checkpointEvery,
            checkpoint: resume.map { EvaluationCheckpoint(directory: $0, every: saveEvery) }, stopAfter: stopAfter, log: { log($0) })
        if options.json { return try printJSON(report) }
        printReport(report, model: m, skipped: skipped)
    }

    func printReport(_ report: EvaluationReport, model m: LanguageModel, skipped: [String]) {
        print("\(dataset), \(method.rawValue), \(report.records) records from \(offset), batch \(batch)\(sequential ? ", sequential" : ""), \((m.path as NSString).lastPathComponent)")
        if let n = report.stoppedAfter {
            print("  stopped after \(n) of \(report.records) records; run the same command to go on" + (sequential ? " (scores after come at the end)" : " (the table covers those records)"))
        }
        if let b = report.counterFactBefore, let a = report.counterFactAfter {
            print("  " + CounterFactSummary.header(withGE: a.GE != nil))
            print("  " + b.row("before"))
            print("  " + a.row("after"))
        }
        if let b = report.zsreBefore, let a = report.zsreAfter {
            print("          Efficacy  Generalization  Specificity")
            print(String(format: "  before  %8.1f  %14.1f  %11.1f", b.efficacy, b.generalization, b.specificity))
            print(String(format: "  after   %8.1f  %14.1f  %11.1f", a.efficacy, a.generalization, a.specificity))
        }
        if let b = report.perplexityBefore, let a = report.perplexityAfter { print(String(format: "  WikiText perplexity %.3f → %.3f", b, a)) }
        if let t = report.perplexityTrajectory {
            print("  perplexity after N edits: " + t.map { String(format: "%d: %.2f", $0.edits, $0.perplexity) }.joined(separator: ", "))
        }
        print(String(format: "  median %.2f s per edit%@, %.0f s in all", report.medianSecondsPerEdit, batch > 1 ? " (batch)" : "", report.totalSeconds))
        if !skipped.isEmpty { print("  \(skipped.count) record(s) skipped as invalid requests") }
        if let first = report.notEdited.first { print("  \(report.notEdited.count) batch(es) not edited (scored as they were), e.g. \(first)") }
        if let first = report.guardFailures.first { print("  \(report.guardFailures.count) guard failure(s), e.g. \(first)") }
    }
}
