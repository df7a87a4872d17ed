import Foundation
import Linalg
import Models
import Tensors

/// What a fine-tuning edit computed.
public struct FineTuneResult: Sendable {
    /// FT-L/FT-M: one dense change of `W_out` per trained layer; LoRA: one factored change
    /// `(α/r)·A B` per adapted map.
    public var deltas: [WeightDelta]
    /// The loss at every step evaluated.
    public var losses: [DeltaLoss]
    public var seconds: Double
}

/// The fine-tuning baselines every editing paper compares with, as EasyEdit and kmeng01/rome run them:
///
/// - **FT-L** (`ft_main.py` with `objective_optimization: prompt_last`, the ROME paper's
///   constrained fine-tuning): Adam on `W_out` of `layers`, the loss `−mean_j log p(target_j)` with
///   every target token read at the prompt's last position, and after every step each weight clamped
///   to `w₀ ± norm_constraint` (an L∞ ball around the original weights).
/// - **FT-M** (`objective_optimization: target_new`): the same on the teacher-forced cross-entropy
///   of the target tokens after the prompt (the prompt's tokens carry no loss).
/// - **LoRA** (`lora_main.py`, with plain LoRA in place of EasyEdit's default AdaLoRA): adapters
///   `W + (α/r)·A B` on `target_modules` of `layers`, `A` `[inputs, r]` drawn as peft's
///   kaiming-uniform `U(±1/√inputs)`, `B` `[r, outputs]` zero, Adam on A and B; on apply the adapters
///   are merged into the weights, and the ledger keeps them as the factors `A` and `(α/r)·Bᵀ`.
///
/// Requests of one edit are trained together: each step's loss is the mean over them (EasyEdit's
/// `batch_size` equal to the number of requests). Gradients are exact (`Transformer.backward`).
/// Dropout (EasyEdit's `lora_dropout`) is not applied: the loss is deterministic.
public enum FineTuning {
    /// One request as tokens: the prompt and the new target.
    public struct Example: Sendable, Equatable {
        public var prompt: [Int]
        public var target: [Int]
        public init(prompt: [Int], target: [Int]) {
            self.prompt = prompt
            self.target = target
        }
    }

    /// The loss of `examples` on `transformer` and its gradient with respect to each map in
    /// `maps` (`[inputs, outputs]`, Locus's layout). `gradient: false` skips the backward pass.
    public static func loss(
        _ transformer: Transformer, _ examples: [Example], objective: FineTuneHyperparameters.Objective, maps: [ParameterID],
        gradient: Bool = true
    ) throws(EditError) -> (loss: DeltaLoss, gradients: [ParameterID: [Float]]) {
        precondition(!examples.isEmpty)
        let V = transformer.config.vocabSize
        let batch = examples.map { e in objective == .targetNew ? e.prompt + e.target.dropLast() : e.prompt }
        let width = batch.map(\.count).max()!
        let r: ForwardResult
        do {
            r = try transformer.forward(batch, hooks: Hooks(capture: [HookID(.lnFinalNormalized)]), logits: .none, recordTape: gradient)
        } catch {
            throw .forward(what: "fine-tuning loss", reason: error.description)
        }
        // Rows read: per example, the target positions (target_new) or the prompt's last position.
        var rows: [Int] = []
        for (b, e) in examples.enumerated() {
            let last = e.prompt.count - 1
            if objective == .targetNew {
                for j in 0..<e.target.count { rows.append(b * width + last + j) }
            } else {
                rows.append(b * width + last)
            }
        }
        let logProbs = ReadOut.logSoftmaxRows(ReadOut.logits(transformer, normalized: r.cache[HookID(.lnFinalNormalized)]!, rows: rows), columns: V)
        var total = 0.0, probability = 0.0
        var dLogits: [Int: [Float]] = [:]
        var k = 0
        let E = Double(examples.count)
        for e in examples {
            let nT = e.target.count
            var each = 0.0
            if objective == .targetNew {
                for j in 0..<nT {
                    let lp = logProbs[k + j]
                    each -= Double(lp[e.target[j]])
                    if gradient {
                        let s = Float(1 / (Double(nT) * E))
                        var g = lp.map { expf($0) * s }
                        g[e.target[j]] -= s
                        dLogits[rows[k + j]] = g
                    }
                }
                k += nT
            } else {
                let lp = logProbs[k]
                for t in e.target { each -= Double(lp[t]) }
                if gradient {
                    // Σ_j (softmax − onehot(t_j)) / (nT·E).
                    var g = lp.map { Float(Double(expf($0)) / E) }
                    for t in e.target { g[t] -= Float(1 / (Double(nT) * E)) }
                    dLogits[rows[k]] = g
                }
                k += 1
            }
            each /= Double(nT)
            total += each / E
            probability += exp(-each) / E
        }
        let l = DeltaLoss(total: total, nll: total, kl: 0, weightDecay: 0, targetProbability: probability)
        guard gradient else { return (l, [:]) }
        let lowest = maps.compactMap { if case .block(let b, _) = $0 { return b } else { return nil } }.min() ?? 0
        let g = transformer.backward(r.tape!, logitsGradient: dLogits, parameters: Set(maps), downTo: lowest)
        return (l, g.parameters)
    }

    /// Trains on `examples` from the current weights of `transformer` (which is not changed) and
    /// returns the change.
    public static func compute(
        _ transformer: Transformer, examples: [Example], method: EditMethod, hyperparameters h: FineTuneHyperparameters,
        log: ((String) -> Void)? = nil
    ) throws(EditError) -> FineTuneResult {
        try h.validate(method: method, blocks: transformer.weights.blocks)
        for e in examples where e.prompt.isEmpty || e.target.isEmpty {
            throw .unsupported(what: "fine-tuning", reason: "a request has an empty prompt or target")
        }
        let start = Date()
        let layers = h.trainedLayers(layerCount: transformer.config.nLayers)
        let kinds: [ParameterKind] = method == .lora ? h.targetModules! : [.W_out]
        let maps = layers.flatMap { l in kinds.map { (layer: l, kind: $0) } }
        let ids = maps.map { ParameterID.block($0.layer, $0.kind) }
        let originals = maps.map { transformer.weights.blocks[$0.layer].linear($0.kind)! }
        let original = originals.map(\.weight)
        var losses: [DeltaLoss] = []

        /// The model with every trained map set to `weights[i]`.
        func model(_ weights: [[Float]]) -> Transformer {
            var t = transformer
            for (i, m) in maps.enumerated() {
                var lin = originals[i]
                lin.weight = weights[i]
                t.weights.blocks[m.layer].setLinear(m.kind, lin)
            }
            return t
        }
        func finite(_ l: DeltaLoss, _ g: [ParameterID: [Float]], step: Int) throws(EditError) {
            guard l.total.isFinite, g.values.allSatisfy({ $0.allSatisfy(\.isFinite) }) else {
                throw .nonFinite(what: "the \(method.rawValue) loss or its gradient at step \(step)")
            }
        }

        if method != .lora {
            // FT-L / FT-M: Adam on the weights themselves (torch's weight decay is on W, not ΔW).
            var w = original
            var adams = w.map { Adam(count: $0.count, learningRate: h.learningRate, weightDecay: h.weightDecay) }
            for step in 0..<h.steps {
                let (l, g) = try loss(model(w), examples, objective: h.objective, maps: ids)
                try finite(l, g, step: step)
                losses.append(l)
                if let stop = h.stopLoss, l.total < stop { break }
                for i in maps.indices {
                    adams[i].step(&w[i], gradient: g[ids[i]]!)
                    if let eps = h.normConstraint {
                        for j in 0..<w[i].count { w[i][j] = min(max(w[i][j], original[i][j] - eps), original[i][j] + eps) }
                    }
                }
            }
            let deltas = maps.enumerated().map { i, m in
                WeightDelta(
                    layer: m.layer, matrix: m.kind, dense: zip(w[i], original[i]).map { $0 - $1 }, inputs: originals[i].inputs,
                    outputs: originals[i].outputs)
            }
            log?(String(format: "%@: loss %.3f → %.3f in %d steps", method.rawValue, losses.first?.total ?? .nan, losses.last?.total ?? .nan, losses.count))
            return FineTuneResult(deltas: deltas, losses: losses, seconds: Date().timeIntervalSince(start))
        }

        // LoRA: W + s·A B with A [in × r], B [r × out], s = α/r; dA = s·G Bᵀ, dB = s·Aᵀ G for G = dL/dW.
        let r = h.rank!, s = h.alpha! / Float(r)
        var rng = SplitMix64(seed: h.seed)
        var a = originals.map { lin -> [Float] in
            let bound = 1 / Float(lin.inputs).squareRoot()
            return (0..<(lin.inputs * r)).map { _ in Float(Double(rng.next() >> 11) / Double(1 << 53)) * 2 * bound - bound }
        }
        var b = originals.map { [Float](repeating: 0, count: r * $0.outputs) }
        var adamA = a.map { Adam(count: $0.count, learningRate: h.learningRate, weightDecay: h.weightDecay) }
        var adamB = b.map { Adam(count: $0.count, learningRate: h.learningRate, weightDecay: h.weightDecay) }
        for step in 0..<h.steps {
            let w = maps.indices.map { i in merge(original[i], a: a[i], b: b[i], inputs: originals[i].inputs, outputs: originals[i].outputs, rank: r, scale: s) }
            let (l, g) = try loss(model(w), examples, objective: h.objective, maps: ids)
            try finite(l, g, step: step)
            losses.append(l)
            if let stop = h.stopLoss, l.total < stop { break }
            for i in maps.indices {
                let (dA, dB) = factorGradients(
                    g[ids[i]]!, a: a[i], b: b[i], inputs: originals[i].inputs, outputs: originals[i].outputs, rank: r, scale: s)
                adamA[i].step(&a[i], gradient: dA)
                adamB[i].step(&b[i], gradient: dB)
            }
        }
        // ΔW = A · (s·B) = left · rightᵀ with left = A [in × r], right = s·Bᵀ [out × r].
        let deltas = maps.enumerated().map { i, m in
            let o = originals[i].outputs
            var right = [Float](repeating: 0, count: o * r)
            for k in 0..<r { for j in 0..<o { right[j * r + k] = s * b[i][k * o + j] } }
            return WeightDelta(layer: m.layer, matrix: m.kind, rank: r, left: a[i], right: right)
        }
        log?(String(format: "lora: loss %.3f → %.3f in %d steps", losses.first?.total ?? .nan, losses.last?.total ?? .nan, losses.count))
        return FineTuneResult(deltas: deltas, losses: losses, seconds: Date().timeIntervalSince(start))
    }

    /// `W + s·A B` (`W` `[inputs, outputs]`, `A` `[inputs, r]`, `B` `[r, outputs]`).
    static func merge(_ w: [Float], a: [Float], b: [Float], inputs n: Int, outputs o: Int, rank r: Int, scale s: Float) -> [Float] {
        var w = w
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                w.withUnsafeMutableBufferPointer { wp in
                    BLAS.gemm(m: n, n: o, k: r, alpha: s, a: ap.baseAddress!, lda: r, b: bp.baseAddress!, ldb: o, beta: 1, c: wp.baseAddress!, ldc: o)
                }
            }
        }
        return w
    }

    /// The chain rule through `W + s·A B` for `G = dL/dW`: `dA = s·G Bᵀ`, `dB = s·Aᵀ G`.
    static func factorGradients(
        _ g: [Float], a: [Float], b: [Float], inputs n: Int, outputs o: Int, rank r: Int, scale s: Float
    ) -> (dA: [Float], dB: [Float]) {
        var dA = [Float](repeating: 0, count: n * r), dB = [Float](repeating: 0, count: r * o)
        g.withUnsafeBufferPointer { gp in
            b.withUnsafeBufferPointer { bp in
                dA.withUnsafeMutableBufferPointer { dp in
                    BLAS.gemm(transposeB: true, m: n, n: r, k: o, alpha: s, a: gp.baseAddress!, lda: o, b: bp.baseAddress!, ldb: o, c: dp.baseAddress!, ldc: r)
                }
            }
            a.withUnsafeBufferPointer { ap in
                dB.withUnsafeMutableBufferPointer { dp in
                    BLAS.gemm(transposeA: true, m: r, n: o, k: n, alpha: s, a: ap.baseAddress!, lda: r, b: gp.baseAddress!, ldb: o, c: dp.baseAddress!, ldc: o)
                }
            }
        }
        return (dA, dB)
    }
}
