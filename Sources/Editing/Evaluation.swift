import Foundation
import Models

/// The before/after table of an evaluation run.
public struct EvaluationReport: Sendable, Codable {
    public var dataset: String
    public var method: EditMethod
    public var records: Int
    public var batch: Int
    public var sequential: Bool
    public var counterFactBefore: CounterFactSummary?
    public var counterFactAfter: CounterFactSummary?
    public var zsreBefore: ZSRESummary?
    public var zsreAfter: ZSRESummary?
    /// WikiText perplexity of the unedited model and after the edits (mean over edits when they
    /// are independent), when requested.
    public var perplexityBefore: Double?
    public var perplexityAfter: Double?
    /// Sequential runs with perplexity: the canary perplexity after every `checkpointEvery` edits
    /// (edits applied so far, perplexity), the curve along which sequential editing degrades a model.
    public var perplexityTrajectory: [PerplexityPoint]?
    /// Seconds to compute each edit (or batch), median.
    public var medianSecondsPerEdit: Double
    public var totalSeconds: Double
    /// Edits or batches that the guards would have rolled back (they are still scored and, in a
    /// sequential run, kept).
    public var guardFailures: [String]
    /// Batches whose update could not be computed or applied (non-finite v*, a singular solve): left
    /// unedited and scored as they were, so their records count as failures.
    public var notEdited: [String]
    public var hyperparameters: MethodHyperparameters
    /// Records done when the run stopped early to be resumed (`stopAfter`); nil for a finished run.
    /// The scores after cover only those records (independent batches) or are absent (sequential).
    public var stoppedAfter: Int? = nil
}

/// The canary perplexity after some number of sequentially applied edits, and the scores of the
/// first records edited (the first `Evaluation.trackedRecords`, or all edited so far when fewer),
/// which show how long the earliest edits last.
public struct PerplexityPoint: Sendable, Codable {
    public var edits: Int
    public var perplexity: Double
    /// How many of the first records `counterFact`/`zsre` summarise (nil at 0 edits or in earlier reports).
    public var firstRecords: Int? = nil
    public var counterFact: CounterFactSummary? = nil
    public var zsre: ZSRESummary? = nil
}

extension EvaluationReport {
    /// A report from per-record scores before and after (summarised for the dataset), the canary
    /// perplexities after the edits (their mean is reported), and the seconds each edit or batch took.
    init(
        dataset: Evaluation.Dataset, method: EditMethod, records: Int, batch: Int, sequential: Bool,
        before: ([CounterFactScores], [ZSREScores]), after: ([CounterFactScores], [ZSREScores]), perplexityBefore: Double?,
        perplexitiesAfter: [Double], trajectory: [PerplexityPoint], times: [Double], start: Date, earlierSeconds: Double = 0,
        failures: [String], notEdited: [String], hyperparameters: MethodHyperparameters
    ) {
        self.init(
            dataset: dataset.rawValue, method: method, records: records, batch: batch, sequential: sequential,
            counterFactBefore: dataset == .counterfact ? CounterFactSummary(before.0) : nil,
            counterFactAfter: dataset == .counterfact ? CounterFactSummary(after.0) : nil,
            zsreBefore: dataset == .zsre ? ZSRESummary(before.1) : nil, zsreAfter: dataset == .zsre ? ZSRESummary(after.1) : nil,
            perplexityBefore: perplexityBefore, perplexityAfter: perplexitiesAfter.isEmpty ? nil : mean(perplexitiesAfter),
            perplexityTrajectory: trajectory.count > 1 ? trajectory : nil, medianSecondsPerEdit: median(times),
            totalSeconds: earlierSeconds + Date().timeIntervalSince(start), guardFailures: failures, notEdited: notEdited,
            hyperparameters: hyperparameters)
    }
}

/// Runs edits over CounterFact or zsRE records and scores them as the reference
/// `experiments/evaluate.py` does: every batch is edited from the unedited model and scored right
/// after, then the model is restored (`sequential == false`); or the batches are applied one after
/// another and all records are scored at the end (`sequential == true`, the AlphaEdit protocol).
public enum Evaluation {
    public enum Dataset: String, Sendable { case counterfact, zsre }

    /// At every checkpoint of a sequential run, the first this many records are scored again.
    public static let trackedRecords = 1000

    /// The per-record scores of `requests` on `t`.
    static func score(
        _ verifier: Verifier, _ dataset: Dataset, _ t: Transformer, _ rs: [EditRequest], generationPrompts: Int
    ) throws(EditError) -> ([CounterFactScores], [ZSREScores]) {
        switch dataset {
        case .counterfact:
            var s = try verifier.counterFact(t, rs)
            if generationPrompts > 0 {
                for (i, r) in rs.enumerated() {
                    let prompts = Array(r.generationPrompts.prefix(generationPrompts))
                    if !prompts.isEmpty { s[i].ngramEntropy = try verifier.generationEntropy(t, prompts: prompts).entropy }
                }
            }
            return (s, [])
        case .zsre: return ([], try verifier.zsRE(t, rs))
        }
    }

    /// Edits `requests` in batches of `batch` and scores them before and after (see the type).
    ///
    /// With `checkpoint`, the run saves what it has done there (the scores before editing at once,
    /// then at least every `checkpoint.every` edits and at every perplexity checkpoint) and, when the
    /// folder already holds the progress of a run with the same settings, continues from it: the
    /// ledger's edits are replayed bit for bit and the records already done are not edited again.
    /// `stopAfter` ends the run, saved, once it has edited that many records (a long run done in
    /// slices); the report then says `stoppedAfter`.
    public static func run(
        editor: Editor, requests: [EditRequest], dataset: Dataset, method: EditMethod, batch: Int, sequential: Bool,
        generationPrompts: Int = 0, perplexity: Bool = false, checkpointEvery: Int? = nil, checkpoint: EvaluationCheckpoint? = nil,
        stopAfter: Int? = nil, log: ((String) -> Void)? = nil
    ) throws(EditError) -> EvaluationReport {
        let start = Date()
        guard let encoder = editor.encoder else { throw .unsupported(what: "evaluation", reason: "the session has no tokenizer") }
        let verifier = Verifier(encoder: encoder)
        let h = try editor.methodHyperparameters(method)
        let base = editor.transformer
        let canary = perplexity && !editor.canary.isEmpty
        func scores(_ t: Transformer, _ rs: [EditRequest]) throws(EditError) -> ([CounterFactScores], [ZSREScores]) {
            try score(verifier, dataset, t, rs, generationPrompts: generationPrompts)
        }
        let settings = EvaluationSettings(
            dataset: dataset.rawValue, method: method, batch: batch, sequential: sequential, perplexity: perplexity,
            checkpointEvery: checkpointEvery, generationPrompts: generationPrompts,
            canary: "\(editor.canary.map(\.count).reduce(0, +)) tokens, \(Checksum.fnv1a(editor.canary.flatMap { $0 }.map(Float.init)))",
            modelSHA256: editor.modelSHA256, hyperparameters: h, requests: requests.map(\.id))
        var pr = EvaluationProgress(settings: settings)
        var saved = 0
        var cursor: CheckpointCursor?
        /// The first save writes the start of the run, later ones append what was done since.
        func save() throws(EditError) {
            guard let checkpoint else { return }
            var p = pr
            p.ledgerEntries = editor.ledger.entries.count
            p.earlierSeconds += Date().timeIntervalSince(start)
            if cursor == nil {
                cursor = try checkpoint.start(p)
            } else {
                try checkpoint.append(p, ledger: editor.ledger, cursor: &cursor!)
            }
            saved = pr.done
        }
        /// The report of what `pr` holds. Stopped early (`pr.done` short of the records), a sequential
        /// run has no scores after yet, and independent batches are compared on the records done.
        func report() -> EvaluationReport {
            let partial = pr.done < requests.count
            let before = partial && !sequential ? (Array(pr.cfBefore.prefix(pr.done)), Array(pr.zBefore.prefix(pr.done))) : (pr.cfBefore, pr.zBefore)
            var r = EvaluationReport(
                dataset: dataset, method: method, records: requests.count, batch: batch, sequential: sequential, before: before,
                after: (pr.cfAfter, pr.zAfter), perplexityBefore: pr.perplexityBefore, perplexitiesAfter: pr.perplexities,
                trajectory: pr.trajectory, times: pr.times, start: start, earlierSeconds: pr.earlierSeconds, failures: pr.failures,
                notEdited: pr.notEdited, hyperparameters: h)
            if partial && sequential { (r.counterFactAfter, r.zsreAfter) = (nil, nil) }
            return r
        }
        if let checkpoint, let resumed = try checkpoint.load(expecting: settings, modelSHA256: editor.modelSHA256) {
            if sequential, !resumed.entries.isEmpty {
                let l = Ledger(
                    modelSHA256: editor.modelSHA256, modelFile: editor.ledger.modelFile, entries: resumed.entries,
                    alphaEditPreviousKeys: resumed.previousKeys ?? [:])
                try editor.restore(l, recomputePreviousKeys: resumed.previousKeys == nil)
            }
            pr = resumed.progress
            saved = pr.done
            // The earlier seconds are counted from this run's start on: the saved total already holds them.
            cursor = CheckpointCursor(saved: pr, parts: resumed.parts)
            log?("resuming from \(checkpoint.directory): \(pr.done) of \(requests.count) records done in \(resumed.parts) parts, \(pr.ledgerEntries) edits replayed")
        } else {
            log?("scoring \(requests.count) records before editing")
            (pr.cfBefore, pr.zBefore) = try scores(base, requests)
            if canary { pr.perplexityBefore = try verifier.perplexity(base, sequences: editor.canary) }
            if let b = pr.perplexityBefore, sequential { pr.trajectory.append(PerplexityPoint(edits: 0, perplexity: b)) }
            try save()
        }
        var i = pr.done
        let first = pr.done
        while i < requests.count {
            if let stopAfter, i - first >= stopAfter {
                if saved < pr.done { try save() }
                log?("stopped after \(pr.done) of \(requests.count) records (resume with the same command)")
                var r = report()
                r.stoppedAfter = pr.done
                return r
            }
            let chunk = Array(requests[i..<min(i + batch, requests.count)])
            i += batch
            let done = min(i, requests.count)
            try editBatch(
                chunk, done: done, of: requests.count, editor: editor, verifier: verifier, method: method, sequential: sequential,
                canary: canary, scores: scores, progress: &pr, log: log)
            pr.done = done
            // Sequential runs: the canary after every `checkpointEvery` edits (whether or not this batch took).
            var fired = false
            if sequential, canary, let every = checkpointEvery, every > 0, done < requests.count, done / every > (done - chunk.count) / every,
                let ppl = try? verifier.perplexity(editor.transformer, sequences: editor.canary) {
                let k = min(trackedRecords, done)
                let (c, z) = try scores(editor.transformer, Array(requests.prefix(k)))
                var point = PerplexityPoint(edits: done, perplexity: ppl, firstRecords: k)
                if dataset == .counterfact { point.counterFact = CounterFactSummary(c) } else { point.zsre = ZSRESummary(z) }
                pr.trajectory.append(point)
                let es = point.counterFact.map { String(format: ", first %d records ES %.1f PS %.1f NS %.1f", k, $0.ES, $0.PS, $0.NS) } ?? ""
                log?(String(format: "after %d sequential edits: WikiText perplexity %.3f", done, ppl) + es)
                fired = true
            }
            if let checkpoint, fired || done - saved >= checkpoint.every { try save() }
        }
        if sequential {
            log?("scoring \(requests.count) records after \(requests.count / max(batch, 1)) sequential batches")
            (pr.cfAfter, pr.zAfter) = try scores(editor.transformer, requests)
            if canary {
                let ppl = try verifier.perplexity(editor.transformer, sequences: editor.canary)
                pr.perplexities.append(ppl)
                let k = min(trackedRecords, requests.count)
                var point = PerplexityPoint(edits: requests.count, perplexity: ppl, firstRecords: k)
                if dataset == .counterfact { point.counterFact = CounterFactSummary(Array(pr.cfAfter.prefix(k))) } else { point.zsre = ZSRESummary(Array(pr.zAfter.prefix(k))) }
                pr.trajectory.append(point)
            }
        } else if saved < pr.done {
            try save()
        }
        return report()
    }

    /// Proposes, checks and keeps (sequential) or scores and undoes one batch, recording it in `pr`.
    static func editBatch(
        _ chunk: [EditRequest], done: Int, of total: Int, editor: Editor, verifier: Verifier, method: EditMethod, sequential: Bool,
        canary: Bool, scores: (Transformer, [EditRequest]) throws(EditError) -> ([CounterFactScores], [ZSREScores]),
        progress pr: inout EvaluationProgress, log: ((String) -> Void)?
    ) throws(EditError) {
        // A batch whose update cannot be computed or applied (non-finite v*, a singular solve: what a
        // model degraded by many sequential edits can come to) is recorded and left unedited; its
        // records are scored as they are, so they count as failed edits, and the run goes on.
        func notEdited(_ why: String) throws(EditError) {
            pr.notEdited.append("\(chunk.first!.id)…: \(why)")
            log?("\(chunk.first!.id)…: not edited: \(why)")
            if !sequential {
                let (c, z) = try scores(editor.transformer, chunk)
                pr.cfAfter += c
                pr.zAfter += z
                if canary { pr.perplexities.append(try verifier.perplexity(editor.transformer, sequences: editor.canary)) }
            }
        }
        let p: EditProposal
        do {
            p = try editor.propose(chunk, method: method, log: chunk.count > MEMIT.optimisationBatch ? log : nil)
        } catch {
            try notEdited("\(error)")
            return
        }
        pr.times.append(p.seconds)
        if sequential {
            // Every batch is kept (the AlphaEdit protocol): commit checks only that the update is
            // finite, and the limits it would have crossed are recorded from the norms it measured.
            let guards = editor.guards
            editor.guards = EditGuards(maxRelativeNorm: .infinity, minRelativeDenominator: 0, maxPerplexityRatio: nil, requireEfficacy: false)
            defer { editor.guards = guards }
            let o = try editor.commit(p)
            guard o.applied else { return try notEdited(o.failures.joined(separator: "; ")) }
            pr.failures += DeltaChecks.limits(relativeNorms: o.relativeNorms, denominators: p.denominators, guards: guards).map { "\(chunk.first!.id)…: \($0)" }
        } else {
            let (f, _) = DeltaChecks.check(p.deltas, on: editor.transformer, denominators: p.denominators, guards: editor.guards)
            pr.failures += f.map { "\(chunk.first!.id)…: \($0)" }
            let edited = editor.transformer.applying(p)
            let (c, z) = try scores(edited, chunk)
            pr.cfAfter += c
            pr.zAfter += z
            if canary { pr.perplexities.append(try verifier.perplexity(edited, sequences: editor.canary)) }
        }
        let loss = p.losses.compactMap(\.last).map(\.targetProbability)
        log?(String(format: "%d/%d edited (%.1f s; mean P(target) at the end of the optimisation %.3f)", done, total, p.seconds, mean(loss)))
    }
}
