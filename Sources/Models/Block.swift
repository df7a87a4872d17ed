import Foundation
import Linalg
import Tensors

extension Transformer {
    /// One transformer block, in place on the residual stream `resid` (`[B·T, d_model]`).
    func runBlock(
        _ l: Int, _ resid: inout [Float], B: Int, T: Int, positions: [Int], runner: inout HookRunner,
        kvCache: KVCache?, tape: inout Tape?, prefix: PrefixAttention? = nil, frozenPrefix: LayerPrefix? = nil
    ) {
        let c = config
        let w = weights.blocks[l]
        let N = B * T, d = c.dModel, dh = c.dHead, nH = c.nHeads, nKV = c.nKVHeads
        var lt = tape == nil ? nil : LayerTape()

        runner.visit(HookID(.residPre, layer: l), &resid, shape: [B, T, d])
        lt?.residPre = resid
        let n1 = applyNorm(w.ln1, kind: c.norm, epsilon: c.normEpsilon, resid, rows: N, d: d)
        var x = n1.y
        lt?.ln1Stats = n1.stats
        runner.visit(HookID(.ln1Normalized, layer: l), &x, shape: [B, T, d])
        lt?.ln1Out = x

        var q = applyLinear(w.wQ, x, rows: N)
        var k = applyLinear(w.wK, x, rows: N)
        var v = applyLinear(w.wV, x, rows: N)
        runner.visit(HookID(.q, layer: l), &q, shape: [B, T, nH, dh])
        runner.visit(HookID(.k, layer: l), &k, shape: [B, T, nKV, dh])
        runner.visit(HookID(.v, layer: l), &v, shape: [B, T, nKV, dh])
        lt?.q = q
        lt?.k = k
        lt?.v = v
        if let qn = w.qNorm, let kn = w.kNorm {
            let a = applyNorm(qn, kind: .rms, epsilon: c.normEpsilon, q, rows: N * nH, d: dh)
            let b = applyNorm(kn, kind: .rms, epsilon: c.normEpsilon, k, rows: N * nKV, d: dh)
            q = a.y
            k = b.y
            lt?.qNormStats = a.stats
            lt?.kNormStats = b.stats
        }
        if c.rotary {
            let table = rotary.table(layer: l, positions: (positions.max() ?? 0) + 1)
            q.withUnsafeMutableBufferPointer { table.apply($0.baseAddress!, rows: N, heads: nH, dHead: dh, positions: positions) }
            k.withUnsafeMutableBufferPointer { table.apply($0.baseAddress!, rows: N, heads: nKV, dHead: dh, positions: positions) }
        }
        runner.visit(HookID(.rotQ, layer: l), &q, shape: [B, T, nH, dh])
        runner.visit(HookID(.rotK, layer: l), &k, shape: [B, T, nKV, dh])
        lt?.rotQ = q
        lt?.rotK = k

        // Keys and values to attend over: this call's, or the cache's (which now includes this call's),
        // or each sequence's earlier keys and values (`prefix`, causal tracing), or a frozen prefix followed
        // by this call's (`frozenPrefix`, resumed calls that are differentiated).
        let offset = kvCache?.count ?? prefix?.count ?? 0
        var keys = k, values = v
        var Tk = T
        var joined: LayerPrefix?
        if let kvCache {
            kvCache.append(layer: l, keys: k, values: v, at: offset)
            keys = kvCache.keys[l]
            values = kvCache.values[l]
            Tk = offset + T
        } else if let prefix {
            (keys, values) = prefix.prepended(to: k, v, batch: B, tokens: T)
            Tk = offset + T
        }
        var z: [Float]
        if tape == nil && frozenPrefix == nil && !runner.wants(HookID(.attnScores, layer: l)) && !runner.wants(HookID(.pattern, layer: l)) {
            z = attentionFused(q, keys, values, B: B, T: T, Tk: Tk, offset: offset, layer: l)
        } else {
            var scores: [Float]
            if let frozenPrefix {
                let j = frozenPrefix.joined(keys: k, values: v, B: B, T: T)
                joined = j
                Tk = j.width + T
                scores = prefixAttentionScores(q, j, B: B, T: T, layer: l)
            } else {
                scores = attentionScores(q, keys, B: B, T: T, Tk: Tk, offset: offset, layer: l)
            }
            if let cap = c.attentionSoftcap { softcap(&scores, cap) }
            lt?.cappedScores = c.attentionSoftcap == nil ? nil : scores
            runner.visit(HookID(.attnScores, layer: l), &scores, shape: [B, nH, T, Tk])
            scores.withUnsafeMutableBufferPointer { Softmax.rows($0.baseAddress!, rows: B * nH * T, cols: Tk) }
            var pattern = scores
            scores = []
            runner.visit(HookID(.pattern, layer: l), &pattern, shape: [B, nH, T, Tk])
            lt?.pattern = pattern
            z = joined.map { prefixAttentionValues(pattern, $0, B: B, T: T) }
                ?? attentionValues(pattern, values, B: B, T: T, Tk: Tk, offset: offset, layer: l)
            lt?.prefix = joined
        }
        runner.visit(HookID(.z, layer: l), &z, shape: [B, T, nH, dh])
        lt?.z = z

        var attnOut = applyLinear(w.wO, z, rows: N)
        if let pn = w.postAttentionNorm {
            lt?.attnPreNorm = attnOut
            let r = applyNorm(pn, kind: c.norm, epsilon: c.normEpsilon, attnOut, rows: N, d: d)
            attnOut = r.y
            lt?.postAttentionStats = r.stats
        }
        runner.visit(HookID(.attnOut, layer: l), &attnOut, shape: [B, T, d])
        // Sequential blocks add the attention output before the MLP's norm; parallel blocks (GPT-J,
        // GPT-NeoX) norm resid_pre for the MLP and add both outputs at the end.
        if !c.parallelBlock {
            add(&resid, attnOut)
            attnOut = []
            runner.visit(HookID(.residMid, layer: l), &resid, shape: [B, T, d])
        }
        lt?.ln2Input = resid

        let n2 = applyNorm(w.ln2, kind: c.norm, epsilon: c.normEpsilon, resid, rows: N, d: d)
        var x2 = n2.y
        lt?.ln2Stats = n2.stats
        runner.visit(HookID(.ln2Normalized, layer: l), &x2, shape: [B, T, d])
        lt?.ln2Out = x2
        let F = c.dMLP
        var pre = applyLinear(w.wGate ?? w.wIn, x2, rows: N)
        runner.visit(HookID(.mlpPre, layer: l), &pre, shape: [B, T, F])
        lt?.mlpPre = pre
        var post = [Float](repeating: 0, count: N * F)
        if let _ = w.wGate {
            var lin = applyLinear(w.wIn, x2, rows: N)
            runner.visit(HookID(.mlpPreLinear, layer: l), &lin, shape: [B, T, F])
            lt?.mlpPreLinear = lin
            post.withUnsafeMutableBufferPointer { pp in
                Activations.apply(c.activation, pre, into: pp.baseAddress!, count: N * F)
                lin.withUnsafeBufferPointer { lp in for i in 0..<(N * F) { pp[i] *= lp[i] } }
            }
        } else {
            post.withUnsafeMutableBufferPointer { Activations.apply(c.activation, pre, into: $0.baseAddress!, count: N * F) }
        }
        runner.visit(HookID(.mlpPost, layer: l), &post, shape: [B, T, F])
        lt?.mlpPost = post
        var mlpOut = applyLinear(w.wOut, post, rows: N)
        if let cb = w.codebook {
            // GRACE: positions whose key is in the codebook take its value (a constant: no gradient to W_out or the key).
            let replaced = cb.apply(keys: post, output: &mlpOut, rows: N)
            lt?.codebookRows = replaced  // (not `lt?.x = apply(...)`: optional chaining would skip the call without a tape)
        }
        if let pn = w.postMLPNorm {
            lt?.mlpPreNorm = mlpOut
            let r = applyNorm(pn, kind: c.norm, epsilon: c.normEpsilon, mlpOut, rows: N, d: d)
            mlpOut = r.y
            lt?.postMLPStats = r.stats
        }
        runner.visit(HookID(.mlpOut, layer: l), &mlpOut, shape: [B, T, d])
        if c.parallelBlock { add(&resid, attnOut) }
        add(&resid, mlpOut)
        runner.visit(HookID(.residPost, layer: l), &resid, shape: [B, T, d])
        if let lt { tape?.layers.append(lt) }
    }

    /// Scaled, masked q·k scores `[B, n_heads, T, Tk]`. Query t sits at position offset+t; key j at position j
    /// (with a cache) or at position j of the same sequence (without one). Queries are taken in blocks of
    /// `attentionBlock` rows and multiplied only with the keys they can see, so masked scores cost nothing
    /// beyond being set to -inf.
    func attentionScores(_ q: [Float], _ keys: [Float], B: Int, T: Int, Tk: Int, offset: Int, layer: Int) -> [Float] {
        let nH = config.nHeads
        var scores = [Float](repeating: -.infinity, count: B * nH * T * Tk)
        let window = config.isLocal(layer: layer) ? config.slidingWindow : nil
        let perSequence = keys.count == B * Tk * config.kvWidth
        q.withUnsafeBufferPointer { qp in
            keys.withUnsafeBufferPointer { kp in
                scores.withUnsafeMutableBufferPointer { sp in
                    forEachHeads(B: B, T: T, Tk: Tk) { items, split in
                        for item in items {
                            headScores(
                                item / nH, item % nH, qp.baseAddress!, kp.baseAddress!, perSequence: perSequence, T: T, Tk: Tk, offset: offset,
                                window: window, into: sp.baseAddress! + item * T * Tk, split: split)
                        }
                    }
                }
            }
        }
        return scores
    }

    /// `z = pattern · V` per head, `[B·T, n_heads·d_head]`, skipping the keys no query of a block can see.
    func attentionValues(_ pattern: [Float], _ values: [Float], B: Int, T: Int, Tk: Int, offset: Int, layer: Int) -> [Float] {
        let nH = config.nHeads
        let window = config.isLocal(layer: layer) ? config.slidingWindow : nil
        let perSequence = values.count == B * Tk * config.kvWidth
        var z = [Float](repeating: 0, count: B * T * config.qWidth)
        pattern.withUnsafeBufferPointer { pp in
            values.withUnsafeBufferPointer { vp in
                z.withUnsafeMutableBufferPointer { zp in
                    forEachHeads(B: B, T: T, Tk: Tk) { items, split in
                        for item in items {
                            headValues(
                                item / nH, item % nH, pp.baseAddress! + item * T * Tk, vp.baseAddress!, perSequence: perSequence, T: T, Tk: Tk,
                                offset: offset, window: window, into: zp.baseAddress!, split: split)
                        }
                    }
                }
            }
        }
        return z
    }

    /// Scores, soft-cap, softmax and `pattern · V` one head at a time in a scratch of T × Tk floats, when
    /// nothing needs the scores or the pattern afterwards (no hook on them, no tape): the same numbers as
    /// `attentionScores` then `attentionValues` without the `[B, n_heads, T, Tk]` arrays (75 MB per block
    /// for a covariance batch of 7 × 547 tokens, each zeroed page by page by the kernel).
    func attentionFused(_ q: [Float], _ keys: [Float], _ values: [Float], B: Int, T: Int, Tk: Int, offset: Int, layer: Int) -> [Float] {
        let nH = config.nHeads
        let window = config.isLocal(layer: layer) ? config.slidingWindow : nil
        let perSequence = keys.count == B * Tk * config.kvWidth
        let cap = config.attentionSoftcap
        var z = [Float](repeating: 0, count: B * T * config.qWidth)
        q.withUnsafeBufferPointer { qp in
            keys.withUnsafeBufferPointer { kp in
                values.withUnsafeBufferPointer { vp in
                    z.withUnsafeMutableBufferPointer { zp in
                        forEachHeads(B: B, T: T, Tk: Tk) { items, split in
                            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: T * Tk)
                            defer { scratch.deallocate() }
                            for item in items {
                                let b = item / nH, h = item % nH
                                scratch.update(repeating: -.infinity, count: T * Tk)
                                headScores(
                                    b, h, qp.baseAddress!, kp.baseAddress!, perSequence: perSequence, T: T, Tk: Tk, offset: offset, window: window,
                                    into: scratch, split: split)
                                if let cap { softcap(scratch, count: T * Tk, cap) }
                                Softmax.rows(scratch, 0..<T, cols: Tk)
                                headValues(
                                    b, h, scratch, vp.baseAddress!, perSequence: perSequence, T: T, Tk: Tk, offset: offset, window: window,
                                    into: zp.baseAddress!, split: split)
                            }
                        }
                    }
                }
            }
        }
        return z
    }

    /// Head h of sequence b: its `T × Tk` scores (row stride Tk) written into `out`, which holds -inf where
    /// no block of queries can see. Keys of sequence b are rows b·Tk ..< (b+1)·Tk when `perSequence` (without
    /// a cache Tk = T; with a prefix, each sequence has its own); a KV cache (B = 1) holds rows 0 ..< Tk.
    func headScores(
        _ b: Int, _ h: Int, _ q: UnsafePointer<Float>, _ keys: UnsafePointer<Float>, perSequence: Bool, T: Int, Tk: Int, offset: Int,
        window: Int?, into out: UnsafeMutablePointer<Float>, split: Bool
    ) {
        let c = config
        let dh = c.dHead, qW = c.qWidth, kW = c.kvWidth, g = h / (c.nHeads / c.nKVHeads)
        let kBase = keys + (perSequence ? b * Tk * kW : 0) + g * dh
        for r0 in stride(from: 0, to: T, by: Self.attentionBlock) {
            let r1 = min(r0 + Self.attentionBlock, T)
            let (k0, k1) = visibleKeys(rows: r0..<r1, offset: offset, window: window)
            let qRow = q + (b * T + r0) * qW + h * dh
            if r1 - r0 == 1 {
                // One query (decoding): dot products, not a 1-row product through OpenBLAS's packing.
                for j in k0..<k1 { out[r0 * Tk + j] = c.attentionScale * VectorMath.dot(qRow, kBase + j * kW, dh) }
            } else {
                BLAS.gemm(
                    transposeB: true, m: r1 - r0, n: k1 - k0, k: dh, alpha: c.attentionScale, a: qRow, lda: qW, b: kBase + k0 * kW,
                    ldb: kW, c: out + r0 * Tk + k0, ldc: Tk, split: split)
            }
            for t in r0..<r1 {
                let qpos = offset + t
                let row = out + t * Tk
                let lo = window.map { max(0, qpos - $0 + 1) } ?? 0
                for j in k0..<lo { row[j] = -.infinity }
                for j in (qpos + 1)..<max(qpos + 1, k1) { row[j] = -.infinity }
            }
        }
    }

    /// Head h of sequence b: `z[b·T ..< (b+1)·T, h·d_head ..< (h+1)·d_head] = pattern · V` from its `T × Tk`
    /// pattern (row stride Tk), skipping the keys no query of a block can see.
    func headValues(
        _ b: Int, _ h: Int, _ pattern: UnsafePointer<Float>, _ values: UnsafePointer<Float>, perSequence: Bool, T: Int, Tk: Int,
        offset: Int, window: Int?, into z: UnsafeMutablePointer<Float>, split: Bool
    ) {
        let c = config
        let dh = c.dHead, qW = c.qWidth, kW = c.kvWidth, g = h / (c.nHeads / c.nKVHeads)
        let vBase = values + (perSequence ? b * Tk * kW : 0) + g * dh
        for r0 in stride(from: 0, to: T, by: Self.attentionBlock) {
            let r1 = min(r0 + Self.attentionBlock, T)
            let (k0, k1) = visibleKeys(rows: r0..<r1, offset: offset, window: window)
            let pRow = pattern + r0 * Tk
            let zRow = z + (b * T + r0) * qW + h * dh
            if r1 - r0 == 1 {
                // One query (decoding): z += p_j v_j, a loop the vectoriser widens.
                for j in k0..<k1 {
                    let pj = pRow[j], v = vBase + j * kW
                    for i in 0..<dh { zRow[i] = zRow[i].addingProduct(pj, v[i]) }
                }
            } else {
                BLAS.gemm(m: r1 - r0, n: dh, k: k1 - k0, a: pRow + k0, lda: Tk, b: vBase + k0 * kW, ldb: kW, c: zRow, ldc: qW, split: split)
            }
        }
    }

    /// Soft-capping `cap·tanh(x/cap)` of every finite score (masked scores stay -inf).
    func softcap(_ scores: inout [Float], _ cap: Float) {
        scores.withUnsafeMutableBufferPointer { softcap($0.baseAddress!, count: $0.count, cap) }
    }

    func softcap(_ p: UnsafeMutablePointer<Float>, count: Int, _ cap: Float) {
        for i in 0..<count where p[i].isFinite { p[i] = cap * tanhf(p[i] / cap) }
    }

    /// Query rows per block in the attention products.
    static let attentionBlock = 64

    /// Heads (of all sequences) per thread in the attention loops: spread over the cores, each head's products
    /// on one core (`split: false`), at least 2¹⁷ multiply-adds per thread (a dispatch costs a few µs). When
    /// OpenBLAS threads the products itself and a head's are large enough for it to do so, all `heads` stay on
    /// this thread (two threaded calls at once would contend for its pool).
    func headsPerThread(T: Int, Tk: Int, heads: Int) -> Int {
        let perHead = T * Tk * config.dHead
        if !BLAS.splitsProducts && min(T, Self.attentionBlock) * Tk * config.dHead >= BLAS.splitThreshold { return heads }
        return max(1, (1 << 17) / max(1, perHead))
    }

    /// Runs `body` on ranges of the `B · n_heads` heads (item = b · n_heads + h), spread over the cores as
    /// `headsPerThread` says; `split` is true when one range holds them all (its products may be split).
    func forEachHeads(B: Int, T: Int, Tk: Int, _ body: (_ items: Range<Int>, _ split: Bool) -> Void) {
        let heads = B * config.nHeads
        Parallel.ranges(heads, minimum: headsPerThread(T: T, Tk: Tk, heads: heads)) { body($0, $0.count == heads) }
    }

    /// The key range `k0..<k1` that some query in `rows` can see (causal, and within a sliding window).
    func visibleKeys(rows: Range<Int>, offset: Int, window: Int?) -> (Int, Int) {
        let k1 = offset + rows.upperBound
        let k0 = window.map { max(0, offset + rows.lowerBound - $0 + 1) } ?? 0
        return (k0, k1)
    }
}
