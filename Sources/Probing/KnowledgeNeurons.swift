import Foundation
import Models
import Tensors

/// Knowledge neurons (Dai et al. 2022): integrated gradients of p(target) with respect to the FFN key
/// activations (`mlp.hook_post`) at the prompt's last position. For block l with activations w̄ there,
///
///     Attr(wᵢ) = w̄ᵢ / m · Σₖ₌₁ᵐ ∂p(α = k/m) / ∂wᵢ,    p(α) = p(target | w = α·w̄),
///
/// (the paper's Riemann approximation, m = 20 steps). Neurons whose attribution exceeds `threshold` × the
/// largest attribution over all examined blocks are the knowledge neurons; suppressing (setting to 0) or
/// amplifying (doubling) them at the last position shows their effect on p(target).
public enum KnowledgeNeurons {
    public struct Neuron: Codable, Sendable, Equatable {
        public let layer: Int
        public let index: Int
        public let attribution: Double
        public let activation: Double
    }

    public struct Result: Codable, Sendable {
        public let prompt: PromptTokens
        public let target: Target
        public let steps: Int
        public let threshold: Double
        public let layers: [Int]
        /// Sum of attributions per block, and p(target) with the block's activations at 0 and at w̄
        /// (integrated gradients' completeness: the sum approaches their difference as steps grow).
        public let layerAttribution: [Double]
        public let layerProbabilityAtZero: [Double]
        public let probability: Double
        public let neurons: [Neuron]
        public let suppressedProbability: Double
        public let amplifiedProbability: Double
        public let seconds: Double
    }

    /// Attributions of every neuron of block `l` (`[d_mlp]`), p at α = 0, and the activations w̄.
    public static func attributions(_ model: Transformer, ids: [Int], target t: Int, layer l: Int, steps m: Int = 20) throws -> (attr: [Double], pZero: Double, activation: [Float]) {
        let F = model.config.dMLP, V = model.config.vocabSize, T = ids.count
        let base = try model.forward([ids], hooks: Hooks(capture: [HookID(.mlpPost, layer: l)]), logits: .none)
        let wbar = Array(base.cache[HookID(.mlpPost, layer: l)]!.data[((T - 1) * F)..<(T * F)])
        // Sequences 0..<m hold α = (k+1)/m; sequence m holds α = 0.
        let alphas = (1...m).map { Float($0) / Float(m) } + [0]
        var hooks = Hooks()
        hooks.edit(HookID(.mlpPost, layer: l)) { x, _ in
            for (b, a) in alphas.enumerated() {
                let o = (b * T + T - 1) * F
                for i in 0..<F { x.data[o + i] = a * wbar[i] }
            }
        }
        let r = try model.forward(Array(repeating: ids, count: alphas.count), hooks: hooks, logits: .all, recordTape: true)
        var grads: [Int: [Float]] = [:]
        var pZero = 0.0
        for b in 0..<alphas.count {
            let row = b * T + T - 1
            var probs = [Float](repeating: 0, count: V)
            r.logits.data.withUnsafeBufferPointer { p in
                let x = p.baseAddress! + row * V
                var mx = -Float.infinity
                for j in 0..<V where x[j] > mx { mx = x[j] }
                var sum = 0.0
                for j in 0..<V { sum += exp(Double(x[j] - mx)) }
                for j in 0..<V { probs[j] = Float(exp(Double(x[j] - mx)) / sum) }
            }
            if b == m { pZero = Double(probs[t]); continue }
            grads[row] = (0..<V).map { j in probs[t] * ((j == t ? 1 : 0) - probs[j]) }
        }
        let g = model.backward(r.tape!, logitsGradient: grads, hooks: [HookID(.mlpPost, layer: l)], downTo: l).hooks[HookID(.mlpPost, layer: l)]!.data
        var attr = [Double](repeating: 0, count: F)
        for b in 0..<m {
            let o = (b * T + T - 1) * F
            for i in 0..<F { attr[i] += Double(g[o + i]) }
        }
        for i in 0..<F { attr[i] *= Double(wbar[i]) / Double(m) }
        return (attr, pZero, wbar)
    }

    /// p(target) with `neurons` at the last position multiplied by `factor` (0 suppresses, 2 amplifies).
    public static func probability(_ model: Transformer, ids: [Int], target t: Int, neurons: [Neuron], factor: Float) throws -> Double {
        let F = model.config.dMLP, T = ids.count
        var hooks = Hooks()
        for (l, group) in Dictionary(grouping: neurons, by: \.layer) {
            let idx = group.map(\.index)
            hooks.edit(HookID(.mlpPost, layer: l)) { x, _ in for i in idx { x.data[(T - 1) * F + i] *= factor } }
        }
        return exp(Double(try model.forward([ids], hooks: hooks, logits: .last).lastLogProbabilities()[t]))
    }

    public static func run(
        _ model: Transformer, prompt: PromptTokens, target: Target, layers: [Int]? = nil, steps: Int = 20, threshold: Double = 0.2,
        progress: ((Int, Int) -> Void)? = nil
    ) throws -> Result {
        let started = Date()
        let L = model.config.nLayers
        let ls = layers ?? Array(0..<L)
        if let bad = ls.first(where: { $0 < 0 || $0 >= L }) { throw ProbingError.invalidOption(name: "layers", expected: "blocks 0..<\(L)", found: "\(bad)") }
        guard steps >= 1 else { throw ProbingError.invalidOption(name: "steps", expected: "≥ 1", found: "\(steps)") }
        guard threshold > 0 && threshold <= 1 else { throw ProbingError.invalidOption(name: "threshold", expected: "in (0, 1]", found: "\(threshold)") }
        let t = target.ids[0]
        var all: [Neuron] = []
        var sums: [Double] = [], zeros: [Double] = []
        for (n, l) in ls.enumerated() {
            let a = try attributions(model, ids: prompt.ids, target: t, layer: l, steps: steps)
            sums.append(a.attr.reduce(0, +))
            zeros.append(a.pZero)
            all += a.attr.indices.map { Neuron(layer: l, index: $0, attribution: a.attr[$0], activation: Double(a.activation[$0])) }
            progress?(n + 1, ls.count)
        }
        let maxAttr = all.map(\.attribution).max() ?? 0
        let chosen = all.filter { $0.attribution > threshold * maxAttr && $0.attribution > 0 }.sorted { $0.attribution > $1.attribution }
        let p = exp(Double(try model.forward([prompt.ids], logits: .last).lastLogProbabilities()[t]))
        return Result(
            prompt: prompt, target: target, steps: steps, threshold: threshold, layers: ls, layerAttribution: sums, layerProbabilityAtZero: zeros,
            probability: p, neurons: chosen, suppressedProbability: try probability(model, ids: prompt.ids, target: t, neurons: chosen, factor: 0),
            amplifiedProbability: try probability(model, ids: prompt.ids, target: t, neurons: chosen, factor: 2), seconds: Date().timeIntervalSince(started))
    }
}
