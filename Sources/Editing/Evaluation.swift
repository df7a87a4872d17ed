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
    /// Edits or batches that the guards would have rolled back (they are still scored), and batches
    /// whose update could not be computed ("not edited": scored unedited, so they count as failures).
    public var guardFailures: [String]
    public var hyperparameters: EditHyperparameters
}

/// The canary perplexity after some number of sequentially applied edits.
public struct PerplexityPoint: Sendable, Codable {
    public var edits: Int
    public var perplexity: Double
}

extension EvaluationReport {
    /// A report from per-record scores before and after (summarised for the dataset), the canary
    /// perplexities after the edits (their mean is reported), and the seconds each edit or batch took.
    init(
        dataset: Evaluation.Dataset, method: EditMethod, records: Int, batch: Int, sequential: Bool,
        before: ([CounterFactScores], [ZSREScores]), after: ([CounterFactScores], [ZSREScores]), perplexityBefore: Double?,
        perplexitiesAfter: [Double], trajectory: [PerplexityPoint], times: [Double], start: Date, failures: [String],
        hyperparameters: EditHyperparameters
    ) {
        self.init(
            dataset: dataset.rawValue, method: method, records: records, batch: batch, sequential: sequential,
            counterFactBefore: dataset == .counterfact ? CounterFactSummary(before.0) : nil,
            counterFactAfter: dataset == .counterfact ? CounterFactSummary(after.0) : nil,
            zsreBefore: dataset == .zsre ? ZSRESummary(before.1) : nil, zsreAfter: dataset == .zsre ? ZSRESummary(after.1) : nil,
            perplexityBefore: perplexityBefore, perplexityAfter: perplexitiesAfter.isEmpty ? nil : mean(perplexitiesAfter),
            perplexityTrajectory: trajectory.count > 1 ? trajectory : nil, medianSecondsPerEdit: median(times),
            totalSeconds: Date().timeIntervalSince(start), guardFailures: failures, hyperparameters: hyperparameters)
    }
}

/// Runs edits over CounterFact or zsRE records and scores them as the reference
/// `experiments/evaluate.py` does: every batch is edited from the unedited model and scored right
/// after, then the model is restored (`sequential == false`); or the batches are applied one after
/// another and all records are scored at the end (`sequential == true`, the AlphaEdit protocol).
public enum Evaluation {
    public enum Dataset: String, Sendable { case counterfact, zsre }

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

    public static func run(
        editor: Editor, requests: [EditRequest], dataset: Dataset, method: EditMethod, batch: Int, sequential: Bool,
        generationPrompts: Int = 0, perplexity: Bool = false, checkpointEvery: Int? = nil, log: ((String) -> Void)? = nil
    ) throws(EditError) -> EvaluationReport {
        let start = Date()
        guard let encoder = editor.encoder else { throw .unsupported(what: "evaluation", reason: "the session has no tokenizer") }
        let verifier = Verifier(encoder: encoder)
        let h = try editor.hyperparameters(method)
        let base = editor.transformer
        func scores(_ t: Transformer, _ rs: [EditRequest]) throws(EditError) -> ([CounterFactScores], [ZSREScores]) {
            try score(verifier, dataset, t, rs, generationPrompts: generationPrompts)
        }
        log?("scoring \(requests.count) records before editing")
        let (cfBefore, zBefore) = try scores(base, requests)
        var pplBefore: Double?
        if perplexity && !editor.canary.isEmpty { pplBefore = try verifier.perplexity(base, sequences: editor.canary) }
        var cfAfter: [CounterFactScores] = []
        var zAfter: [ZSREScores] = []
        var times: [Double] = []
        var failures: [String] = []
        var ppls: [Double] = []
        var trajectory: [PerplexityPoint] = []
        if let b = pplBefore, sequential { trajectory.append(PerplexityPoint(edits: 0, perplexity: b)) }
        var i = 0
        while i < requests.count {
            let chunk = Array(requests[i..<min(i + batch, requests.count)])
            i += batch
            let done = min(i, requests.count)
            defer {
                // Sequential runs: the canary after every `checkpointEvery` edits (whether or not this batch took).
                if sequential, perplexity, !editor.canary.isEmpty, let every = checkpointEvery, every > 0, done < requests.count,
                    done / every > (done - chunk.count) / every, let ppl = try? verifier.perplexity(editor.transformer, sequences: editor.canary) {
                    trajectory.append(PerplexityPoint(edits: done, perplexity: ppl))
                    log?(String(format: "after %d sequential edits: WikiText perplexity %.3f", done, ppl))
                }
            }
            let p: EditProposal
            do {
                p = try editor.propose(chunk, method: method, log: batch > MEMIT.optimisationBatch ? log : nil)
            } catch {
                // A batch whose update cannot be computed (non-finite v*, a singular solve: what a model
                // degraded by many sequential edits can come to) is recorded and left unedited; its
                // records are scored as they are, so they count as failed edits, and the run goes on.
                failures.append("\(chunk.first!.id)…: not edited: \(error)")
                log?("\(chunk.first!.id)…: not edited: \(error)")
                if !sequential {
                    let (c, z) = try scores(editor.transformer, chunk)
                    cfAfter += c
                    zAfter += z
                    if perplexity && !editor.canary.isEmpty { ppls.append(try verifier.perplexity(editor.transformer, sequences: editor.canary)) }
                }
                continue
            }
            times.append(p.seconds)
            let (f, _) = DeltaChecks.check(p.deltas, on: editor.transformer, denominators: p.denominators, guards: editor.guards)
            failures += f.map { "\(chunk.first!.id)…: \($0)" }
            if sequential {
                var forced = editor.guards
                forced.maxPerplexityRatio = nil
                forced.requireEfficacy = false
                forced.maxRelativeNorm = .infinity
                forced.minRelativeDenominator = 0
                let saved = editor.guards
                editor.guards = forced
                defer { editor.guards = saved }
                let o = try editor.commit(p)
                if !o.applied { failures += o.failures }
            } else {
                let edited = editor.transformer.applying(p.deltas)
                let (c, z) = try scores(edited, chunk)
                cfAfter += c
                zAfter += z
                if perplexity && !editor.canary.isEmpty { ppls.append(try verifier.perplexity(edited, sequences: editor.canary)) }
            }
            let loss = p.losses.compactMap(\.last).map(\.targetProbability)
            log?(String(format: "%d/%d edited (%.1f s; mean P(target) at the end of the optimisation %.3f)", done, requests.count, p.seconds, mean(loss)))
        }
        if sequential {
            log?("scoring \(requests.count) records after \(requests.count / max(batch, 1)) sequential batches")
            (cfAfter, zAfter) = try scores(editor.transformer, requests)
            if perplexity && !editor.canary.isEmpty {
                let ppl = try verifier.perplexity(editor.transformer, sequences: editor.canary)
                ppls.append(ppl)
                trajectory.append(PerplexityPoint(edits: requests.count, perplexity: ppl))
            }
        }
        return EvaluationReport(
            dataset: dataset, method: method, records: requests.count, batch: batch, sequential: sequential,
            before: (cfBefore, zBefore), after: (cfAfter, zAfter), perplexityBefore: pplBefore, perplexitiesAfter: ppls,
            trajectory: trajectory, times: times, start: start, failures: failures, hyperparameters: h)
    }
}
