import Foundation
import Models
import Tensors

/// The prompts of one `v*` (ROME) or `z` (MEMIT) optimisation, as tokens.
///
/// Rewriting prompts are `context + prompt + target[:-1]`; the target tokens are scored at their
/// last `target.count` positions. KL prompts are `"{subject} is a"`; their distribution is read at
/// the subject's last token, as in the reference `compute_v`.
public struct RewritePrompts: Sendable, Equatable {
    public var rewriting: [SubjectPrompt]
    public var kl: [SubjectPrompt]
    public var target: [Int]

    public init(rewriting: [SubjectPrompt], kl: [SubjectPrompt], target: [Int]) {
        self.rewriting = rewriting
        self.kl = kl
        self.target = target
    }

    /// Builds the prompts of a request from context templates (`"{}"`, `"text. {}"`).
    public init(request: EditRequest, templates: [String], encoder: PromptEncoder) throws(EditError) {
        let target = encoder.target(request.targetNew)
        guard !target.isEmpty else { throw .emptyTarget(request: request.id) }
        var rewriting: [SubjectPrompt] = []
        for c in templates {
            let template = c.replacingOccurrences(of: "{}", with: request.prompt)
            var p = try encoder.subjectPrompt(template: template, subject: request.subject)
            p.tokens += target.dropLast()
            rewriting.append(p)
        }
        let kl = try encoder.subjectPrompt(template: "{} is a", subject: request.subject)
        self.init(rewriting: rewriting, kl: [kl], target: target)
    }

    var all: [SubjectPrompt] { rewriting + kl }
}

/// The terms of the reference loss at one step.
public struct DeltaLoss: Sendable, Equatable, Codable {
    public var total: Double
    public var nll: Double
    public var kl: Double
    public var weightDecay: Double
    /// Mean over rewriting prompts of `exp(−NLL per target token)`.
    public var targetProbability: Double
}

/// The loss of `compute_v` / `compute_z` as a function of the vector `δ` added at one hook point
/// (`blocks.L.hook_mlp_out` for ROME, `blocks.L.hook_resid_post` for MEMIT) at the subject's last
/// token of every prompt, with its exact gradient from `Transformer.backward`:
///
///     L(δ) = mean_i NLL_i(target) + kl_factor · KL(p_δ ‖ p_0)("{subject} is a")
///            + v_weight_decay · ‖δ‖ / ‖v₀‖²
///
/// where `NLL_i` is the mean over target tokens of −log p, `p_0` the unedited distribution at the
/// KL prompts' subject token, and `v₀` the hook's value at the first rewriting prompt.
public struct DeltaObjective: Sendable {
    public let transformer: Transformer
    public let site: HookID
    public let prompts: RewritePrompts
    public let klFactor: Float
    public let weightDecay: Float

    /// The prompts run once up to the edited position (see `freeze`); nil: every evaluation runs the
    /// whole model on every position.
    public private(set) var frozen: FrozenPrefix?
    /// `v₀` read from the freezing call.
    var frozenInitial: [Float]?

    public init(transformer: Transformer, site: HookID, prompts: RewritePrompts, klFactor: Float, weightDecay: Float) {
        self.transformer = transformer
        self.site = site
        self.prompts = prompts
        self.klFactor = klFactor
        self.weightDecay = weightDecay
    }

    /// Runs the prompts once and keeps what does not depend on δ: every block up to the edited one,
    /// and every position before each prompt's subject token (attention is causal). Later
    /// evaluations then run only blocks `L+1...` on positions from the subject token on
    /// (`Transformer.forward(resuming:)`), which gives the same loss and gradient for a fraction of
    /// the work. Not possible when δ sits after the last block.
    public mutating func freeze() throws(EditError) {
        let L = site.layer!
        guard site.site == .mlpOut || site.site == .residPost, L + 1 < transformer.config.nLayers else { return }
        let all = prompts.all
        do {
            let (f, cache) = try transformer.freezePrefix(
                all.map(\.tokens), prefixLengths: all.map(\.subjectLast), firstLayer: L + 1, hooks: Hooks(capture: [site]))
            let d = transformer.config.dModel
            let v = cache[site]!.data
            frozenInitial = Array(v[(all[0].subjectLast * d)..<((all[0].subjectLast + 1) * d)])
            frozen = f
        } catch {
            throw .forward(what: "v* optimisation", reason: error.description)
        }
    }

    /// One evaluation: the loss, its gradient, the hook's value at the first prompt (before δ) and the
    /// KL prompts' log-probabilities (to fix `p_0` at the first call).
    public struct Evaluation: Sendable {
        public var loss: DeltaLoss
        public var gradient: [Float]
        public var initialValue: [Float]
        public var klLogProbabilities: [[Float]]
        /// Seconds in the forward pass, the read-out and loss, and the backward pass.
        public var seconds: (forward: Double, loss: Double, backward: Double) = (0, 0, 0)
    }

    /// Evaluates at `delta`. `initialNorm` is `‖v₀‖` (nil: use this call's value); `klReference` is
    /// `log p_0` (nil: this call's distribution, so KL = 0). `gradient: false` skips the backward pass.
    public func evaluate(
        delta: [Float], initialNorm: Float? = nil, klReference: [[Float]]? = nil, gradient wantGradient: Bool = true
    ) throws(EditError) -> Evaluation {
        let c = transformer.config
        let d = c.dModel, V = c.vocabSize
        precondition(delta.count == d)
        let all = prompts.all
        let batch = all.map(\.tokens)
        let lookups = all.map(\.subjectLast)
        let site = self.site
        let t0 = Date()
        let r: ForwardResult
        let T: Int
        /// Row of (prompt b, position t) in the call's tensors.
        let rowOf: (Int, Int) -> Int
        let initial: [Float]
        if let frozen, let frozenInitial {
            // δ joins the residual stream entering block L+1 at each prompt's first recomputed position.
            let first = HookID(.residPre, layer: site.layer! + 1)
            let Ts = frozen.suffixWidth
            var hooks = Hooks(capture: [HookID(.lnFinalNormalized)])
            hooks.edit(first) { t, _ in
                for b in 0..<lookups.count {
                    let o = b * Ts * d
                    for j in 0..<d { t.data[o + j] += delta[j] }
                }
            }
            r = transformer.forward(resuming: frozen, hooks: hooks, recordTape: wantGradient)
            T = Ts
            rowOf = { b, t in b * Ts + t - lookups[b] }
            initial = frozenInitial
        } else {
            var hooks = Hooks(capture: [HookID(.lnFinalNormalized), site])
            hooks.edit(site) { t, ctx in
                let T = t.shape[1]
                for (b, pos) in lookups.enumerated() where pos < ctx.lengths[b] {
                    let o = (b * T + pos) * d
                    for j in 0..<d { t.data[o + j] += delta[j] }
                }
            }
            do {
                r = try transformer.forward(batch, hooks: hooks, logits: .none, recordTape: wantGradient)
            } catch {
                throw .forward(what: "v* optimisation", reason: error.description)
            }
            let width = batch.map(\.count).max()!
            T = width
            rowOf = { b, t in b * width + t }
            // v₀: the hook's value at prompt 0's subject token, with δ taken back out.
            let captured = r.cache[site]!
            let o0 = lookups[0] * d
            initial = (0..<d).map { captured.data[o0 + $0] - delta[$0] }
        }
        _ = T
        let t1 = Date()

        // Rows whose logits enter the loss.
        let nT = prompts.target.count
        let R = prompts.rewriting.count
        var rows: [Int] = []
        for (i, p) in prompts.rewriting.enumerated() {
            let len = p.tokens.count
            for j in 0..<nT { rows.append(rowOf(i, len - nT + j)) }
        }
        for (k, p) in prompts.kl.enumerated() { rows.append(rowOf(R + k, p.subjectLast)) }
        let logits = ReadOut.logits(transformer, normalized: r.cache[HookID(.lnFinalNormalized)]!, rows: rows)
        let logProbs = ReadOut.logSoftmaxRows(logits, columns: V)

        var dLogits: [Int: [Float]] = [:]
        // NLL: mean over prompts of the mean over target tokens.
        var nll = 0.0
        var probSum = 0.0
        for i in 0..<R {
            var each = 0.0
            for j in 0..<nT {
                let lp = logProbs[i * nT + j]
                each -= Double(lp[prompts.target[j]])
                if wantGradient {
                    let scale = 1 / Float(nT * R)
                    var g = lp.map { expf($0) * scale }
                    g[prompts.target[j]] -= scale
                    dLogits[rows[i * nT + j], default: [Float](repeating: 0, count: V)] = g
                }
            }
            each /= Double(nT)
            nll += each / Double(R)
            probSum += exp(-each)
        }
        // KL(p_δ ‖ p_0) at the KL prompts, batch mean.
        let nKL = prompts.kl.count
        var klLogProbs: [[Float]] = []
        var kl = 0.0
        for k in 0..<nKL {
            let lp = logProbs[R * nT + k]
            klLogProbs.append(lp)
            guard let ref = klReference?[k] else { continue }
            var rowKL = 0.0
            for v in 0..<V { rowKL += exp(Double(lp[v])) * Double(lp[v] - ref[v]) }
            kl += rowKL / Double(nKL)
            if wantGradient {
                let scale = Double(klFactor) / Double(nKL)
                var g = [Float](repeating: 0, count: V)
                for v in 0..<V {
                    let p = exp(Double(lp[v]))
                    g[v] = Float(scale * p * (Double(lp[v] - ref[v]) - rowKL))
                }
                dLogits[rows[R * nT + k]] = g
            }
        }
        // Weight decay: v_weight_decay · ‖δ‖ / ‖v₀‖².
        let v0Norm = Double(initialNorm ?? norm(initial))
        let deltaNorm = Double(norm(delta))
        let wd = Double(weightDecay) * deltaNorm / (v0Norm * v0Norm)
        let loss = DeltaLoss(
            total: nll + Double(klFactor) * kl + wd, nll: nll, kl: Double(klFactor) * kl, weightDecay: wd,
            targetProbability: probSum / Double(R))

        var grad = [Float](repeating: 0, count: d)
        let t2 = Date()
        if wantGradient {
            // δ is added to what joins the residual stream after block L (hook_mlp_out or hook_resid_post), so its
            // gradient is dL/d(resid_pre of block L+1): block L itself need not be differentiated.
            let L = site.layer!
            let skipBlock = (site.site == .mlpOut || site.site == .residPost) && L + 1 < c.nLayers
            let wanted = skipBlock ? HookID(.residPre, layer: L + 1) : site
            let g = transformer.backward(r.tape!, logitsGradient: dLogits, hooks: [wanted], downTo: skipBlock ? L + 1 : L)
            let gs = g.hooks[wanted]!
            for (b, pos) in lookups.enumerated() {
                let o = rowOf(b, pos) * d
                for j in 0..<d { grad[j] += gs.data[o + j] }
            }
            if deltaNorm > 0 {
                let s = Float(Double(weightDecay) / (deltaNorm * v0Norm * v0Norm))
                for j in 0..<d { grad[j] += s * delta[j] }
            }
        }
        var e = Evaluation(loss: loss, gradient: grad, initialValue: initial, klLogProbabilities: klLogProbs)
        e.seconds = (t1.timeIntervalSince(t0), t2.timeIntervalSince(t1), Date().timeIntervalSince(t2))
        return e
    }
}

func norm(_ x: [Float]) -> Float {
    var s = 0.0
    for v in x { s += Double(v) * Double(v) }
    return Float(s.squareRoot())
}

/// The result of optimising `δ`: `v* = v₀ + δ`.
public struct DeltaOptimization: Sendable {
    public var delta: [Float]
    public var initialValue: [Float]
    public var losses: [DeltaLoss]
    /// Total seconds in forward passes, read-out and loss, and backward passes.
    public var seconds: (forward: Double, loss: Double, backward: Double) = (0, 0, 0)
    public var target: [Float] { zip(initialValue, delta).map { $0 + $1 } }

    /// The reference loop (`compute_v`): Adam on δ (β = 0.9, 0.999, ε = 1e-8, as torch), stop when
    /// the loss falls below 0.05 or at the last step (which is evaluated but not taken), and after
    /// every step scale δ back into the ball of radius `clamp_norm_factor · ‖v₀‖`.
    public static func run(
        _ objective: DeltaObjective, steps: Int, learningRate: Float, clampNormFactor: Float
    ) throws(EditError) -> DeltaOptimization {
        var objective = objective
        if objective.frozen == nil { try objective.freeze() }
        let d = objective.transformer.config.dModel
        var delta = [Float](repeating: 0, count: d)
        var m = [Float](repeating: 0, count: d), v = [Float](repeating: 0, count: d)
        var initial: [Float] = []
        var v0Norm: Float = 0
        var klRef: [[Float]]?
        var losses: [DeltaLoss] = []
        var seconds: (forward: Double, loss: Double, backward: Double) = (0, 0, 0)
        let beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8
        for it in 0..<steps {
            let last = it == steps - 1
            // The reference evaluates the loss first and stops before a backward pass when it is small.
            let e = try objective.evaluate(delta: delta, initialNorm: it == 0 ? nil : v0Norm, klReference: klRef, gradient: !last)
            if it == 0 {
                initial = e.initialValue
                v0Norm = norm(initial)
                klRef = e.klLogProbabilities
            }
            guard e.loss.total.isFinite, e.gradient.allSatisfy(\.isFinite) else {
                throw .nonFinite(what: "the v* loss or its gradient at step \(it)")
            }
            losses.append(e.loss)
            seconds.forward += e.seconds.forward
            seconds.loss += e.seconds.loss
            seconds.backward += e.seconds.backward
            if e.loss.total < 5e-2 || last { break }
            let t = Float(it + 1)
            let bc1 = 1 - powf(beta1, t), bc2 = 1 - powf(beta2, t)
            for j in 0..<d {
                let g = e.gradient[j]
                m[j] = beta1 * m[j] + (1 - beta1) * g
                v[j] = beta2 * v[j] + (1 - beta2) * g * g
                let denom = (v[j].squareRoot() / bc2.squareRoot()) + eps
                delta[j] -= (learningRate / bc1) * m[j] / denom
            }
            let maxNorm = clampNormFactor * v0Norm
            let n = norm(delta)
            if n > maxNorm {
                for j in 0..<d { delta[j] *= maxNorm / n }
            }
        }
        var result = DeltaOptimization(delta: delta, initialValue: initial, losses: losses)
        result.seconds = seconds
        return result
    }
}
