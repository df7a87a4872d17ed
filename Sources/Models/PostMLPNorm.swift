/// The norm some families apply to the MLP's output before it joins the residual stream (Gemma 2
/// and 3: `post_feedforward_layernorm`), and `W_out`'s own output before it, for editors whose
/// value vector is what `W_out` writes (ROME's `v*`, as EasyEdit takes it: the output of the MLP
/// module, before the decoder layer's post-norm).
extension Transformer {
    /// Whether block `layer` normalises its MLP output after `W_out`.
    public func hasPostMLPNorm(layer: Int) -> Bool { weights.blocks[layer].postMLPNorm != nil }

    /// `W_out`'s output (bias included, before any post-norm) for `rows` rows of keys `[rows, d_mlp]`.
    public func mlpOutput(layer: Int, keys: [Float], rows: Int) -> [Float] {
        precondition(keys.count == rows * config.dMLP, "mlpOutput: keys of width d_mlp")
        return applyLinear(weights.blocks[layer].wOut, keys, rows: rows)
    }

    /// Block `layer`'s post-MLP norm applied to `rows` rows `[rows, d_model]` (the rows themselves
    /// when the block has none).
    public func postMLPNorm(layer: Int, _ x: [Float], rows: Int) -> [Float] {
        guard let n = weights.blocks[layer].postMLPNorm else { return x }
        return applyNorm(n, kind: config.norm, epsilon: config.normEpsilon, x, rows: rows, d: config.dModel).y
    }

    /// The gradient through that norm: `J(x)ᵀ dy` for each of the `rows` rows (`dy` itself when the
    /// block has none).
    public func postMLPNormBackward(layer: Int, x: [Float], dy: [Float], rows: Int) -> [Float] {
        guard let n = weights.blocks[layer].postMLPNorm else { return dy }
        let d = config.dModel
        let stats = applyNorm(n, kind: config.norm, epsilon: config.normEpsilon, x, rows: rows, d: d).stats
        var dx = [Float](repeating: 0, count: rows * d)
        normBackward(n, kind: config.norm, x: x, stats: stats, dy: dy, dx: &dx, rows: rows, d: d, dWeight: nil, dBias: nil)
        return dx
    }
}

extension Transformer {
    /// The change of `W_out`'s output `m` (one row) that moves block `layer`'s normalised MLP output
    /// `N(m)` by `r`, as closely as the norm allows (`r` itself when the block has no post-norm).
    ///
    /// RMSNorm's output `g ⊙ x / rms(x)` depends only on x's direction, so what it can output is
    /// `g ⊙ v` with `rms(v) = 1`. The closest to `t = N(m) + r` is, by a Lagrange multiplier μ,
    /// `v_i = g_i t_i / (g_i² + μ)` with μ the root of `Σ v_i² = d` (found by bisection; one
    /// dimension, exact up to rounding). Of the `x = s v` that all give it, the one nearest `m`
    /// (`s = v·m / v·v`) is returned as `x − m`. When `t` is reachable, `N(m + result) = t`.
    public func preNormChange(layer: Int, output m: [Float], change r: [Float]) -> [Float] {
        guard let n = weights.blocks[layer].postMLPNorm else { return r }
        // The loaders give post-MLP norms only to Gemma 2 and 3, whose norms are RMSNorms without bias.
        precondition(config.norm == .rms && n.bias == nil, "preNormChange: a post-MLP norm that is not an RMSNorm")
        let d = config.dModel
        let g = n.weight.map(Double.init)
        let normalised = postMLPNorm(layer: layer, m, rows: 1)
        let gt = (0..<d).map { g[$0] * (Double(normalised[$0]) + Double(r[$0])) }
        func excess(_ mu: Double) -> Double {
            var s = 0.0
            for i in 0..<d where gt[i] != 0 { let v = gt[i] / (g[i] * g[i] + mu); s += v * v }
            return s - Double(d)
        }
        // Σ v_i² falls from +∞ (μ just above −min g_i² over the i with g_i t_i ≠ 0) to 0 (μ → ∞).
        let floor = -((0..<d).filter { gt[$0] != 0 }.map { g[$0] * g[$0] }.min() ?? 0)
        var lo = floor, hi = max(floor, 0) + 1
        while excess(hi) > 0 { hi = floor + 2 * (hi - floor) }
        for _ in 0..<200 {
            let mid = (lo + hi) / 2
            if mid == lo || mid == hi { break }
            if excess(mid) > 0 { lo = mid } else { hi = mid }
        }
        let mu = hi
        let v = (0..<d).map { gt[$0] / (g[$0] * g[$0] + mu) }
        var vm = 0.0, vv = 0.0, mm = 0.0
        for i in 0..<d { vm += v[i] * Double(m[i]); vv += v[i] * v[i]; mm += Double(m[i]) * Double(m[i]) }
        // A reversal so large that v points away from m: keep m's scale rather than flip the sign.
        let s = vm > 0 ? vm / vv : (mm / Double(d)).squareRoot()
        return (0..<d).map { Float(s * v[$0] - Double(m[$0])) }
    }
}
