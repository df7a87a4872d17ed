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
