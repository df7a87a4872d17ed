import Foundation
import Linalg
import Models
import Tensors

/// Running mean and variance of feature rows (Chan et al.'s pairwise update), Float64: UltraEdit's
/// lifelong normaliser, carried from one edit to the next for the whole life of a session.
public struct RunningMoments: Sendable, Equatable {
    public private(set) var count: Double
    public private(set) var mean: [Double]
    /// Sum of squared deviations from the mean.
    public private(set) var m2: [Double]

    public init(width: Int) {
        count = 0
        mean = [Double](repeating: 0, count: width)
        m2 = [Double](repeating: 0, count: width)
    }

    public init(count: Double, mean: [Double], m2: [Double]) {
        precondition(mean.count == m2.count)
        self.count = count
        self.mean = mean
        self.m2 = m2
    }

    public var width: Int { mean.count }

    /// Adds `rows` (each `width` long).
    public mutating func update(_ rows: [[Float]]) {
        guard !rows.isEmpty else { return }
        let nb = Double(rows.count), n = count + nb
        for j in 0..<width {
            var m = 0.0
            for r in rows { m += Double(r[j]) }
            m /= nb
            var s = 0.0
            for r in rows { s += (Double(r[j]) - m) * (Double(r[j]) - m) }
            let delta = m - mean[j]
            mean[j] += nb * delta / n
            m2[j] += s + count * nb * delta * delta / n
        }
        count = n
    }

    /// `(x − mean) / (std + ε)` with the sample standard deviation and ε Float32's machine epsilon, as
    /// the reference's `RunningMeanStd` (a feature seen once has std 0 and normalises to 0).
    public func normalize(_ x: [Float]) -> [Float] {
        let eps = Double(Float.ulpOfOne)
        return (0..<width).map { j in
            let std = (m2[j] / (count - 1 + eps)).squareRoot()
            return Float((Double(x[j]) - mean[j]) / (std + eps))
        }
    }
}

/// Hyperparameters of UltraEdit, named as XiaojieGu/UltraEdit's config (`edit_modules`, `lr`).
public struct UltraEditHyperparameters: Sendable, Equatable, Codable {
    /// The edited maps as `L.W_gate` / `L.W_in` (the reference edits `mlp.gate_proj` and `mlp.up_proj`).
    public var modules: [String]
    /// The step size: each key's target change of the module output is `−lr·‖k̂‖²·ĝ`.
    public var learningRate: Float
    /// The ridge of the least squares `(KᵀK + ridge·I) ΔW = Kᵀ V` (the reference's identity: 1).
    public var ridge: Double

    public init(modules: [String], learningRate: Float, ridge: Double = 1) {
        self.modules = modules
        self.learningRate = learningRate
        self.ridge = ridge
    }

    enum CodingKeys: String, CodingKey { case modules = "edit_modules", learningRate = "lr", ridge }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        modules = try c.decode([String].self, forKey: .modules)
        learningRate = try c.decode(Float.self, forKey: .learningRate)
        ridge = try c.decodeIfPresent(Double.self, forKey: .ridge) ?? 1
    }

    /// The modules as (layer, map), checked against a model.
    public func targets(blocks: [BlockWeights], file: String = "hyperparameters") throws(EditError) -> [(layer: Int, matrix: ParameterKind)] {
        func bad(_ field: String, _ expected: String, _ found: String) -> EditError {
            .malformedHyperparameters(file: file, field: "ultraedit.\(field)", expected: expected, found: found)
        }
        guard !modules.isEmpty else { throw bad("edit_modules", "maps such as \"10.W_gate\" or \"17.W_in\"", "none") }
        guard Set(modules).count == modules.count else { throw bad("edit_modules", "distinct maps", "\(modules)") }
        guard learningRate > 0, learningRate.isFinite else { throw bad("lr", "a positive number", "\(learningRate)") }
        guard ridge > 0, ridge.isFinite else { throw bad("ridge", "a positive number", "\(ridge)") }
        return try modules.map { m throws(EditError) in
            guard let (l, k) = WeightDelta.parseTarget(Substring(m)), k == .W_gate || k == .W_in else {
                throw bad("edit_modules", "maps such as \"10.W_gate\" or \"17.W_in\" (the MLP's input projections)", m)
            }
            guard l < blocks.count else { throw .layerOutOfRange(what: "\(file): ultraedit.edit_modules", layer: l, layers: blocks.count) }
            guard blocks[l].linear(k) != nil else { throw bad("edit_modules", "maps the model has", "\(m) (this MLP has no W_gate)") }
            return (l, k)
        }
    }
}

/// UltraEdit (Gu et al. 2025), as XiaojieGu/UltraEdit `editor/ultraedit.py` computes it: no
/// optimisation, no subject, no statistics of the corpus. For each edit,
///
/// 1. one forward and backward pass of the teacher-forced cross-entropy of the target tokens
///    (mean over every target token of the batch) on the current model gives, at each target
///    position, each edited map's input `k` and the gradient `g` of the loss at its output;
/// 2. the rows `[k, g]` join a running mean and variance (one per map shape, shared by the maps of
///    that shape and kept for the life of the session: the "lifelong normalisation");
/// 3. with `[k̂, ĝ]` the normalised rows, each key's desired output change is `v = −lr·‖k̂‖²·ĝ`;
/// 4. `ΔW = (KᵀK + I)⁻¹ Kᵀ V` (raw keys as rows of K), the least-squares change of the map that
///    moves each key's output by its `v`, kept in factored form (rank = the number of target tokens).
///
/// One difference from the reference: its running variance adds `n·var` of each new batch (with
/// torch's unbiased `var`, undefined for a single row: an edit with a one-token target gives NaN);
/// Locus uses Chan's exact update, which agrees with it for large batches and is defined for one row.
public enum UltraEdit {
    /// The shape key of a map's normaliser: `"inputs×outputs"`.
    static func shapeKey(_ w: Linear) -> String { "\(w.inputs)x\(w.outputs)" }

    /// Keys and output gradients of every target map at every target position, in `targets` order.
    static func features(
        _ transformer: Transformer, _ examples: [FineTuning.Example], targets: [(layer: Int, matrix: ParameterKind)]
    ) throws(EditError) -> [(keys: [[Float]], gradients: [[Float]])] {
        let c = transformer.config, V = c.vocabSize, d = c.dModel, F = c.dMLP
        let batch = examples.map { $0.prompt + $0.target.dropLast() }
        let width = batch.map(\.count).max()!
        var capture: Set<HookID> = [HookID(.lnFinalNormalized)]
        for t in targets { capture.insert(HookID(.ln2Normalized, layer: t.layer)) }
        let r: ForwardResult
        do {
            r = try transformer.forward(batch, hooks: Hooks(capture: capture), logits: .none, recordTape: true)
        } catch {
            throw .forward(what: "UltraEdit keys", reason: error.description)
        }
        var rows: [Int] = [], labels: [Int] = []
        for (b, e) in examples.enumerated() {
            for j in 0..<e.target.count {
                rows.append(b * width + e.prompt.count - 1 + j)
                labels.append(e.target[j])
            }
        }
        let logProbs = ReadOut.logSoftmaxRows(ReadOut.logits(transformer, normalized: r.cache[HookID(.lnFinalNormalized)]!, rows: rows), columns: V)
        var dLogits: [Int: [Float]] = [:]
        let s = 1 / Float(rows.count)
        for (i, row) in rows.enumerated() {
            var g = logProbs[i].map { expf($0) * s }
            g[labels[i]] -= s
            dLogits[row] = g
        }
        func outputSite(_ k: ParameterKind) -> HookSite { k == .W_gate || !c.gatedMLP ? .mlpPre : .mlpPreLinear }
        let wanted = Set(targets.map { HookID(outputSite($0.matrix), layer: $0.layer) })
        let g = transformer.backward(r.tape!, logitsGradient: dLogits, hooks: wanted, downTo: targets.map(\.layer).min()!)
        return targets.map { t in
            let k = r.cache[HookID(.ln2Normalized, layer: t.layer)]!.data
            let gr = g.hooks[HookID(outputSite(t.matrix), layer: t.layer)]!.data
            return (rows.map { Array(k[($0 * d)..<(($0 + 1) * d)]) }, rows.map { Array(gr[($0 * F)..<(($0 + 1) * F)]) })
        }
    }

    /// Adds the edit's feature rows to the normalisers (before any update is computed, as the reference).
    static func record(_ f: [(keys: [[Float]], gradients: [[Float]])], targets: [(layer: Int, matrix: ParameterKind)], transformer: Transformer,
                       into moments: inout [String: RunningMoments]) {
        for (t, x) in zip(targets, f) {
            let w = transformer.weights.blocks[t.layer].linear(t.matrix)!
            let key = shapeKey(w)
            var m = moments[key] ?? RunningMoments(width: w.inputs + w.outputs)
            m.update(zip(x.keys, x.gradients).map { $0 + $1 })
            moments[key] = m
        }
    }

    /// The UltraEdit change of every edited map for `examples` on the current weights, and the
    /// normalisers after this edit (the model is not changed).
    public static func compute(
        _ transformer: Transformer, examples: [FineTuning.Example], hyperparameters h: UltraEditHyperparameters,
        moments: [String: RunningMoments]
    ) throws(EditError) -> (deltas: [WeightDelta], moments: [String: RunningMoments]) {
        let targets = try h.targets(blocks: transformer.weights.blocks)
        for e in examples where e.prompt.isEmpty || e.target.isEmpty {
            throw .unsupported(what: "UltraEdit", reason: "a request has an empty prompt or target")
        }
        let f = try features(transformer, examples, targets: targets)
        var next = moments
        record(f, targets: targets, transformer: transformer, into: &next)
        var deltas: [WeightDelta] = []
        for (t, x) in zip(targets, f) {
            let w = transformer.weights.blocks[t.layer].linear(t.matrix)!
            let n = w.inputs, o = w.outputs, N = x.keys.count
            let norm = next[shapeKey(w)]!
            // V: each row −lr·‖k̂‖²·ĝ, stored as right = Vᵀ ([outputs × N]).
            var right = [Float](repeating: 0, count: o * N)
            for i in 0..<N {
                let z = norm.normalize(x.keys[i] + x.gradients[i])
                var kk = 0.0
                for j in 0..<n { kk += Double(z[j]) * Double(z[j]) }
                let coeff = -Double(h.learningRate) * kk
                for j in 0..<o { right[j * N + i] = Float(coeff * Double(z[n + j])) }
            }
            // left = (KᵀK + ridge·I)⁻¹ Kᵀ ([inputs × N]), Float64.
            var a = [Double](repeating: 0, count: n * n)
            var kt = [Double](repeating: 0, count: n * N)
            for i in 0..<N { for p in 0..<n { kt[p * N + i] = Double(x.keys[i][p]) } }
            for p in 0..<n {
                for q in p..<n {
                    var s = 0.0
                    for i in 0..<N { s += Double(x.keys[i][p]) * Double(x.keys[i][q]) }
                    a[p * n + q] = s
                    a[q * n + p] = s
                }
                a[p * n + p] += h.ridge
            }
            do {
                try a.withUnsafeMutableBufferPointer { ap throws(LinalgError) in
                    try kt.withUnsafeMutableBufferPointer { bp throws(LinalgError) in
                        try LAPACK.solvePositiveDefinite(n: n, rightHandSides: N, a: ap.baseAddress!, b: bp.baseAddress!)
                    }
                }
            } catch {
                throw .linearAlgebra(what: "(KᵀK + I)⁻¹Kᵀ at \(WeightDelta.describe("\(t.layer).\(t.matrix.rawValue)"))", reason: error.description)
            }
            let delta = WeightDelta(layer: t.layer, matrix: t.matrix, rank: N, left: kt.map { Float($0) }, right: right)
            guard delta.isFinite else { throw .nonFinite(what: "the UltraEdit update of \(WeightDelta.describe(delta.target))") }
            deltas.append(delta)
        }
        return (deltas, next)
    }
}
