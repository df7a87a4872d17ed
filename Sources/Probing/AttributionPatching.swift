import Foundation
import Models
import Tensors

/// Attribution patching (Nanda 2023; Syed et al. 2023): a first-order estimate of every cell of a causal
/// trace from one forward and one backward pass per noise sample. Restoring the clean value x_c of a state
/// whose corrupted value is x_k changes p(target) by about `(x_c − x_k) · ∂p/∂x |_k`; a window of blocks is the
/// sum of its blocks' terms. Averaged over the same noise samples exact tracing uses.
public enum AttributionPatching {
    public struct Result: Codable, Sendable {
        public let kinds: [KindTrace]
        /// Exact tracing's restored probabilities are corrupted + indirect effect; these are the estimates of the same.
        public let corruptedProbability: Double
        public let seconds: Double
    }

    public static func run(_ model: Transformer, _ input: TraceInput, options: TraceOptions = TraceOptions(), sigma: Double? = nil) throws -> Result {
        let started = Date()
        let c = model.config
        let L = c.nLayers, d = c.dModel, V = c.vocabSize, S = options.samples
        guard input.target.ids.count == 1 else {
            throw ProbingError.invalidOption(name: "target", expected: "one token for attribution patching", found: "\(input.target.ids.count) tokens")
        }
        let std = try CausalTrace.noiseStd(options, sigma: sigma)
        var sites = Set<HookID>()
        for l in 0..<L { for k in options.kinds { sites.insert(HookID(k.site, layer: l)) } }
        let clean = try model.forward([input.sequence], hooks: Hooks(capture: sites), logits: .last)
        let hooks = try Interventions.hooks([CausalTrace.noise(input, std: std, options: options)], config: c, base: Hooks(capture: sites))
        let T = input.sequence.count
        let r = try model.forward(Array(repeating: input.sequence, count: S), hooks: hooks, logits: .all, recordTape: true)
        // dp/dlogits at each sample's last row: p (e_t − p).
        let t = input.target.ids[0]
        var grads: [Int: [Float]] = [:]
        var corrupted = 0.0
        for s in 0..<S {
            let row = s * T + T - 1
            var probs = [Float](repeating: 0, count: V)
            r.logits.data.withUnsafeBufferPointer { p in
                let x = p.baseAddress! + row * V
                var m = -Float.infinity
                for j in 0..<V where x[j] > m { m = x[j] }
                var sum = 0.0
                for j in 0..<V { sum += exp(Double(x[j] - m)) }
                for j in 0..<V { probs[j] = Float(exp(Double(x[j] - m)) / sum) }
            }
            let pt = probs[t]
            corrupted += Double(pt)
            grads[row] = (0..<V).map { j in pt * ((j == t ? 1 : 0) - probs[j]) }
        }
        corrupted /= Double(S)
        let g = model.backward(r.tape!, logitsGradient: grads, hooks: sites)
        let positions = options.positions ?? Array(0..<input.prompt.ids.count)
        var kinds: [KindTrace] = []
        for kind in options.kinds {
            // term[l][i] = mean_s (x_clean − x_s) · grad_s at block l, token i.
            var term = Array(repeating: Array(repeating: 0.0, count: positions.count), count: L)
            for l in 0..<L {
                let id = HookID(kind.site, layer: l)
                let xc = clean.cache[id]!.data, xk = r.cache[id]!.data, gk = g.hooks[id]!.data
                for (k, i) in positions.enumerated() {
                    var acc = 0.0
                    for s in 0..<S {
                        let o = (s * T + i) * d
                        for j in 0..<d { acc += Double(xc[i * d + j] - xk[o + j]) * Double(gk[o + j]) }
                    }
                    term[l][k] = acc / Double(S)
                }
            }
            let table = positions.indices.map { k in
                (0..<L).map { l in corrupted + kind.restoredLayers(center: l, window: options.window, layers: L).reduce(0.0) { $0 + term[$1][k] } }
            }
            kinds.append(KindTrace(kind: kind, restored: table))
        }
        return Result(kinds: kinds, corruptedProbability: corrupted, seconds: Date().timeIntervalSince(started))
    }

    /// Pearson correlation of the indirect effects of two traces of one kind.
    public static func correlation(_ a: [[Double]], _ b: [[Double]]) -> Double {
        let x = a.flatMap { $0 }, y = b.flatMap { $0 }
        let n = Double(x.count)
        let mx = x.reduce(0, +) / n, my = y.reduce(0, +) / n
        var sxy = 0.0, sxx = 0.0, syy = 0.0
        for (u, v) in zip(x, y) {
            sxy += (u - mx) * (v - my)
            sxx += (u - mx) * (u - mx)
            syy += (v - my) * (v - my)
        }
        return sxy / (sxx * syy).squareRoot()
    }
}
