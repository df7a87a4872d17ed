import Tensors

/// Keys (after rotary and any q/k norm, as at `attn.hook_rot_k`) and values (as at `attn.hook_v`) of the
/// `count` positions that precede a block step, one set per sequence: `[B, count, kv_width]` each.
///
/// With it a caller can run one block on the later positions of many sequences without recomputing
/// the earlier ones (the reuse causal tracing depends on).
public struct PrefixAttention: Sendable {
    public let count: Int
    public var keys: [Float]
    public var values: [Float]

    public init(count: Int, keys: [Float], values: [Float]) {
        precondition(keys.count == values.count && (count == 0 ? keys.isEmpty : keys.count % count == 0), "PrefixAttention: keys \(keys.count), values \(values.count) for \(count) positions")
        self.count = count
        self.keys = keys
        self.values = values
    }

    /// Each sequence's prefix rows followed by its own `T` rows of `k` and `v` (`[B, count + T, kv_width]`).
    func prepended(to k: [Float], _ v: [Float], batch B: Int, tokens T: Int) -> ([Float], [Float]) {
        let w = k.count / (B * T)
        precondition(keys.count == B * count * w, "PrefixAttention: \(keys.count / max(count * w, 1)) sequences of prefix for a batch of \(B)")
        let Tk = count + T
        var outK = [Float](repeating: 0, count: B * Tk * w), outV = outK
        for b in 0..<B {
            let p = b * count * w, s = b * T * w, o = b * Tk * w
            outK.replaceSubrange(o..<(o + count * w), with: keys[p..<(p + count * w)])
            outV.replaceSubrange(o..<(o + count * w), with: values[p..<(p + count * w)])
            outK.replaceSubrange((o + count * w)..<(o + Tk * w), with: k[s..<(s + T * w)])
            outV.replaceSubrange((o + count * w)..<(o + Tk * w), with: v[s..<(s + T * w)])
        }
        return (outK, outV)
    }
}

extension Transformer {
    /// Runs block `layer` in place on `residual` (`[B, T, d_model]`, entering as `blocks.{layer}.hook_resid_pre`,
    /// leaving as `hook_resid_post`), with the block's hooks. The rows hold positions `prefix.count ..< prefix.count + T`
    /// of each sequence; with a prefix, each sequence also attends to its own earlier keys and values.
    ///
    /// This is the same code `forward` runs for each block, so a run assembled from steps equals `forward`.
    public func step(layer: Int, residual: inout Tensor, prefix: PrefixAttention? = nil, hooks: Hooks = Hooks()) -> ActivationCache {
        precondition(layer >= 0 && layer < config.nLayers, "step: layer \(layer) of \(config.nLayers)")
        precondition(residual.rank == 3 && residual.shape[2] == config.dModel, "step: residual must be [B, T, d_model], got \(residual.shape)")
        let B = residual.shape[0], T = residual.shape[1]
        let offset = prefix?.count ?? 0
        var runner = HookRunner(hooks: hooks, lengths: Array(repeating: T, count: B), positionOffset: offset)
        var tape: Tape? = nil
        let positions = (0..<(B * T)).map { offset + $0 % T }
        var data = residual.data
        residual.data = []
        runBlock(layer, &data, B: B, T: T, positions: positions, runner: &runner, kvCache: nil, tape: &tape, prefix: prefix)
        residual.data = data
        return runner.cache
    }

    /// The model's own read-out of residual-stream rows: the final norm, the unembedding, and nothing else
    /// (`[N, d_model]` → logits `[N, vocab]`). For the rows of the last block's `hook_resid_post` this is
    /// exactly what `forward(..., logits: .all)` computes (the same functions, so the same bits, for the same N).
    public func readOut(_ residual: Tensor) -> Tensor {
        let d = config.dModel
        precondition(residual.count % d == 0, "readOut: \(residual.shape) is not rows of d_model \(d)")
        let N = residual.count / d
        let normed = applyNorm(weights.finalNorm, kind: config.norm, epsilon: config.normEpsilon, residual.data, rows: N, d: d).y
        return Tensor(shape: [N, config.vocabSize], data: unembed(normed, rows: Array(0..<N)))
    }

    /// The final norm alone on residual rows (`ln_final.hook_normalized` of them).
    public func finalNormalized(_ residual: Tensor) -> Tensor {
        let d = config.dModel
        let N = residual.count / d
        return Tensor(shape: [N, d], data: applyNorm(weights.finalNorm, kind: config.norm, epsilon: config.normEpsilon, residual.data, rows: N, d: d).y)
    }
}

/// Log-softmax of each row of `[N, V]` logits, computed as `ForwardResult.lastLogProbabilities` does.
public func logSoftmaxRows(_ logits: Tensor) -> [[Float]] {
    let V = logits.shape.last!
    let N = logits.count / V
    return logits.data.withUnsafeBufferPointer { p in
        (0..<N).map { Softmax.logSoftmax(p.baseAddress! + $0 * V, count: V) }
    }
}
