import Foundation
import Models
import Tensors

/// The loss of `compute_v` / `compute_z` as a function of the vector `δ` added at one hook point
/// (`blocks.L.hook_mlp_out` for ROME, `blocks.L.hook_resid_post` for MEMIT) at the subject's last
/// token of every prompt, with its exact gradient from `Transformer.backward`:
///
///     L(δ) = mean_i NLL_i(target) + kl_factor · KL(p_δ ‖ p_0)("{subject} is a")
///            + v_weight_decay · ‖δ‖ / ‖v₀‖²
///
/// where `NLL_i` is the mean over target tokens of −log p, `p_0` the unedited distribution at the
/// KL prompts' subject token, and `v₀` the hook's value at the first rewriting prompt.
///
/// Several requests (`groups`) can share one objective: each has its own `δ`, prompts, `v₀` and
/// `p_0`, and its loss depends on nothing else, so one batched forward and backward pass gives
/// every request's loss and gradient exactly as separate calls would (up to rounding). MEMIT
/// optimises its `z`s this way.
public struct DeltaObjective: Sendable {
    public let transformer: Transformer
    public let site: HookID
    /// One entry per request; each has its own `δ`.
    public let groups: [RewritePrompts]
    public let klFactor: Float
    public let weightDecay: Float

    /// The prompts run once up to the edited position (see `freeze`); nil: every evaluation runs the
    /// whole model on every position.
    public private(set) var frozen: FrozenPrefix?
    /// `v₀` per group, read from the freezing call.
    var frozenInitial: [[Float]]?
    /// When the edited block normalises its MLP output after `W_out` (Gemma 2/3), `δ` is added to
    /// `W_out`'s output `m` before that norm `N` (as EasyEdit edits the output of the MLP module), so
    /// the residual stream gains `N(m + δ) − N(m)`: `m` and `N(m)` at each prompt's subject token.
    var preNorm: (output: [Float], normalized: [Float])?

    /// The prompts of a single-request objective.
    public var prompts: RewritePrompts { groups[0] }

    public init(transformer: Transformer, site: HookID, prompts: RewritePrompts, klFactor: Float, weightDecay: Float) {
        self.init(transformer: transformer, site: site, groups: [prompts], klFactor: klFactor, weightDecay: weightDecay)
    }

    public init(transformer: Transformer, site: HookID, groups: [RewritePrompts], klFactor: Float, weightDecay: Float) {
        precondition(!groups.isEmpty, "DeltaObjective: at least one request")
        self.transformer = transformer
        self.site = site
        self.groups = groups
        self.klFactor = klFactor
        self.weightDecay = weightDecay
    }

    /// Every prompt of every group, in order, with the group it belongs to.
    var sequences: [(group: Int, prompt: SubjectPrompt)] {
        groups.enumerated().flatMap { g, p in p.all.map { (g, $0) } }
    }

    /// Index of each group's first prompt in `sequences`.
    var firstSequence: [Int] {
        var out: [Int] = []
        var n = 0
        for p in groups {
            out.append(n)
            n += p.all.count
        }
        return out
    }

    /// Runs the prompts once and keeps what does not depend on δ: every block up to the edited one,
    /// and every position before each prompt's subject token (attention is causal). Later
    /// evaluations then run only blocks `L+1...` on positions from the subject token on
    /// (`Transformer.forward(resuming:)`), which gives the same loss and gradient for a fraction of
    /// the work. Not possible when δ sits after the last block.
    public mutating func freeze() throws(EditError) {
        let L = site.layer!
        guard site.site == .mlpOut || site.site == .residPost, L + 1 < transformer.config.nLayers else { return }
        let all = sequences.map(\.prompt)
        let postNorm = site.site == .mlpOut && transformer.hasPostMLPNorm(layer: L)
        let key = HookID(.mlpPost, layer: L)
        do {
            let (f, cache) = try transformer.freezePrefix(
                all.map(\.tokens), prefixLengths: all.map(\.subjectLast), firstLayer: L + 1, hooks: Hooks(capture: postNorm ? [key] : [site]))
            let d = transformer.config.dModel
            let value: [Float], width: Int
            if postNorm {
                // m = W_out·k at each prompt's subject token, before the norm.
                let k = cache[key]!, F = transformer.config.dMLP, T = k.shape[1]
                let keys = all.enumerated().flatMap { b, p in k.data[((b * T + p.subjectLast) * F)..<((b * T + p.subjectLast + 1) * F)] }
                let m = transformer.mlpOutput(layer: L, keys: keys, rows: all.count)
                preNorm = (m, transformer.postMLPNorm(layer: L, m, rows: all.count))
                (value, width) = (m, 1)
            } else {
                (value, width) = (cache[site]!.data, cache[site]!.shape[1])
            }
            frozenInitial = firstSequence.map { b in
                let o = (b * width + (postNorm ? 0 : all[b].subjectLast)) * d
                return Array(value[o..<(o + d)])
            }
            frozen = f
        } catch {
            throw .forward(what: "v* optimisation", reason: error.description)
        }
    }

    /// The same objective on a subset of its groups (the frozen prefix is cut down, not recomputed).
    public func restricted(to kept: [Int]) -> DeltaObjective {
        var o = DeltaObjective(transformer: transformer, site: site, groups: kept.map { groups[$0] }, klFactor: klFactor, weightDecay: weightDecay)
        if let frozen, let frozenInitial {
            let first = firstSequence
            let rows = kept.flatMap { g in first[g]..<(first[g] + groups[g].all.count) }
            o.frozen = frozen.selecting(rows)
            o.frozenInitial = kept.map { frozenInitial[$0] }
            if let preNorm {
                let d = transformer.config.dModel
                func pick(_ x: [Float]) -> [Float] { rows.flatMap { x[($0 * d)..<(($0 + 1) * d)] } }
                o.preNorm = (pick(preNorm.output), pick(preNorm.normalized))
            }
        }
        return o
    }

    /// One evaluation of one group: the loss, its gradient, the hook's value at the first prompt
    /// (before δ) and the KL prompts' log-probabilities (to fix `p_0` at the first call).
    public struct Evaluation: Sendable {
        public var loss: DeltaLoss
        public var gradient: [Float]
        public var initialValue: [Float]
        public var klLogProbabilities: [[Float]]
        /// Seconds in the forward pass, the read-out and loss, and the backward pass (of the whole call).
        public var seconds: (forward: Double, loss: Double, backward: Double) = (0, 0, 0)
    }

    /// Evaluates a single-request objective at `delta`. `initialNorm` is `‖v₀‖` (nil: use this
    /// call's value); `klReference` is `log p_0` (nil: this call's distribution, so KL = 0).
    /// `gradient: false` skips the backward pass.
    public func evaluate(
        delta: [Float], initialNorm: Float? = nil, klReference: [[Float]]? = nil, gradient wantGradient: Bool = true
    ) throws(EditError) -> Evaluation {
        precondition(groups.count == 1, "evaluate(delta:): use evaluate(deltas:) for several requests")
        return try evaluate(
            deltas: [delta], initialNorms: initialNorm.map { [$0] }, klReferences: klReference.map { [$0] }, gradient: wantGradient)[0]
    }

    /// Evaluates every group at its own `δ` in one forward (and backward) pass.
    public func evaluate(
        deltas: [[Float]], initialNorms: [Float]? = nil, klReferences: [[[Float]]]? = nil, gradient wantGradient: Bool = true
    ) throws(EditError) -> [Evaluation] {
        let c = transformer.config
        let d = c.dModel, V = c.vocabSize
        precondition(deltas.count == groups.count && deltas.allSatisfy { $0.count == d })
        let seqs = sequences
        let owner = seqs.map(\.group)
        let lookups = seqs.map(\.prompt.subjectLast)
        let first = firstSequence
        let site = self.site
        let t0 = Date()
        let r: ForwardResult
        /// Row of (prompt b, position t) in the call's tensors.
        let rowOf: (Int, Int) -> Int
        let initial: [[Float]]
        /// With a post-MLP norm: `m + δ` per prompt, where the norm's gradient is taken.
        var shifted: [Float] = []
        if let frozen, let frozenInitial {
            // δ joins the residual stream entering block L+1 at each prompt's first recomputed position
            // (through the post-MLP norm when there is one: N(m + δ) − N(m)).
            let entry = HookID(.residPre, layer: site.layer! + 1)
            let Ts = frozen.suffixWidth
            var change = (0..<owner.count).flatMap { deltas[owner[$0]] }
            if let preNorm {
                shifted = zip(preNorm.output, change).map { $0 + $1 }
                let n = transformer.postMLPNorm(layer: site.layer!, shifted, rows: owner.count)
                change = zip(n, preNorm.normalized).map { $0 - $1 }
            }
            let added = change
            var hooks = Hooks(capture: [HookID(.lnFinalNormalized)])
            hooks.edit(entry) { t, _ in
                for b in 0..<owner.count {
                    let o = b * Ts * d
                    for j in 0..<d { t.data[o + j] += added[b * d + j] }
                }
            }
            r = transformer.forward(resuming: frozen, hooks: hooks, recordTape: wantGradient)
            rowOf = { b, t in b * Ts + t - lookups[b] }
            initial = frozenInitial
        } else {
            if site.site == .mlpOut, let L = site.layer, transformer.hasPostMLPNorm(layer: L) {
                throw .unsupported(
                    what: "v* at blocks.\(L).hook_mlp_out of \(c.architecture.rawValue)",
                    reason: "δ is added to W_out's output before the post-MLP norm, which needs the frozen prefix (freeze() first, and a block after L)")
            }
            var hooks = Hooks(capture: [HookID(.lnFinalNormalized), site])
            hooks.edit(site) { t, ctx in
                let T = t.shape[1]
                for (b, pos) in lookups.enumerated() where pos < ctx.lengths[b] {
                    let o = (b * T + pos) * d
                    let delta = deltas[owner[b]]
                    for j in 0..<d { t.data[o + j] += delta[j] }
                }
            }
            let batch = seqs.map(\.prompt.tokens)
            do {
                r = try transformer.forward(batch, hooks: hooks, logits: .none, recordTape: wantGradient)
            } catch {
                throw .forward(what: "v* optimisation", reason: error.description)
            }
            let width = batch.map(\.count).max()!
            rowOf = { b, t in b * width + t }
            // v₀: the hook's value at each group's first prompt's subject token, with δ taken back out.
            let captured = r.cache[site]!
            initial = first.enumerated().map { g, b in
                let o = rowOf(b, lookups[b]) * d
                return (0..<d).map { captured.data[o + $0] - deltas[g][$0] }
            }
        }
        let t1 = Date()

        // Rows whose logits enter the loss: per group, the target positions of its rewriting
        // prompts, then its KL prompts' subject tokens.
        var rows: [Int] = []
        var rowStart: [Int] = []
        for (g, p) in groups.enumerated() {
            rowStart.append(rows.count)
            let nT = p.target.count
            for (i, q) in p.rewriting.enumerated() {
                for j in 0..<nT { rows.append(rowOf(first[g] + i, q.tokens.count - nT + j)) }
            }
            for (k, q) in p.kl.enumerated() { rows.append(rowOf(first[g] + p.rewriting.count + k, q.subjectLast)) }
        }
        let logits = ReadOut.logits(transformer, normalized: r.cache[HookID(.lnFinalNormalized)]!, rows: rows)
        let logProbs = ReadOut.logSoftmaxRows(logits, columns: V)

        var dLogits: [Int: [Float]] = [:]
        var out: [Evaluation] = []
        for (g, p) in groups.enumerated() {
            let nT = p.target.count, R = p.rewriting.count, base = rowStart[g]
            // NLL: mean over prompts of the mean over target tokens.
            var nll = 0.0
            var probSum = 0.0
            for i in 0..<R {
                var each = 0.0
                for j in 0..<nT {
                    let lp = logProbs[base + i * nT + j]
                    each -= Double(lp[p.target[j]])
                    if wantGradient {
                        let scale = 1 / Float(nT * R)
                        var gr = lp.map { expf($0) * scale }
                        gr[p.target[j]] -= scale
                        dLogits[rows[base + i * nT + j]] = gr
                    }
                }
                each /= Double(nT)
                nll += each / Double(R)
                probSum += exp(-each)
            }
            // KL(p_δ ‖ p_0) at the KL prompts, batch mean.
            let nKL = p.kl.count
            var klLogProbs: [[Float]] = []
            var kl = 0.0
            for k in 0..<nKL {
                let lp = logProbs[base + R * nT + k]
                klLogProbs.append(lp)
                guard let ref = klReferences?[g][k] else { continue }
                var rowKL = 0.0
                for v in 0..<V { rowKL += exp(Double(lp[v])) * Double(lp[v] - ref[v]) }
                kl += rowKL / Double(nKL)
                if wantGradient {
                    let scale = Double(klFactor) / Double(nKL)
                    var gr = [Float](repeating: 0, count: V)
                    for v in 0..<V {
                        let q = exp(Double(lp[v]))
                        gr[v] = Float(scale * q * (Double(lp[v] - ref[v]) - rowKL))
                    }
                    dLogits[rows[base + R * nT + k]] = gr
                }
            }
            // Weight decay: v_weight_decay · ‖δ‖ / ‖v₀‖².
            let v0Norm = Double(initialNorms?[g] ?? norm(initial[g]))
            let deltaNorm = Double(norm(deltas[g]))
            let wd = Double(weightDecay) * deltaNorm / (v0Norm * v0Norm)
            let loss = DeltaLoss(
                total: nll + Double(klFactor) * kl + wd, nll: nll, kl: Double(klFactor) * kl, weightDecay: wd,
                targetProbability: probSum / Double(R))
            var grad = [Float](repeating: 0, count: d)
            if wantGradient && deltaNorm > 0 {
                let s = Float(Double(weightDecay) / (deltaNorm * v0Norm * v0Norm))
                for j in 0..<d { grad[j] = s * deltas[g][j] }
            }
            out.append(Evaluation(loss: loss, gradient: grad, initialValue: initial[g], klLogProbabilities: klLogProbs))
        }

        let t2 = Date()
        if wantGradient {
            // δ is added to what joins the residual stream after block L (hook_mlp_out or hook_resid_post), so its
            // gradient is dL/d(resid_pre of block L+1): block L itself need not be differentiated.
            let L = site.layer!
            let skipBlock = (site.site == .mlpOut || site.site == .residPost) && L + 1 < c.nLayers
            let wanted = skipBlock ? HookID(.residPre, layer: L + 1) : site
            let gr = transformer.backward(r.tape!, logitsGradient: dLogits, hooks: [wanted], downTo: skipBlock ? L + 1 : L)
            let gs = gr.hooks[wanted]!
            var each = lookups.enumerated().flatMap { b, pos in gs.data[(rowOf(b, pos) * d)..<((rowOf(b, pos) + 1) * d)] }
            if preNorm != nil { each = transformer.postMLPNormBackward(layer: L, x: shifted, dy: each, rows: owner.count) }
            for b in owner.indices {
                for j in 0..<d { out[owner[b]].gradient[j] += each[b * d + j] }
            }
        }
        let seconds = (t1.timeIntervalSince(t0), t2.timeIntervalSince(t1), Date().timeIntervalSince(t2))
        for g in out.indices { out[g].seconds = seconds }
        return out
    }
}
