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
    /// Seconds in forward passes, read-out and loss, and backward passes (of the whole batch when
    /// several requests were optimised together).
    public var seconds: (forward: Double, loss: Double, backward: Double) = (0, 0, 0)
    public var target: [Float] { zip(initialValue, delta).map { $0 + $1 } }

    /// The reference loop (`compute_v`): Adam on δ (β = 0.9, 0.999, ε = 1e-8, as torch), stop when
    /// the loss falls below 0.05 or at the last step (which is evaluated but not taken), and after
    /// every step scale δ back into the ball of radius `clamp_norm_factor · ‖v₀‖`.
    public static func run(
        _ objective: DeltaObjective, steps: Int, learningRate: Float, clampNormFactor: Float
    ) throws(EditError) -> DeltaOptimization {
        precondition(objective.groups.count == 1, "DeltaOptimization.run: use runBatch for several requests")
        return try runBatch(objective, steps: steps, learningRate: learningRate, clampNormFactor: clampNormFactor)[0]
    }

    /// The reference loop for every group of `objective` at once, one batched forward and backward
    /// pass per step. Each request keeps its own Adam state, stopping rule and clamp, so the result
    /// is what separate runs give; a request that stops is dropped from later passes.
    public static func runBatch(
        _ objective: DeltaObjective, steps: Int, learningRate: Float, clampNormFactor: Float
    ) throws(EditError) -> [DeltaOptimization] {
        var current = objective
        if current.frozen == nil { try current.freeze() }
        let d = objective.transformer.config.dModel
        let G = objective.groups.count
        let zero = [Float](repeating: 0, count: d)
        var delta = [[Float]](repeating: zero, count: G)
        var m = delta, v = delta
        var initial = [[Float]](repeating: [], count: G)
        var v0Norm = [Float](repeating: 0, count: G)
        var klRef = [[[Float]]](repeating: [], count: G)
        var losses = [[DeltaLoss]](repeating: [], count: G)
        var seconds: (forward: Double, loss: Double, backward: Double) = (0, 0, 0)
        let beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8
        /// Groups still optimised, as indices into `objective.groups` (in `current`'s order).
        var active = Array(0..<G)
        for it in 0..<steps {
            let last = it == steps - 1
            // The reference evaluates the loss first and stops before a backward pass when it is small.
            let es = try current.evaluate(
                deltas: active.map { delta[$0] }, initialNorms: it == 0 ? nil : active.map { v0Norm[$0] },
                klReferences: it == 0 ? nil : active.map { klRef[$0] }, gradient: !last)
            seconds.forward += es[0].seconds.forward
            seconds.loss += es[0].seconds.loss
            seconds.backward += es[0].seconds.backward
            var stillActive: [Int] = []
            for (i, g) in active.enumerated() {
                let e = es[i]
                if it == 0 {
                    initial[g] = e.initialValue
                    v0Norm[g] = norm(e.initialValue)
                    klRef[g] = e.klLogProbabilities
                }
                guard e.loss.total.isFinite, e.gradient.allSatisfy(\.isFinite) else {
                    throw .nonFinite(what: "the v* loss or its gradient at step \(it)" + (G > 1 ? " (request \(g + 1) of \(G))" : ""))
                }
                losses[g].append(e.loss)
                if e.loss.total < 5e-2 || last { continue }
                stillActive.append(i)
                let t = Float(it + 1)
                let bc1 = 1 - powf(beta1, t), bc2 = 1 - powf(beta2, t)
                for j in 0..<d {
                    let gr = e.gradient[j]
                    m[g][j] = beta1 * m[g][j] + (1 - beta1) * gr
                    v[g][j] = beta2 * v[g][j] + (1 - beta2) * gr * gr
                    let denom = (v[g][j].squareRoot() / bc2.squareRoot()) + eps
                    delta[g][j] -= (learningRate / bc1) * m[g][j] / denom
                }
                let maxNorm = clampNormFactor * v0Norm[g]
                let n = norm(delta[g])
                if n > maxNorm {
                    for j in 0..<d { delta[g][j] *= maxNorm / n }
                }
            }
            if stillActive.isEmpty { break }
            if stillActive.count < active.count {
                current = current.restricted(to: stillActive)
                active = stillActive.map { active[$0] }
            }
        }
        return (0..<G).map { g in
            var r = DeltaOptimization(delta: delta[g], initialValue: initial[g], losses: losses[g])
            r.seconds = seconds
            return r
        }
    }
}
