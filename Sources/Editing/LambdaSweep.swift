import Foundation
import Models

extension Evaluation {
    /// MEMIT evaluated at several mom2 weights λ for the price of one `z` optimisation.
    ///
    /// In MEMIT the targets `z` are optimised on the unedited model and do not depend on λ (λ only
    /// enters the per-layer solve `(λC + K Kᵀ)Δ = K Rᵀ`), so each batch's `z` are computed once and
    /// every λ reuses them. Each report is exactly what `run(method: .memit, sequential: false)`
    /// gives with that λ: every batch is edited from the unedited model, scored, and undone.
    public static func lambdaSweep(
        editor: Editor, requests: [EditRequest], dataset: Dataset, lambdas: [Double], batch: Int,
        generationPrompts: Int = 0, perplexity: Bool = false, log: ((String) -> Void)? = nil
    ) throws(EditError) -> [EvaluationReport] {
        let start = Date()
        guard let encoder = editor.encoder else { throw .unsupported(what: "evaluation", reason: "the session has no tokenizer") }
        guard !lambdas.isEmpty, lambdas.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw .malformedHyperparameters(file: "--lambdas", field: "mom2_update_weight", expected: "positive finite values", found: "\(lambdas)")
        }
        let verifier = Verifier(encoder: encoder)
        let h = try editor.hyperparameters(.memit)
        let base = editor.transformer
        let templates = try editor.contextTemplates(.memit, h)
        let stats = try editor.statistics(layers: h.layers, tokens: h.mom2Tokens)
        log?("scoring \(requests.count) records before editing")
        let (cfBefore, zBefore) = try score(verifier, dataset, base, requests, generationPrompts: generationPrompts)
        let pplBefore = perplexity && !editor.canary.isEmpty ? try verifier.perplexity(base, sequences: editor.canary) : nil
        let n = lambdas.count
        var cfAfter = [[CounterFactScores]](repeating: [], count: n)
        var zAfter = [[ZSREScores]](repeating: [], count: n)
        var times = [[Double]](repeating: [], count: n)
        var failures = [[String]](repeating: [], count: n)
        var ppls = [[Double]](repeating: [], count: n)
        var i = 0
        while i < requests.count {
            let chunk = Array(requests[i..<min(i + batch, requests.count)])
            let prompts = try chunk.map { r throws(EditError) in try MemitPrompts(request: r, templates: templates, encoder: encoder) }
            let t0 = Date()
            let zs = try MEMIT.targets(base, prompts, zLayer: h.layers.max()!, hyperparameters: h, log: batch > MEMIT.optimisationBatch ? log : nil)
            let zSeconds = Date().timeIntervalSince(t0)
            for (j, lambda) in lambdas.enumerated() {
                var hl = h
                hl.mom2UpdateWeight = lambda
                let t1 = Date()
                let res = try MEMIT.compute(base, prompts: prompts, hyperparameters: hl, statistics: stats, targets: zs)
                times[j].append(zSeconds + Date().timeIntervalSince(t1))
                let (f, _) = DeltaChecks.check(res.deltas, on: base, denominators: [], guards: editor.guards)
                failures[j] += f.map { "\(chunk.first!.id)…: \($0)" }
                let edited = base.applying(res.deltas)
                let (c, z) = try score(verifier, dataset, edited, chunk, generationPrompts: generationPrompts)
                cfAfter[j] += c
                zAfter[j] += z
                if perplexity && !editor.canary.isEmpty { ppls[j].append(try verifier.perplexity(edited, sequences: editor.canary)) }
                log?(String(format: "λ %g: %d/%d edited and scored", lambda, min(i + batch, requests.count), requests.count))
            }
            i += batch
        }
        return lambdas.indices.map { j in
            var hl = h
            hl.mom2UpdateWeight = lambdas[j]
            return EvaluationReport(
                dataset: dataset, method: .memit, records: requests.count, batch: batch, sequential: false,
                before: (cfBefore, zBefore), after: (cfAfter[j], zAfter[j]), perplexityBefore: pplBefore, perplexitiesAfter: ppls[j],
                trajectory: [], times: times[j], start: start, failures: failures[j], notEdited: [], hyperparameters: .locate(hl))
        }
    }
}
