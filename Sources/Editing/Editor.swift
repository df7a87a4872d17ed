import Foundation
import ModelStore
import Models

/// Computed but not yet applied: the deltas of one edit or batch and what produced them.
public struct EditProposal: Sendable {
    public var method: EditMethod
    public var requests: [EditRequest]
    public var hyperparameters: MethodHyperparameters
    public var contextTemplates: [String]
    public var deltas: [WeightDelta]
    /// ROME's `|k_p·u|/‖k_p‖` per request (empty for MEMIT/AlphaEdit).
    public var denominators: [Double]
    /// The v*/z loss per optimisation step, per request.
    public var losses: [[DeltaLoss]]
    public var seconds: Double
    /// UltraEdit: its lifelong normalisers after this edit (the session's once kept).
    public var ultraEditMoments: [String: RunningMoments]? = nil
    /// GRACE: the codebook entry this edit adds or changes.
    public var codebook: CodebookEdit? = nil
}

extension Transformer {
    /// A copy with a proposal's deltas (and GRACE codebook edit) applied.
    public func applying(_ p: EditProposal) -> Transformer {
        var t = applying(p.deltas)
        p.codebook?.apply(to: &t.weights.blocks)
        return t
    }
}

/// Before/after figures of one edit, and whether it was kept.
public struct EditOutcome: Sendable, Codable, Equatable {
    public var method: EditMethod
    /// The requests' ids.
    public var requests: [String]
    /// True when the edit passed every check and the session's weights now include it.
    public var applied: Bool
    /// Why the edit was rolled back (empty when applied).
    public var failures: [String]
    /// Per request: P(new) and P(true) on its own prompt (mean per-token probability), before and after.
    public var newProbabilityBefore: [Double]
    public var newProbabilityAfter: [Double]
    public var trueProbabilityBefore: [Double?]
    public var trueProbabilityAfter: [Double?]
    /// CounterFact scores before/after, for requests that carry `target_true`.
    public var counterFactBefore: [CounterFactScores]?
    public var counterFactAfter: [CounterFactScores]?
    /// WikiText perplexity canary before and after (nil without a canary).
    public var perplexityBefore: Double?
    public var perplexityAfter: Double?
    /// `‖ΔW‖/‖W‖` per edited layer (keys are layer numbers as strings).
    public var relativeNorms: [String: Double]
    /// The v*/z loss at the last optimisation step, per request.
    public var finalLosses: [DeltaLoss]
    /// Wall time of proposing, applying and verifying.
    public var seconds: Double
    /// True for a dry run (`locus edit --dry-run`): verified, then undone. `applied` is then false and
    /// `failures` lists only what failed verification, so an empty list means the edit would be kept.
    public var dryRun: Bool?
}

/// An editing session on one model: the current (edited) weights, the ledger that says how they
/// came from the file, and the caches an edit needs (statistics, context templates, AlphaEdit's
/// state). Caches belong to the session, never to the module, so nothing leaks between models.
///
/// Every `apply` is a transaction: the deltas are computed, checked (non-finite values, the
/// rank-one denominator, `‖ΔW‖/‖W‖`), applied to a copy, verified (efficacy on the request
/// prompts, the WikiText perplexity canary), and only then does the copy become the session's
/// weights and the ledger (if it has a path) get the entry. Anything failing leaves the session's
/// weights and files exactly as they were.
///
/// ```swift
/// let editor = try Editor(model: model, ledgerPath: nil)   // in memory; give a path to keep a ledger
/// let outcome = try editor.apply([request], method: .rome)
/// if outcome.applied { /* editor.transformer has the edit */ } else { print(outcome.failures) }
/// ```
public final class Editor: @unchecked Sendable {
    /// The weights as read from the file (never changed).
    public let base: Transformer
    /// SHA-256 of the model file; a ledger of another file is refused.
    public let modelSHA256: String
    public let modelFile: String
    /// Turns text requests into tokens (nil for a session built on weights alone).
    public let encoder: PromptEncoder?
    /// The current weights: `base` with the ledger's edits applied.
    public private(set) var transformer: Transformer
    /// The edits kept so far, in order.
    public private(set) var ledger: Ledger
    /// Where the ledger is saved after every change (nil: kept in memory).
    public var ledgerPath: String?
    /// The limits an edit must respect to be kept (`‖ΔW‖/‖W‖`, perplexity ratio, ...).
    public var guards: EditGuards
    /// Token sequences of the perplexity canary (empty: no canary).
    public var canary: [[Int]] { didSet { canaryPerplexity = nil } }
    /// Statistics by layer and token count; by default from the `StatisticsStore`.
    public var statisticsProvider: ([Int], Int) throws(EditError) -> [Int: KeyStatistics]
    /// Hyperparameters of each locate-then-edit method (layers, learning rate, λ, ...).
    public var hyperparameters: [EditMethod: EditHyperparameters]
    /// Hyperparameters of each fine-tuning method (FT-L, FT-M, LoRA).
    public var fineTuneHyperparameters: [EditMethod: FineTuneHyperparameters] = [:]
    /// UltraEdit's hyperparameters.
    public var ultraEditHyperparameters: UltraEditHyperparameters?
    /// GRACE's hyperparameters.
    public var graceHyperparameters: GRACEHyperparameters?

    var canaryPerplexity: Double?
    var statisticsCache: [String: KeyStatistics] = [:]
    var factorCache: [String: CovarianceFactor] = [:]
    var templateCache: [String: [String]] = [:]
    var alphaEdit: AlphaEditState?
    /// UltraEdit's normalisers (nil: read from the ledger or rebuilt by replaying it when needed).
    var ultraEditMoments: [String: RunningMoments]?
    /// Why no shipped hyperparameters were found for the model file (thrown when an edit needs them).
    var hyperparameterLookupError: EditError?

    /// A session on weights given directly (token-level use; text requests need `init(model:)`).
    public init(
        base: Transformer, modelSHA256: String, modelFile: String, hyperparameters: [EditMethod: EditHyperparameters],
        guards: EditGuards = EditGuards(), ledger: Ledger? = nil, encoder: PromptEncoder? = nil,
        statisticsProvider: @escaping ([Int], Int) throws(EditError) -> [Int: KeyStatistics]
    ) throws(EditError) {
        self.base = base
        self.modelSHA256 = modelSHA256
        self.modelFile = modelFile
        self.hyperparameters = hyperparameters
        self.guards = guards
        self.encoder = encoder
        self.canary = []
        self.statisticsProvider = statisticsProvider
        let l = ledger ?? Ledger(modelSHA256: modelSHA256, modelFile: (modelFile as NSString).lastPathComponent)
        guard l.modelSHA256 == modelSHA256 else {
            throw .ledgerMismatch(file: "ledger", field: "model_sha256", expected: modelSHA256, found: l.modelSHA256)
        }
        self.ledger = l
        self.transformer = try l.apply(to: base)
    }

    /// A session on a model file: statistics from the store, the ledger at `ledgerPath` (replayed if
    /// it exists), hyperparameters from the shipped file for this model unless given.
    ///
    /// - Throws: `EditError` when the file cannot be hashed or the ledger belongs to another file
    ///   (`ledgerMismatch`) or cannot be read. A model no shipped hyperparameters match opens (its ledger
    ///   can be replayed, reverted, exported); editing it throws that error unless `hyperparameters` are given.
    public convenience init(
        model: LanguageModel, ledgerPath: String?, hyperparameters: HyperparameterFile? = nil, guards: EditGuards = EditGuards(),
        statisticsDirectory: String? = nil, statisticsProgress: StatisticsProgress? = nil
    ) throws(EditError) {
        let sha: String
        do { sha = try FileHash.sha256(path: model.path) } catch { throw .storage(file: model.path, reason: "\(error)") }
        // Replaying, reverting and exporting a ledger need no hyperparameters: a model without a shipped
        // file is refused only when it is edited (`hyperparameters(_:)` throws the lookup's error).
        var file: HyperparameterFile?
        var lookupError: EditError?
        if let hyperparameters {
            file = hyperparameters
        } else {
            let names = [(model.path as NSString).lastPathComponent, model.gguf?.metadata["general.name"]?.string ?? ""]
            do throws(EditError) { file = try HyperparameterFile.shipped(forModel: names).file } catch { lookupError = error }
        }
        var h: [EditMethod: EditHyperparameters] = [:]
        var ft: [EditMethod: FineTuneHyperparameters] = [:]
        for m in EditMethod.allCases {
            if let v = file?.values(for: m) { h[m] = v }
            if let v = file?.fineTuneValues(for: m) { ft[m] = v }
        }
        var ledger: Ledger?
        if let ledgerPath, FileManager.default.fileExists(atPath: ledgerPath) {
            ledger = try Ledger.load(ledgerPath, modelSHA256: sha)
        }
        let store = StatisticsStore(directory: statisticsDirectory, modelPath: model.path, modelSHA256: sha)
        let base = model.transformer
        try self.init(
            base: base, modelSHA256: sha, modelFile: model.path, hyperparameters: h, guards: guards, ledger: ledger,
            encoder: PromptEncoder(tokenizer: model.tokenizer),
            statisticsProvider: { (layers: [Int], tokens: Int) throws(EditError) -> [Int: KeyStatistics] in
                try store.statistics(layers: layers, tokens: tokens, model: model, transformer: base, progress: statisticsProgress).statistics
            })
        self.ledgerPath = ledgerPath
        self.fineTuneHyperparameters = ft
        self.ultraEditHyperparameters = file?.ultraedit
        self.graceHyperparameters = file?.grace
        self.hyperparameterLookupError = lookupError
    }

    // MARK: pieces

    func hyperparameters(_ method: EditMethod) throws(EditError) -> EditHyperparameters {
        guard let h = hyperparameters[method] else {
            if let hyperparameterLookupError { throw hyperparameterLookupError }
            throw .malformedHyperparameters(file: "hyperparameters", field: method.fileKey, expected: "values for \(method.rawValue)", found: "none")
        }
        try h.validate(method: method, layerCount: base.config.nLayers)
        return h
    }

    /// The validated hyperparameters of any method.
    public func methodHyperparameters(_ method: EditMethod) throws(EditError) -> MethodHyperparameters {
        if method == .grace {
            guard let h = graceHyperparameters else {
                if let hyperparameterLookupError { throw hyperparameterLookupError }
                throw .malformedHyperparameters(file: "hyperparameters", field: "grace", expected: "values for grace", found: "none")
            }
            try h.validate(layerCount: base.config.nLayers)
            return .grace(h)
        }
        if method == .ultraedit {
            guard let h = ultraEditHyperparameters else {
                if let hyperparameterLookupError { throw hyperparameterLookupError }
                throw .malformedHyperparameters(file: "hyperparameters", field: "ultraedit", expected: "values for ultraedit", found: "none")
            }
            _ = try h.targets(blocks: base.weights.blocks)
            return .ultraEdit(h)
        }
        guard method.isFineTuning else { return .locate(try hyperparameters(method)) }
        guard let h = fineTuneHyperparameters[method] else {
            if let hyperparameterLookupError { throw hyperparameterLookupError }
            throw .malformedHyperparameters(file: "hyperparameters", field: method.fileKey, expected: "values for \(method.rawValue)", found: "none")
        }
        try h.validate(method: method, blocks: base.weights.blocks)
        return .fineTune(h)
    }

    /// C for each layer (cached per session).
    public func statistics(layers: [Int], tokens: Int) throws(EditError) -> [Int: KeyStatistics] {
        let missing = layers.filter { statisticsCache["\($0)/\(tokens)"] == nil }
        if !missing.isEmpty {
            for (l, s) in try statisticsProvider(missing, tokens) { statisticsCache["\(l)/\(tokens)"] = s }
        }
        var out: [Int: KeyStatistics] = [:]
        for l in layers {
            guard let s = statisticsCache["\(l)/\(tokens)"] else {
                throw .statisticsMismatch(file: "statistics", field: "layer \(l)", expected: "statistics for this layer", found: "none")
            }
            out[l] = s
        }
        return out
    }

    /// ROME's factored C for one layer (cached per session; the moment itself is not kept unless
    /// another method loaded it).
    public func covarianceFactor(layer: Int, tokens: Int) throws(EditError) -> CovarianceFactor {
        let key = "\(layer)/\(tokens)"
        if let f = factorCache[key] { return f }
        let f: CovarianceFactor
        if let cached = statisticsCache[key] {
            f = try CovarianceFactor(cached)  // the cache keeps C: factored in a copy
        } else {
            var provided = try statisticsProvider([layer], tokens)
            guard let one = provided.removeValue(forKey: layer) else {
                throw .statisticsMismatch(file: "statistics", field: "layer \(layer)", expected: "statistics for this layer", found: "none")
            }
            provided = [:]
            // Handed over, not copied: C (1.6 GB at d_mlp 14,336) is factored in its own storage.
            f = try CovarianceFactor(consume one)
        }
        factorCache[key] = f
        return f
    }

    /// Context templates of a method, generated once per session from the unedited model.
    public func contextTemplates(_ method: EditMethod, _ h: EditHyperparameters) throws(EditError) -> [String] {
        let key = "\(method.isRankOne ? "rome" : "memit")/\(h.contextTemplateLengthParams)/\(h.seed)"
        if let t = templateCache[key] { return t }
        guard let encoder else { throw .unsupported(what: "context templates", reason: "this session has no tokenizer") }
        let t = method.isRankOne
            ? try ContextTemplates.rome(base, tokenizer: encoder.tokenizer, lengthParams: h.contextTemplateLengthParams, seed: h.seed)
            : try ContextTemplates.memit(base, tokenizer: encoder.tokenizer, lengthParams: h.contextTemplateLengthParams, seed: h.seed)
        templateCache[key] = t
        return t
    }

    func requireEncoder() throws(EditError) -> PromptEncoder {
        guard let encoder else { throw .unsupported(what: "text requests", reason: "this session has no tokenizer") }
        return encoder
    }

    /// Refuses requests whose new target the current model already gives (every target token is the
    /// top prediction after the prompt).
    public func checkTargets(_ requests: [EditRequest]) throws(EditError) {
        let enc = try requireEncoder()
        let seqs = requests.map { enc.prompt($0.filledPrompt) + enc.target($0.targetNew) }
        let starts = requests.map { enc.prompt($0.filledPrompt).count }
        for (r, s) in zip(requests, seqs) where s.count == enc.prompt(r.filledPrompt).count {
            throw .emptyTarget(request: r.id)
        }
        let scored = try ReadOut.score(transformer, sequences: seqs, starts: starts)
        for (r, s) in zip(requests, scored) where s.allSatisfy(\.isArgmax) {
            throw .targetEqualsCurrentAnswer(request: r.id, target: r.targetNew, currentAnswer: r.targetNew.trimmingSpaces)
        }
    }

    /// Computes the deltas for `requests` on the current weights (nothing is applied).
    public func propose(_ requests: [EditRequest], method: EditMethod, log: ((String) -> Void)? = nil) throws(EditError) -> EditProposal {
        let start = Date()
        if method.isFineTuning || method == .ultraedit || method == .grace { return try proposeFineTuning(requests, method: method, log: log) }
        let h = try hyperparameters(method)
        // Refused before any statistics or templates are made.
        if method.isRankOne { try ROME.checkApplicable(transformer, layer: h.layers[0]) } else { try MEMIT.checkApplicable(transformer, layers: h.layers) }
        let enc = try requireEncoder()
        let templates = try contextTemplates(method, h)
        let stats = !method.isRankOne ? try statistics(layers: h.layers, tokens: h.mom2Tokens) : [:]
        let covariance = method.isRankOne && h.mom2Adjustment ? try covarianceFactor(layer: h.layers[0], tokens: h.mom2Tokens) : nil
        var deltas: [WeightDelta] = []
        var dens: [Double] = []
        var losses: [[DeltaLoss]] = []
        switch method {
        case .rome, .rRome:
            // Several requests are applied one after another, each on the result of the last.
            var t = transformer
            for r in requests {
                let prompts = try RewritePrompts(request: r, templates: templates, encoder: enc)
                let res = try ROME.compute(t, prompts: prompts, hyperparameters: h, covariance: covariance, prefixedKey: method == .rRome)
                let o = res.optimisation
                log?(String(
                    format: "%@: v* loss %.3f → %.3f in %d steps (forward %.1f s, loss %.1f s, backward %.1f s)", r.id,
                    o.losses.first?.total ?? .nan, o.losses.last?.total ?? .nan, o.losses.count, o.seconds.forward, o.seconds.loss,
                    o.seconds.backward))
                res.delta.apply(to: &t.weights.blocks)
                deltas.append(res.delta)
                dens.append(res.relativeDenominator)
                losses.append(res.optimisation.losses)
            }
        case .memit, .emmet, .alphaedit:
            let prompts = try requests.map { r throws(EditError) in try MemitPrompts(request: r, templates: templates, encoder: enc) }
            var update = method == .emmet ? LayerUpdate.emmet : .memit
            if method == .alphaedit {
                if alphaEdit == nil {
                    var state = try AlphaEditState(statistics: stats, threshold: h.nullspaceThreshold ?? 2e-2)
                    for (l, x) in ledger.alphaEditPreviousKeys where state.previousKeys[l] != nil { state.previousKeys[l] = x }
                    alphaEdit = state
                }
                update = .alphaEdit(alphaEdit!)
            }
            let res = try MEMIT.compute(transformer, prompts: prompts, hyperparameters: h, statistics: stats, update: update, log: log)
            deltas = res.deltas
            losses = res.optimisations.map(\.losses)
            log?("z residual per layer: " + res.residualNorms.map { String(format: "%.3f", $0) }.joined(separator: ", "))
            let steps = res.optimisations.map(\.losses.count).reduce(0, +)
            log?(String(
                format: "z optimisation %.1f s (%d requests, %.1f steps each on average), keys and hidden states %.1f s, updates %.1f s",
                res.seconds.targets, requests.count, Double(steps) / Double(max(requests.count, 1)), res.seconds.keys, res.seconds.solve))
        case .ftL, .ftM, .lora, .ultraedit, .grace:
            preconditionFailure("fine-tuning and UltraEdit are proposed by proposeFineTuning")
        }
        return EditProposal(
            method: method, requests: requests, hyperparameters: .locate(h), contextTemplates: templates, deltas: deltas, denominators: dens,
            losses: losses, seconds: Date().timeIntervalSince(start))
    }

    /// FT-L, FT-M, LoRA and UltraEdit: from the requests' own prompts (no context templates, no statistics).
    func proposeFineTuning(_ requests: [EditRequest], method: EditMethod, log: ((String) -> Void)?) throws(EditError) -> EditProposal {
        let start = Date()
        let mh = try methodHyperparameters(method)
        let enc = try requireEncoder()
        let examples = requests.map { FineTuning.Example(prompt: enc.prompt($0.filledPrompt), target: enc.target($0.targetNew)) }
        for (r, e) in zip(requests, examples) where e.target.isEmpty { throw .emptyTarget(request: r.id) }
        if case .grace(let h) = mh {
            guard examples.count == 1 else { throw .unsupported(what: "GRACE on \(examples.count) requests at once", reason: "it edits one request at a time") }
            let (edit, losses) = try GRACE.compute(transformer, example: examples[0], hyperparameters: h)
            var p = EditProposal(
                method: method, requests: requests, hyperparameters: mh, contextTemplates: [], deltas: [], denominators: [], losses: [losses],
                seconds: Date().timeIntervalSince(start))
            p.codebook = edit
            return p
        }
        if case .ultraEdit(let h) = mh {
            let (deltas, moments) = try UltraEdit.compute(transformer, examples: examples, hyperparameters: h, moments: try currentUltraEditMoments())
            var p = EditProposal(
                method: method, requests: requests, hyperparameters: mh, contextTemplates: [], deltas: deltas, denominators: [], losses: [],
                seconds: Date().timeIntervalSince(start))
            p.ultraEditMoments = moments
            return p
        }
        guard case .fineTune(let h) = mh else { preconditionFailure() }
        let res = try FineTuning.compute(transformer, examples: examples, method: method, hyperparameters: h, log: log)
        return EditProposal(
            method: method, requests: requests, hyperparameters: .fineTune(h), contextTemplates: [], deltas: res.deltas, denominators: [],
            losses: [res.losses], seconds: Date().timeIntervalSince(start))
    }

    /// P(new) and P(true) (mean per-token probability) of each request on its own prompt.
    /// Empty for a session without a tokenizer (token-level use: only the delta guards apply).
    func targetProbabilities(_ t: Transformer, _ requests: [EditRequest]) throws(EditError) -> (new: [Double], old: [Double?]) {
        guard let enc = encoder else { return ([], []) }
        var seqs: [[Int]] = [], starts: [Int] = []
        for r in requests {
            let p = enc.prompt(r.filledPrompt)
            seqs.append(p + enc.target(r.targetNew))
            starts.append(p.count)
            if let tt = r.targetTrue {
                seqs.append(p + enc.target(tt))
                starts.append(p.count)
            }
        }
        let s = try ReadOut.score(t, sequences: seqs, starts: starts)
        var new: [Double] = [], old: [Double?] = []
        var k = 0
        for r in requests {
            new.append(exp(mean(s[k].map { Double($0.logProbability) })))
            k += 1
            if r.targetTrue != nil {
                old.append(exp(mean(s[k].map { Double($0.logProbability) })))
                k += 1
            } else {
                old.append(nil)
            }
        }
        return (new, old)
    }

    func perplexity(_ t: Transformer) throws(EditError) -> Double? {
        guard !canary.isEmpty, let enc = encoder else { return nil }
        return try Verifier(encoder: enc).perplexity(t, sequences: canary)
    }

    /// Checks a proposal, applies it to a copy, verifies the copy, and keeps it only if everything
    /// passes. `counterFact` also computes the full CounterFact scores before and after.
    @discardableResult
    public func commit(_ p: EditProposal, counterFact: Bool = false) throws(EditError) -> EditOutcome {
        let start = Date()
        var failures: [String] = []
        let (checkFailures, norms) = DeltaChecks.check(p.deltas, on: transformer, denominators: p.denominators, guards: guards)
        failures += checkFailures
        let candidate = failures.isEmpty ? transformer.applying(p) : transformer
        for d in p.deltas where failures.isEmpty && !(candidate.linear(of: d)?.weight.allSatisfy(\.isFinite) ?? false) {
            failures.append("\(WeightDelta.describe(d.target)): the edited \(d.matrix.rawValue) has non-finite values")
        }
        let (newBefore, trueBefore) = try targetProbabilities(transformer, p.requests)
        var newAfter = newBefore, trueAfter = trueBefore
        var cfBefore: [CounterFactScores]?, cfAfter: [CounterFactScores]?
        var pplBefore: Double?, pplAfter: Double?
        if failures.isEmpty {
            (newAfter, trueAfter) = try targetProbabilities(candidate, p.requests)
            if guards.requireEfficacy && encoder != nil {
                for (i, r) in p.requests.enumerated() {
                    if let t = trueAfter[i], !(newAfter[i] > t) {
                        failures.append(String(format: "%@: P(new) %.3g is not above P(true) %.3g after the edit", r.id, newAfter[i], t))
                    } else if trueAfter[i] == nil, !(newAfter[i] > newBefore[i]) {
                        failures.append(String(format: "%@: P(new) did not rise (%.3g → %.3g)", r.id, newBefore[i], newAfter[i]))
                    }
                }
            }
            if let ratio = guards.maxPerplexityRatio, !canary.isEmpty {
                if canaryPerplexity == nil { canaryPerplexity = try perplexity(transformer) }
                pplBefore = canaryPerplexity
                pplAfter = try perplexity(candidate)
                if let a = pplAfter, let b = pplBefore, !(a <= b * ratio) {
                    failures.append(String(format: "WikiText perplexity %.3f → %.3f exceeds ×%.3f", b, a, ratio))
                }
            }
            if counterFact && encoder != nil {
                let withTrue = p.requests.filter { $0.targetTrue != nil }
                let v = Verifier(encoder: try requireEncoder())
                cfBefore = try v.counterFact(transformer, withTrue)
                cfAfter = try v.counterFact(candidate, withTrue)
            }
        }
        let outcome = EditOutcome(
            method: p.method, requests: p.requests.map(\.id), applied: failures.isEmpty, failures: failures,
            newProbabilityBefore: newBefore, newProbabilityAfter: newAfter, trueProbabilityBefore: trueBefore,
            trueProbabilityAfter: trueAfter, counterFactBefore: cfBefore, counterFactAfter: cfAfter, perplexityBefore: pplBefore,
            perplexityAfter: pplAfter, relativeNorms: norms,
            finalLosses: p.losses.compactMap(\.last), seconds: p.seconds + Date().timeIntervalSince(start))
        guard failures.isEmpty else { return outcome }
        try keep(candidate, proposal: p, outcome: outcome)
        return outcome
    }

    /// Makes `candidate` the session's weights and records the entry (saving the ledger first, so a
    /// failed save changes nothing).
    func keep(_ candidate: Transformer, proposal p: EditProposal, outcome: EditOutcome) throws(EditError) {
        var checksums: [String: String] = [:]
        for d in p.deltas { checksums[d.target] = Checksum.fnv1a(candidate.linear(of: d)!.weight) }
        if let c = p.codebook { checksums[c.target] = candidate.weights.blocks[c.layer].codebook!.checksum }
        var next = ledger
        var state = alphaEdit
        if p.method == .alphaedit, var s = state, let enc = encoder {
            // C_prev += K Kᵀ with the keys of the edited model (reference: after all layers are updated).
            let prompts = try p.requests.map { r throws(EditError) in try MemitPrompts(request: r, templates: p.contextTemplates, encoder: enc) }
            var keys: [Int: [[Float]]] = [:]
            for l in p.hyperparameters.layers { keys[l] = try MEMIT.keys(candidate, prompts, layer: l) }
            s.record(keys: keys)
            state = s
            next.alphaEditPreviousKeys = s.previousKeys
        }
        let formatter = ISO8601DateFormatter()
        next.entries.append(
            LedgerEntry(
                method: p.method, requests: p.requests, hyperparameters: p.hyperparameters, contextTemplates: p.contextTemplates,
                deltas: p.deltas, report: Ledger.json(outcome), checksums: checksums, time: formatter.string(from: Date()), codebook: p.codebook))
        if let m = p.ultraEditMoments { next.ultraEditMoments = m }
        if let ledgerPath { try next.save(to: ledgerPath) }
        ledger = next
        if let m = p.ultraEditMoments { ultraEditMoments = m }
        alphaEdit = state
        transformer = candidate
        canaryPerplexity = outcome.perplexityAfter
    }

    /// Checks targets, proposes and commits.
    @discardableResult
    public func apply(_ requests: [EditRequest], method: EditMethod, counterFact: Bool = false, log: ((String) -> Void)? = nil) throws(EditError) -> EditOutcome {
        try checkTargets(requests)
        let p = try propose(requests, method: method, log: log)
        return try commit(p, counterFact: counterFact)
    }

    /// AlphaEdit's `Σ K Kᵀ` over the AlphaEdit entries of `ledger`, each entry's keys read from the
    /// model right after it (as when it was applied).
    func previousKeys(replaying ledger: Ledger) throws(EditError) -> [Int: [Float]] {
        guard ledger.entries.contains(where: { $0.method == .alphaedit }) else { return [:] }
        let enc = try requireEncoder()
        let F = base.config.dMLP
        var sums: [Int: [Float]] = [:]
        var t = base
        for e in ledger.entries {
            for d in e.deltas { d.apply(to: &t.weights.blocks) }
            e.codebook?.apply(to: &t.weights.blocks)
            guard e.method == .alphaedit else { continue }
            let prompts = try e.requests.map { r throws(EditError) in try MemitPrompts(request: r, templates: e.contextTemplates, encoder: enc) }
            for l in e.hyperparameters.layers {
                let ks = try MEMIT.keys(t, prompts, layer: l)
                var x = sums[l] ?? [Float](repeating: 0, count: F * F)
                AlphaEditState.accumulate(&x, keys: ks, dimension: F)
                sums[l] = x
            }
        }
        return sums
    }

    /// Makes `ledger`'s edits the session's: the file's weights with its entries replayed (checked
    /// bit for bit). `recomputePreviousKeys` rebuilds AlphaEdit's `C_prev` from the entries (for a
    /// ledger cut short, whose stored sum would include the entries cut).
    public func restore(_ ledger: Ledger, recomputePreviousKeys: Bool = false) throws(EditError) {
        guard ledger.modelSHA256 == modelSHA256 else {
            throw .ledgerMismatch(file: "ledger", field: "model_sha256", expected: modelSHA256, found: ledger.modelSHA256)
        }
        var next = ledger
        let replayed = try next.apply(to: base, file: ledgerPath ?? "ledger")
        if recomputePreviousKeys { next.alphaEditPreviousKeys = try previousKeys(replaying: next) }
        if recomputePreviousKeys { next.ultraEditMoments = try ultraEditMoments(replaying: next) }
        if let ledgerPath { try next.save(to: ledgerPath) }
        self.ledger = next
        transformer = replayed
        alphaEdit = nil
        ultraEditMoments = nil
        canaryPerplexity = nil
    }

    /// UltraEdit's normalisers for the next edit: the session's, else the ledger's, else rebuilt by replay.
    func currentUltraEditMoments() throws(EditError) -> [String: RunningMoments] {
        if let ultraEditMoments { return ultraEditMoments }
        let m = ledger.ultraEditMoments.isEmpty ? try ultraEditMoments(replaying: ledger) : ledger.ultraEditMoments
        ultraEditMoments = m
        return m
    }

    /// UltraEdit's normalisers over the UltraEdit entries of `ledger`, each entry's features read from
    /// the model just before it (as when it was applied).
    func ultraEditMoments(replaying ledger: Ledger) throws(EditError) -> [String: RunningMoments] {
        guard ledger.entries.contains(where: { $0.method == .ultraedit }) else { return [:] }
        let enc = try requireEncoder()
        var moments: [String: RunningMoments] = [:]
        var t = base
        for e in ledger.entries {
            if e.method == .ultraedit, case .ultraEdit(let h) = e.hyperparameters {
                let examples = e.requests.map { FineTuning.Example(prompt: enc.prompt($0.filledPrompt), target: enc.target($0.targetNew)) }
                let targets = try h.targets(blocks: t.weights.blocks)
                UltraEdit.record(try UltraEdit.features(t, examples, targets: targets), targets: targets, transformer: t, into: &moments)
            }
            for d in e.deltas { d.apply(to: &t.weights.blocks) }
            e.codebook?.apply(to: &t.weights.blocks)
        }
        return moments
    }

    /// Removes the last `count` entries: the weights become the file's weights with the remaining
    /// entries replayed (bit-identical to what they were before those edits).
    public func revert(last count: Int = 1) throws(EditError) {
        guard count >= 1, count <= ledger.entries.count else {
            throw .nothingToRevert(file: ledgerPath ?? "ledger", requested: "\(count) edit(s) of \(ledger.entries.count)")
        }
        var next = ledger
        next.entries.removeLast(count)
        try restore(next, recomputePreviousKeys: ledger.entries.suffix(count).contains(where: { $0.method == .alphaedit || $0.method == .ultraedit }))
    }
}
