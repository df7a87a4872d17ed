import Foundation
import Linalg
import Models
import Tensors

/// The prompts of one MEMIT request: its `z` optimisation prompts, and the key prompts grouped by
/// context type (`[["{}"], [generated...]]`) as `compute_ks` averages them.
public struct MemitPrompts: Sendable {
    public var rewrite: RewritePrompts
    /// Per context type, the prompts (without the target) whose keys are averaged.
    public var keyGroups: [[SubjectPrompt]]
    /// The unadorned prompt (where the current `z` is read).
    public var plain: SubjectPrompt

    public init(rewrite: RewritePrompts, keyGroups: [[SubjectPrompt]], plain: SubjectPrompt) {
        self.rewrite = rewrite
        self.keyGroups = keyGroups
        self.plain = plain
    }

    /// From a request and MEMIT's templates (`"{}"` first, then the generated ones).
    public init(request: EditRequest, templates: [String], encoder: PromptEncoder) throws(EditError) {
        let rw = try RewritePrompts(request: request, templates: templates, encoder: encoder)
        var groups: [[SubjectPrompt]] = []
        for (i, c) in templates.enumerated() {
            let p = try encoder.subjectPrompt(template: c.replacingOccurrences(of: "{}", with: request.prompt), subject: request.subject)
            if i == 0 { groups.append([p]) } else if groups.count == 1 { groups.append([p]) } else { groups[1].append(p) }
        }
        self.init(rewrite: rw, keyGroups: groups, plain: groups[0][0])
    }
}

/// What MEMIT computed for a batch.
public struct MemitResult: Sendable {
    /// One delta per edited layer, in layer order.
    public var deltas: [WeightDelta]
    /// Target hidden states `z` at the last layer, one per request.
    public var zs: [[Float]]
    public var optimisations: [DeltaOptimization]
    /// Mean ‖z − current z‖ before each layer's update.
    public var residualNorms: [Double]
    /// Seconds spent optimising the `z`s, and computing keys and hidden states and solving, over all layers.
    public var seconds: (targets: Double, keys: Double, solve: Double) = (0, 0, 0)
}

/// Mass-Editing Memory in a Transformer (Meng et al. 2023), as kmeng01/memit computes it.
///
/// For each request, `z = h + δ` at the last edited layer's residual stream (`hook_resid_post`)
/// is found like ROME's `v*` (behind a post-MLP norm: δ before the norm, `zSite`). Then, layer by layer (lowest first, each on the model with the lower
/// layers already updated), the keys `K` (`[d_mlp, n]`) and the residual `R = (Z − H) / (layers
/// left)` (`[d_model, n]`) give the least-squares update
///
///     minimise ‖Kᵀ(W + Δ) − (KᵀW + Rᵀ)‖² + λ ‖C^{1/2} Δ‖²   ⇒   (λC + K Kᵀ) Δ = K Rᵀ
///
/// so `Δ = A Rᵀ` with `A = (λC + K Kᵀ)⁻¹ K` (one Cholesky solve with n right-hand sides, Float64).
/// Where a norm follows `W_out` (Gemma 2 and 3), each column of R is first carried back through it
/// (`preNormResiduals`): the least squares then fits `W_out`'s own output, as ROME's v* does there.
public enum MEMIT {
    /// `compute_ks`: per request, the mean over context types of the mean key within each type.
    static func keys(_ transformer: Transformer, _ prompts: [MemitPrompts], layer: Int) throws(EditError) -> [[Float]] {
        let flat = prompts.flatMap { $0.keyGroups.flatMap { $0 } }
        let ks = try ROME.keys(transformer, prompts: flat, layer: layer)
        let F = transformer.config.dMLP
        var out: [[Float]] = []
        var i = 0
        for p in prompts {
            var k = [Float](repeating: 0, count: F)
            for g in p.keyGroups {
                var m = [Float](repeating: 0, count: F)
                for _ in g {
                    for j in 0..<F { m[j] += ks[i][j] }
                    i += 1
                }
                for j in 0..<F { k[j] += m[j] / Float(g.count) / Float(p.keyGroups.count) }
            }
            out.append(k)
        }
        return out
    }

    /// The residual stream after block `layer` at each request's subject token (unadorned prompt).
    static func hidden(_ transformer: Transformer, _ prompts: [MemitPrompts], layer: Int) throws(EditError) -> [[Float]] {
        let id = HookID(.residPost, layer: layer)
        let r: ForwardResult
        do {
            r = try transformer.forward(prompts.map(\.plain.tokens), hooks: Hooks(capture: [id]), logits: .none, stopAfterLayer: layer)
        } catch {
            throw .forward(what: "hidden states at layer \(layer)", reason: error.description)
        }
        let h = r.cache[id]!
        let T = h.shape[1], d = h.shape[2]
        return prompts.enumerated().map { b, p in Array(h.data[((b * T + p.plain.subjectLast) * d)..<((b * T + p.plain.subjectLast + 1) * d)]) }
    }

    /// Requests whose `z` are optimised together in one batched objective (the result is the same as
    /// one at a time; this only sets how large the batched products and the saved activations get).
    public static let optimisationBatch = 16

    /// Where δ is optimised: the residual stream after block `zLayer`, or, where that block normalises
    /// its MLP output (Gemma 2 and 3), `W_out`'s output before the norm, as ROME's v*: the residual then
    /// gains N(m + δ) − N(m), which the block can produce, where a δ in the residual stream may ask for
    /// more than any normalised output reaches.
    static func zSite(_ transformer: Transformer, zLayer: Int) -> HookID {
        HookID(transformer.hasPostMLPNorm(layer: zLayer) ? .mlpOut : .residPost, layer: zLayer)
    }

    /// The residual-stream targets `z` from the optimisations: `h + δ`, or `h + N(m + δ) − N(m)` when δ
    /// sat before the post-MLP norm (`m` is `W_out`'s output at the subject token, `initialValue`).
    static func residualTargets(_ transformer: Transformer, _ opts: [DeltaOptimization], hidden hs: [[Float]], zLayer: Int) -> [[Float]] {
        guard zSite(transformer, zLayer: zLayer).site == .mlpOut else { return opts.map(\.target) }
        return zip(hs, opts).map { h, o in
            let before = transformer.postMLPNorm(layer: zLayer, o.initialValue, rows: 1)
            let after = transformer.postMLPNorm(layer: zLayer, o.target, rows: 1)
            return (0..<h.count).map { h[$0] + after[$0] - before[$0] }
        }
    }

    /// Optimises `z` for every request at layer `zLayer`, `optimisationBatch` requests per pass.
    /// Requests are grouped by how many positions each pass recomputes (the tokens after the subject),
    /// so little of a pass is padding; results come back in request order.
    static func targets(
        _ transformer: Transformer, _ prompts: [MemitPrompts], zLayer: Int, hyperparameters h: EditHyperparameters,
        log: ((String) -> Void)? = nil
    ) throws(EditError) -> [DeltaOptimization] {
        let width = prompts.map { p in p.rewrite.all.map { $0.tokens.count - $0.subjectLast }.max()! }
        let order = prompts.indices.sorted { (width[$0], $0) < (width[$1], $1) }
        var out = [DeltaOptimization?](repeating: nil, count: prompts.count)
        var i = 0
        while i < order.count {
            let chunk = Array(order[i..<min(i + optimisationBatch, order.count)])
            let objective = DeltaObjective(
                transformer: transformer, site: zSite(transformer, zLayer: zLayer), groups: chunk.map { prompts[$0].rewrite },
                klFactor: h.klFactor, weightDecay: h.weightDecay)
            let results = try DeltaOptimization.runBatch(
                objective, steps: h.steps, learningRate: h.learningRate, clampNormFactor: h.clampNormFactor)
            for (j, r) in zip(chunk, results) { out[j] = r }
            i += optimisationBatch
            if prompts.count > optimisationBatch { log?("z optimised for \(min(i, prompts.count))/\(prompts.count) requests") }
        }
        return out.map { $0! }
    }

    /// `A = (λC + K Kᵀ)⁻¹ K` for keys given as rows (`keys[i]` is request i's key), Float64.
    public static func adjustedKeys(_ keys: [[Float]], statistics: KeyStatistics, lambda: Double) throws(EditError) -> [Double] {
        let F = statistics.dimension, n = keys.count
        var a = statistics.moment.map { $0 * lambda }
        let kt = keys.flatMap { $0 }.map(Double.init)  // Kᵀ: n × F row-major
        kt.withUnsafeBufferPointer { k in
            a.withUnsafeMutableBufferPointer { c in
                BLAS.syrkTransposed(n: F, k: n, a: k.baseAddress!, lda: F, beta: 1, c: c.baseAddress!, ldc: F)
            }
        }
        var b = [Double](repeating: 0, count: F * n)  // K: F × n
        for i in 0..<n { for j in 0..<F { b[j * n + i] = Double(keys[i][j]) } }
        do {
            try a.withUnsafeMutableBufferPointer { ap throws(LinalgError) in
                try b.withUnsafeMutableBufferPointer { bp throws(LinalgError) in
                    try LAPACK.solvePositiveDefinite(n: F, rightHandSides: n, a: ap.baseAddress!, b: bp.baseAddress!)
                }
            }
        } catch {
            throw .linearAlgebra(what: "(λC + K Kᵀ)⁻¹K at layer \(statistics.layer)", reason: error.description)
        }
        return b
    }

    /// Refuses layers the model lacks (before any statistics are made for them).
    public static func checkApplicable(_ transformer: Transformer, layers: [Int]) throws(EditError) {
        let c = transformer.config
        for l in layers where l < 0 || l >= c.nLayers { throw .layerOutOfRange(what: "MEMIT layers", layer: l, layers: c.nLayers) }
        if let top = layers.max(), transformer.hasPostMLPNorm(layer: top), top + 1 == c.nLayers {
            throw .unsupported(
                what: "MEMIT or AlphaEdit up to the last layer of \(c.architecture.rawValue)",
                reason: "its MLP output is normalised after W_out (post_ffw_norm) and z is optimised before that norm, which needs a block above; edit layers below \(top)")
        }
    }

    /// Where the MLP output is normalised after `W_out` (Gemma 2 and 3), the residual column `r` each
    /// request should add at this layer becomes the change of `W_out k` whose normalised value moves
    /// by `r` (`Transformer.preNormChange`); elsewhere `R` is used as it is.
    static func preNormResiduals(_ transformer: Transformer, layer: Int, keys: [[Float]], residuals r: inout [Float]) {
        guard transformer.hasPostMLPNorm(layer: layer) else { return }
        let n = keys.count, D = transformer.config.dModel
        let m = transformer.mlpOutput(layer: layer, keys: keys.flatMap { $0 }, rows: n)
        for q in 0..<n {
            let column = (0..<D).map { r[$0 * n + q] }
            let change = transformer.preNormChange(layer: layer, output: Array(m[(q * D)..<((q + 1) * D)]), change: column)
            for j in 0..<D { r[j * n + q] = change[j] }
        }
    }

    /// Computes the MEMIT deltas for a batch (the model is not changed). `targets`, when given, are
    /// the `z` optimisations of `prompts` on this same `transformer` (from an earlier call).
    public static func compute(
        _ transformer: Transformer, prompts: [MemitPrompts], hyperparameters h: EditHyperparameters,
        statistics: [Int: KeyStatistics], update: LayerUpdate = .memit, targets precomputed: [DeltaOptimization]? = nil,
        log: ((String) -> Void)? = nil
    ) throws(EditError) -> MemitResult {
        let layers = h.layers.sorted()
        let c = transformer.config
        try checkApplicable(transformer, layers: layers)
        let zLayer = layers.last!
        let t0 = Date()
        // The z do not depend on λ or on the layer updates: a sweep over λ can pass them in.
        precondition(precomputed == nil || precomputed!.count == prompts.count, "MEMIT.compute: one target per request")
        let opts: [DeltaOptimization]
        if let precomputed { opts = precomputed } else { opts = try targets(transformer, prompts, zLayer: zLayer, hyperparameters: h, log: log) }
        var seconds = (targets: Date().timeIntervalSince(t0), keys: 0.0, solve: 0.0)
        let tHidden = Date()
        let unedited = try hidden(transformer, prompts, layer: zLayer)
        seconds.keys += Date().timeIntervalSince(tHidden)
        let zs = residualTargets(transformer, opts, hidden: unedited, zLayer: zLayer)
        var current = transformer
        var deltas: [WeightDelta] = []
        var norms: [Double] = []
        let n = prompts.count, D = c.dModel
        for (i, layer) in layers.enumerated() {
            guard let stats = statistics[layer] else {
                throw .statisticsMismatch(file: "statistics", field: "layer \(layer)", expected: "C for every edited layer", found: "none")
            }
            let t1 = Date()
            let ks = try keys(current, prompts, layer: layer)
            let hs = i == 0 ? unedited : try hidden(current, prompts, layer: zLayer)
            let t2 = Date()
            seconds.keys += t2.timeIntervalSince(t1)
            defer { seconds.solve += Date().timeIntervalSince(t2) }
            // R: [D × n], each column (z − h) / (layers left).
            var r = [Float](repeating: 0, count: D * n)
            var meanNorm = 0.0
            for q in 0..<n {
                var s = 0.0
                for j in 0..<D {
                    let t = zs[q][j] - hs[q][j]
                    s += Double(t) * Double(t)
                    r[j * n + q] = t / Float(layers.count - i)
                }
                meanNorm += s.squareRoot() / Double(n)
            }
            norms.append(meanNorm)
            preNormResiduals(current, layer: layer, keys: ks, residuals: &r)
            let left = try update.left(keys: ks, statistics: stats, layerIndex: i, hyperparameters: h)
            let delta = WeightDelta(layer: layer, rank: n, left: left, right: r)
            guard delta.isFinite else { throw .nonFinite(what: "the update of layer \(layer)") }
            delta.apply(to: &current.weights.blocks)
            deltas.append(delta)
        }
        var result = MemitResult(deltas: deltas, zs: zs, optimisations: opts, residualNorms: norms)
        result.seconds = seconds
        return result
    }
}

/// How a layer's update `Δ = A Rᵀ` gets its left factor A from the keys: MEMIT's
/// `(λC + K Kᵀ)⁻¹ K`, EMMET's `C⁻¹K (KᵀC⁻¹K)⁻¹`, or AlphaEdit's null-space projected solve.
public enum LayerUpdate: Sendable {
    case memit
    case emmet
    case alphaEdit(AlphaEditState)

    func left(keys: [[Float]], statistics: KeyStatistics, layerIndex: Int, hyperparameters h: EditHyperparameters) throws(EditError) -> [Float] {
        switch self {
        case .memit:
            return try MEMIT.adjustedKeys(keys, statistics: statistics, lambda: h.mom2UpdateWeight).map { Float($0) }
        case .emmet:
            return try EMMET.adjustedKeys(keys, statistics: statistics, lambda: h.mom2UpdateWeight, ridge: h.emmetLambda ?? 0).map { Float($0) }
        case .alphaEdit(let state):
            return try state.adjustedKeys(keys, layer: statistics.layer, l2: h.l2 ?? 10)
        }
    }
}
