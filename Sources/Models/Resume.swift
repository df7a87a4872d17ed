import Linalg
import Tensors

/// One block's frozen keys and values for a resumed call: per sequence `b`, its first
/// `lengths[b]` positions' rotated keys and values, stored `[B, width, kv_width]` (zero-padded
/// to `width = max(lengths)`). `joined` appends a call's own keys and values after them.
struct LayerPrefix: Sendable {
    var keys: [Float]
    var values: [Float]
    let lengths: [Int]
    let width: Int
    let kvWidth: Int

    /// `[B, width + T, kv_width]`: the prefix rows, then this call's `T` rows.
    func joined(keys k: [Float], values v: [Float], B: Int, T: Int) -> LayerPrefix {
        let Tk = width + T, kW = kvWidth
        var ks = [Float](repeating: 0, count: B * Tk * kW), vs = ks
        for b in 0..<B {
            let o = b * Tk * kW
            ks.replaceSubrange(o..<(o + width * kW), with: keys[(b * width * kW)..<((b + 1) * width * kW)])
            vs.replaceSubrange(o..<(o + width * kW), with: values[(b * width * kW)..<((b + 1) * width * kW)])
            ks.replaceSubrange((o + width * kW)..<(o + Tk * kW), with: k[(b * T * kW)..<((b + 1) * T * kW)])
            vs.replaceSubrange((o + width * kW)..<(o + Tk * kW), with: v[(b * T * kW)..<((b + 1) * T * kW)])
        }
        return LayerPrefix(keys: ks, values: vs, lengths: lengths, width: width, kvWidth: kW)
    }

    /// The same prefix for a subset of the sequences (in the order given).
    func selecting(_ sequences: [Int]) -> LayerPrefix {
        let n = width * kvWidth
        var ks: [Float] = [], vs: [Float] = []
        ks.reserveCapacity(sequences.count * n)
        vs.reserveCapacity(sequences.count * n)
        for b in sequences {
            ks += keys[(b * n)..<((b + 1) * n)]
            vs += values[(b * n)..<((b + 1) * n)]
        }
        return LayerPrefix(keys: ks, values: vs, lengths: sequences.map { lengths[$0] }, width: width, kvWidth: kvWidth)
    }
}

/// What stays fixed while the later positions of a batch are recomputed from some block on.
///
/// Changing an activation at block `L` and position `s` changes nothing before block `L` and
/// nothing at positions before `s` (attention is causal). `freezePrefix` runs the batch once and
/// keeps, for every block from `firstLayer`, the rotated keys and values of each sequence's first
/// `prefixLengths[b]` positions, and the residual stream entering `firstLayer` at the other
/// positions; `forward(resuming:)` then runs only blocks `firstLayer...` on only those positions,
/// attending to the frozen keys and values, and gives exactly what the full call would give there.
/// `backward` accepts its tape (with `downTo ≥ firstLayer`). This is what makes ROME's and
/// MEMIT's per-step forward and backward passes cheap.
public struct FrozenPrefix: Sendable {
    public let firstLayer: Int
    /// Per sequence, how many leading positions are frozen.
    public let prefixLengths: [Int]
    /// Per sequence, how many positions are recomputed.
    public let suffixLengths: [Int]
    /// `max(suffixLengths)`: the width of resumed calls' tensors.
    public let suffixWidth: Int
    let layers: [LayerPrefix]
    /// `[B, suffixWidth, d_model]`: `hook_resid_pre` of `firstLayer` at the recomputed positions.
    let residual: [Float]

    public var batch: Int { prefixLengths.count }

    /// The same frozen state for a subset of the sequences (in the order given), without running
    /// anything: e.g. to stop recomputing requests whose optimisation has finished.
    public func selecting(_ sequences: [Int]) -> FrozenPrefix {
        precondition(sequences.allSatisfy { $0 >= 0 && $0 < batch }, "FrozenPrefix.selecting: sequence out of range")
        let n = suffixWidth * (residual.count / max(batch * suffixWidth, 1))
        var resid: [Float] = []
        resid.reserveCapacity(sequences.count * n)
        for b in sequences { resid += residual[(b * n)..<((b + 1) * n)] }
        return FrozenPrefix(
            firstLayer: firstLayer, prefixLengths: sequences.map { prefixLengths[$0] }, suffixLengths: sequences.map { suffixLengths[$0] },
            suffixWidth: suffixWidth, layers: layers.map { $0.selecting(sequences) }, residual: resid)
    }
}

extension Transformer {
    /// Runs `batch` once (with `hooks`, e.g. to capture values the caller also needs) and keeps what
    /// `forward(resuming:)` needs to recompute positions `prefixLengths[b]...` from block `firstLayer`.
    public func freezePrefix(
        _ batch: [[Int]], prefixLengths: [Int], firstLayer: Int, hooks: Hooks = Hooks()
    ) throws(ForwardError) -> (prefix: FrozenPrefix, cache: ActivationCache) {
        precondition(prefixLengths.count == batch.count, "freezePrefix: one prefix length per sequence")
        precondition(firstLayer >= 0 && firstLayer < config.nLayers, "freezePrefix: firstLayer \(firstLayer) out of range")
        for (b, s) in batch.enumerated() {
            precondition(prefixLengths[b] >= 0 && prefixLengths[b] < s.count, "freezePrefix: sequence \(b) needs a position after its prefix")
        }
        var h = hooks
        let wanted = (firstLayer..<config.nLayers).flatMap { [HookID(.rotK, layer: $0), HookID(.v, layer: $0)] } + [HookID(.residPre, layer: firstLayer)]
        let extra = Set(wanted).subtracting(hooks.capture)
        h.capture.formUnion(wanted)
        let r = try forward(batch, hooks: h, logits: .none, stopAfterLayer: config.nLayers - 1)
        let B = batch.count, T = batch.map(\.count).max()!, kW = config.kvWidth, d = config.dModel
        let width = prefixLengths.max()!
        let suffix = batch.enumerated().map { $1.count - prefixLengths[$0] }
        let Ts = suffix.max()!
        var layers: [LayerPrefix] = []
        for l in firstLayer..<config.nLayers {
            let k = r.cache[HookID(.rotK, layer: l)]!.data, v = r.cache[HookID(.v, layer: l)]!.data
            var ks = [Float](repeating: 0, count: B * width * kW), vs = ks
            for b in 0..<B {
                for t in 0..<prefixLengths[b] {
                    for j in 0..<kW {
                        ks[(b * width + t) * kW + j] = k[(b * T + t) * kW + j]
                        vs[(b * width + t) * kW + j] = v[(b * T + t) * kW + j]
                    }
                }
            }
            layers.append(LayerPrefix(keys: ks, values: vs, lengths: prefixLengths, width: width, kvWidth: kW))
        }
        let pre = r.cache[HookID(.residPre, layer: firstLayer)]!.data
        var resid = [Float](repeating: 0, count: B * Ts * d)
        for b in 0..<B {
            for t in 0..<suffix[b] {
                let src = (b * T + prefixLengths[b] + t) * d
                for j in 0..<d { resid[(b * Ts + t) * d + j] = pre[src + j] }
            }
        }
        var cache = r.cache
        for id in extra { cache[id] = nil }
        return (
            FrozenPrefix(firstLayer: firstLayer, prefixLengths: prefixLengths, suffixLengths: suffix, suffixWidth: Ts, layers: layers, residual: resid),
            cache
        )
    }

    /// The frozen prefixes of `p` continued by other tokens: sequence `b` resumes at position
    /// `p.prefixLengths[b]` with `suffixes[b]` instead of the tokens it was frozen with. Only for a
    /// prefix frozen from block 0, where the residual entering the first recomputed block is just
    /// the embedding (plus the position embedding) of the new tokens. This is how several
    /// continuations of one prompt are scored for the price of the prompt once.
    public func continuing(_ p: FrozenPrefix, with suffixes: [[Int]]) -> FrozenPrefix {
        precondition(p.firstLayer == 0, "continuing: the prefix must be frozen from block 0")
        precondition(suffixes.count == p.batch && suffixes.allSatisfy { !$0.isEmpty }, "continuing: one non-empty suffix per sequence")
        let d = config.dModel, B = p.batch
        let Ts = suffixes.map(\.count).max()!
        var resid = [Float](repeating: 0, count: B * Ts * d)
        resid.withUnsafeMutableBufferPointer { r in
            for b in 0..<B {
                for (t, tok) in suffixes[b].enumerated() {
                    let dst = r.baseAddress! + (b * Ts + t) * d
                    embedToken(tok, into: dst)
                    if let pe = weights.positionEmbedding {
                        let pos = p.prefixLengths[b] + t
                        for i in 0..<d { dst[i] += pe[pos * d + i] }
                    }
                }
            }
        }
        return FrozenPrefix(
            firstLayer: 0, prefixLengths: p.prefixLengths, suffixLengths: suffixes.map(\.count), suffixWidth: Ts, layers: p.layers,
            residual: resid)
    }

    /// Blocks `firstLayer...` on the positions after each frozen prefix only. Hook tensors are
    /// `[B, suffixWidth, ...]` (row `t` of sequence `b` is position `prefixLengths[b] + t`; attention
    /// tensors have `prefixWidth + suffixWidth` key columns, frozen keys first); the first hook point
    /// is `blocks.{firstLayer}.hook_resid_pre`. No logits are computed (capture
    /// `ln_final.hook_normalized`).
    public func forward(resuming p: FrozenPrefix, hooks: Hooks = Hooks(), recordTape: Bool = false) -> ForwardResult {
        let c = config
        let B = p.batch, T = p.suffixWidth, N = B * T
        var runner = HookRunner(hooks: hooks, lengths: p.suffixLengths, positionOffset: 0)
        var positions = [Int](repeating: 0, count: N)
        for b in 0..<B { for t in 0..<T { positions[b * T + t] = p.prefixLengths[b] + t } }
        var tape = recordTape ? Tape(config: c, batch: B, tokens: T, offset: 0, lengths: p.suffixLengths) : nil
        tape?.firstLayer = p.firstLayer
        tape?.positions = positions
        var resid = p.residual
        for l in p.firstLayer..<c.nLayers {
            runBlock(l, &resid, B: B, T: T, positions: positions, runner: &runner, kvCache: nil, tape: &tape, frozenPrefix: p.layers[l - p.firstLayer])
        }
        _ = finalNormalized(resid, B: B, T: T, runner: &runner, tape: &tape)
        return ForwardResult(logits: Tensor(zeros: [B, 0, c.vocabSize]), cache: runner.cache, lengths: p.suffixLengths, tape: tape)
    }

    /// Scaled, masked q·k scores `[B, n_heads, T, width + T]` against frozen-then-own keys. Query `t` of
    /// sequence `b` sits at position `P_b + t`; frozen key `j` at position `j` (valid for `j < P_b`), own
    /// key `t′` at `P_b + t′` (valid for `t′ ≤ t`), and sliding windows apply to those positions.
    func prefixAttentionScores(_ q: [Float], _ j: LayerPrefix, B: Int, T: Int, layer: Int) -> [Float] {
        let c = config
        let nH = c.nHeads, dh = c.dHead, group = c.nHeads / c.nKVHeads
        let qW = c.qWidth, kW = c.kvWidth, W = j.width, Tk = W + T
        var scores = [Float](repeating: 0, count: B * nH * T * Tk)
        let window = c.isLocal(layer: layer) ? c.slidingWindow : nil
        q.withUnsafeBufferPointer { qp in
            j.keys.withUnsafeBufferPointer { kp in
                scores.withUnsafeMutableBufferPointer { sp in
                    forEachHeads(B: B, T: T, Tk: Tk) { items, split in
                        for item in items {
                            let b = item / nH, h = item % nH
                            let P = j.lengths[b]
                            let out = sp.baseAddress! + (b * nH + h) * T * Tk
                            BLAS.gemm(
                                transposeB: true, m: T, n: Tk, k: dh, alpha: c.attentionScale,
                                a: qp.baseAddress! + b * T * qW + h * dh, lda: qW, b: kp.baseAddress! + b * Tk * kW + (h / group) * dh,
                                ldb: kW, c: out, ldc: Tk, split: split)
                            for t in 0..<T {
                                let qpos = P + t
                                let row = out + t * Tk
                                for k in 0..<Tk {
                                    let kpos = k < W ? k : P + (k - W)
                                    let valid = k < W ? k < P : (k - W) <= t
                                    if !valid || (window != nil && qpos - kpos >= window!) { row[k] = -.infinity }
                                }
                            }
                        }
                    }
                }
            }
        }
        return scores
    }

    /// `z = pattern · V` against frozen-then-own values, `[B·T, n_heads·d_head]`.
    func prefixAttentionValues(_ pattern: [Float], _ j: LayerPrefix, B: Int, T: Int) -> [Float] {
        let c = config
        let nH = c.nHeads, dh = c.dHead, group = c.nHeads / c.nKVHeads
        let qW = c.qWidth, kW = c.kvWidth, Tk = j.width + T
        var z = [Float](repeating: 0, count: B * T * qW)
        pattern.withUnsafeBufferPointer { pp in
            j.values.withUnsafeBufferPointer { vp in
                z.withUnsafeMutableBufferPointer { zp in
                    forEachHeads(B: B, T: T, Tk: Tk) { items, split in
                        for item in items {
                            let b = item / nH, h = item % nH
                            BLAS.gemm(
                                m: T, n: dh, k: Tk, a: pp.baseAddress! + (b * nH + h) * T * Tk, lda: Tk,
                                b: vp.baseAddress! + b * Tk * kW + (h / group) * dh, ldb: kW, c: zp.baseAddress! + b * T * qW + h * dh, ldc: qW, split: split)
                        }
                    }
                }
            }
        }
        return z
    }

    /// The attention VJP, against frozen-then-own keys and values (`j`; width 0 for an ordinary call,
    /// whose keys and values are all its own): frozen ones are constants, so dK and dV cover only the
    /// call's own positions. Per head: dV = P[:, W:]ᵀ dZ ; dP = dZ Vᵀ ; dS = softmax'(dP) ;
    /// dQ = s·dS K ; dK = s·dS[:, W:]ᵀ Q.
    func attentionBackward(_ lt: LayerTape, _ j: LayerPrefix, dZ: [Float], B: Int, T: Int, wantPattern: Bool)
        -> ([Float], [Float], [Float], [Float]?, [Float])
    {
        let c = config, nH = c.nHeads, dh = c.dHead, group = nH / c.nKVHeads
        let qW = c.qWidth, kW = c.kvWidth, s = c.attentionScale, W = j.width, Tk = W + T
        var dQ = [Float](repeating: 0, count: B * T * qW)
        var dK = [Float](repeating: 0, count: B * T * kW)
        var dV = [Float](repeating: 0, count: B * T * kW)
        var dPattern = [Float](repeating: 0, count: B * nH * T * Tk)
        var dScores = [Float](repeating: 0, count: B * nH * T * Tk)
        let capped = lt.cappedScores ?? []
        capped.withUnsafeBufferPointer { CS in
        lt.pattern.withUnsafeBufferPointer { P in
            dZ.withUnsafeBufferPointer { dz in
                j.values.withUnsafeBufferPointer { v in
                    lt.rotQ.withUnsafeBufferPointer { q in
                        j.keys.withUnsafeBufferPointer { k in
                            dPattern.withUnsafeMutableBufferPointer { dP in
                                dScores.withUnsafeMutableBufferPointer { dS in
                                    dQ.withUnsafeMutableBufferPointer { dq in
                                        dK.withUnsafeMutableBufferPointer { dk in
                                            dV.withUnsafeMutableBufferPointer { dv in
                                                // Per sequence on a thread: the heads of a group add into the same dK, dV rows.
                                                Parallel.ranges(B, minimum: headsPerThread(T: T, Tk: Tk, heads: B * nH) / nH + 1) { seqs in
                                                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: T * Tk)
                                                defer { scratch.deallocate() }
                                                for b in seqs {
                                                    for h in 0..<nH {
                                                        let gi = h / group
                                                        let p = P.baseAddress! + (b * nH + h) * T * Tk
                                                        let dp = dP.baseAddress! + (b * nH + h) * T * Tk
                                                        let ds = dS.baseAddress! + (b * nH + h) * T * Tk
                                                        let dzh = dz.baseAddress! + b * T * qW + h * dh
                                                        let vh = v.baseAddress! + b * Tk * kW + gi * dh
                                                        let qh = q.baseAddress! + b * T * qW + h * dh
                                                        let kh = k.baseAddress! + b * Tk * kW + gi * dh
                                                        BLAS.gemm(transposeA: true, m: T, n: dh, k: T, a: p + W, lda: Tk, b: dzh, ldb: qW, beta: 1, c: dv.baseAddress! + b * T * kW + gi * dh, ldc: kW, split: seqs.count == B)
                                                        BLAS.gemm(transposeB: true, m: T, n: Tk, k: dh, a: dzh, lda: qW, b: vh, ldb: kW, c: dp, ldc: Tk, split: seqs.count == B)
                                                        Softmax.rowsBackward(p, dp, ds, rows: T, cols: Tk)
                                                        // Through a soft-cap c·tanh(x/c): times 1 − (capped/c)² (masked entries carry no gradient).
                                                        var raw = UnsafePointer(ds)
                                                        if let cap = c.attentionSoftcap, !CS.isEmpty {
                                                            let sc = CS.baseAddress! + (b * nH + h) * T * Tk
                                                            for i in 0..<(T * Tk) {
                                                                let y = sc[i] / cap
                                                                scratch[i] = sc[i].isFinite ? ds[i] * (1 - y * y) : 0
                                                            }
                                                            raw = UnsafePointer(scratch)
                                                        }
                                                        BLAS.gemm(m: T, n: dh, k: Tk, alpha: s, a: raw, lda: Tk, b: kh, ldb: kW, c: dq.baseAddress! + b * T * qW + h * dh, ldc: qW, split: seqs.count == B)
                                                        BLAS.gemm(transposeA: true, m: T, n: dh, k: T, alpha: s, a: raw + W, lda: Tk, b: qh, ldb: qW, beta: 1, c: dk.baseAddress! + b * T * kW + gi * dh, ldc: kW, split: seqs.count == B)
                                                    }
                                                }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        }
        return (dQ, dK, dV, wantPattern ? dPattern : nil, dScores)
    }
}
