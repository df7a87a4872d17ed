import ArgumentParser
import Foundation
import Locus

struct Edit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Edit facts (ROME, r-ROME, MEMIT, EMMET, AlphaEdit, FT-L, FT-M, LoRA); each edit is verified, rolled back if it fails a guard, and recorded in the ledger.",
        discussion: """
            Request files (YAML or JSON) hold one request or a list: subject, prompt (with {} or containing the subject), \
            target_new, optional target_true, paraphrases, neighbours. CounterFact and zsRE records are accepted as they are. \
            See Edits/ for examples. ROME, r-ROME and GRACE edit requests one after another; the other methods edit them as one batch.
            """)

    @OptionGroup var options: ModelOptions
    @OptionGroup var editing: EditingOptions
    @Option(help: "\(EditMethod.names).") var method: EditMethod = .rome
    @Flag(name: .customLong("dry-run"), help: "Compute and verify, but keep nothing.") var dryRun = false
    @Argument(help: "Request files.") var files: [String]

    func run() throws {
        let m = try options.load()
        var requests: [EditRequest] = []
        for f in files { requests += try RequestFile.load(f) }
        let e = try editing.editor(m, persistLedger: !dryRun)
        let logger: (String) -> Void = options.json ? { _ in } : { log($0) }
        var outcomes: [EditOutcome] = []
        let batches = method.editsOneRequest ? requests.map { [$0] } : [requests]
        for b in batches {
            try e.checkTargets(b)
            let p = try e.propose(b, method: method, log: logger)
            let o = dryRun ? try e.dryRun(p) : try e.commit(p, counterFact: true)
            outcomes.append(o)
            if !options.json { printOutcome(o, b) }
        }
        if options.json {
            try printJSON(outcomes)
        } else if !dryRun {
            print("ledger: \(editing.ledgerPath(for: m)) (\(e.ledger.entries.count) edit(s))")
        }
        if outcomes.contains(where: { !$0.passed }) { throw ExitCode(2) }
    }

    func printOutcome(_ o: EditOutcome, _ rs: [EditRequest]) {
        let state = o.dryRun == true ? (o.passed ? "VERIFIED (dry run, nothing kept)" : "FAILED (dry run, nothing kept)")
            : (o.applied ? "applied" : "ROLLED BACK")
        print("\(state) \(o.method.rawValue) \(o.requests.joined(separator: ", ")) in \(String(format: "%.1f", o.seconds)) s")
        for (i, r) in rs.enumerated() where i < o.newProbabilityAfter.count {
            var line = "  \(r.filledPrompt) → \(r.targetNew): P(new) \(String(format: "%.3f", o.newProbabilityBefore[i])) → \(String(format: "%.3f", o.newProbabilityAfter[i]))"
            if let t = r.targetTrue, let b = o.trueProbabilityBefore[i], let a = o.trueProbabilityAfter[i] {
                line += ", P(\(t)) \(String(format: "%.3f", b)) → \(String(format: "%.3f", a))"
            }
            print(line)
        }
        if let b = o.counterFactBefore, let a = o.counterFactAfter, !b.isEmpty {
            print("  " + CounterFactSummary.header(withGE: false))
            print("  " + CounterFactSummary(b).row("before"))
            print("  " + CounterFactSummary(a).row("after"))
        }
        if let b = o.perplexityBefore, let a = o.perplexityAfter { print(String(format: "  WikiText perplexity %.3f → %.3f", b, a)) }
        for (t, r) in o.relativeNorms.sorted(by: { WeightDelta.targetOrder($0.key, $1.key) }) { print(String(format: "  %@: ‖ΔW‖/‖W‖ = %.4f", WeightDelta.describe(t), r)) }
        for f in o.failures { print("  guard: \(f)") }
    }
}

extension EditMethod: ExpressibleByArgument {}

extension Editor {
    /// Verification only: the outcome `commit` would report, with nothing kept.
    func dryRun(_ p: EditProposal) throws -> EditOutcome {
        let saved = ledgerPath
        ledgerPath = nil
        defer { ledgerPath = saved }
        let o = try commit(p, counterFact: true)
        if o.applied { try revert(last: 1) }
        var r = o
        r.applied = false
        r.dryRun = true
        return r
    }
}

extension EditOutcome {
    /// Kept, or (dry run) verified with nothing failing: what `locus edit` exits 0 for.
    var passed: Bool { dryRun == true ? failures.isEmpty : applied }
}

struct Revert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Undo the last edits in the ledger; the weights become bit for bit what they were before them.")

    @OptionGroup var options: ModelOptions
    @Option(help: "The edit ledger. Default: beside the model file.") var ledger: String?
    @Option(help: "How many of the last edits to undo.") var last = 1

    func run() throws {
        let m = try options.load()
        let path = ledger ?? Ledger.defaultPath(forModel: m.path)
        guard FileManager.default.fileExists(atPath: path) else { throw EditError.nothingToRevert(file: path, requested: "no ledger file") }
        let e = try Editor(model: m, ledgerPath: path)
        let before = e.ledger.entries.count
        try e.revert(last: last)
        var sums: [String] = []
        for l in Set(e.base.weights.blocks.indices) where e.transformer.weights.blocks[l].wOut != e.base.weights.blocks[l].wOut {
            sums.append("layer \(l) \(Checksum.fnv1a(e.transformer.weights.blocks[l].wOut.weight))")
        }
        if options.json {
            struct R: Encodable { let ledger: String; let editsBefore: Int; let editsAfter: Int }
            return try printJSON(R(ledger: path, editsBefore: before, editsAfter: e.ledger.entries.count))
        }
        print("reverted \(last) edit(s): \(before) → \(e.ledger.entries.count) in \(path); replay verified bit for bit")
        if e.ledger.entries.isEmpty { print("the weights are the model file's own") }
    }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the edited model as a GGUF file (edited tensors F32 or F16, the rest copied as they are, metadata kept plus an edit record).")

    @OptionGroup var options: ModelOptions
    @Option(help: "The edit ledger. Default: beside the model file.") var ledger: String?
    @Option(help: "Output GGUF file.") var out: String
    @Option(name: .customLong("type"), help: "Type of the edited tensors: f32 or f16.") var type: String = "f32"

    func run() throws {
        let m = try options.load()
        let path = ledger ?? Ledger.defaultPath(forModel: m.path)
        guard let precision = ModelExport.Precision(rawValue: type.lowercased()) else {
            throw ValidationError("--type must be f32 or f16, not \(type)")
        }
        guard let gguf = m.gguf else {
            throw ValidationError("export writes a GGUF copy of a GGUF model; \(m.path) is a Hugging Face folder (convert it with llama.cpp's convert_hf_to_gguf.py first)")
        }
        let e = try Editor(model: m, ledgerPath: FileManager.default.fileExists(atPath: path) ? path : nil)
        try ModelExport.export(gguf: gguf, base: e.base, edited: e.transformer, ledger: e.ledger, to: out, precision: precision)
        // Check the file reads back with the edited weights.
        let back = try LanguageModel(path: out)
        for l in Set(e.ledger.entries.flatMap { $0.deltas.map(\.layer) }) {
            let a = back.transformer.weights.blocks[l].wOut.weight, b = e.transformer.weights.blocks[l].wOut.weight
            let same = precision == .f32 ? a == b : zip(a, b).allSatisfy { $0 == Float(Float16($1)) }
            guard same else { throw EditError.ledgerMismatch(file: out, field: "blk.\(l).ffn_down.weight", expected: "the edited weights", found: "different values on reload") }
        }
        print("wrote \(out): \(e.ledger.entries.count) edit(s), edited tensors \(precision.rawValue.uppercased()); reloaded and checked")
    }
}
