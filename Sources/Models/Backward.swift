import Linalg
import Tensors

/// Gradients from one backward call.
public struct Gradients: Sendable {
    /// dL/d(activation) at the requested hook points, shaped like the activation.
    public var hooks: [HookID: Tensor] = [:]
    /// dL/d(parameter) in Locus's layout (`[inputs, outputs]` for linear maps, `[vocab, d_model]` for W_E).
    public var parameters: [ParameterID: [Float]] = [:]
}

extension Transformer {
    /// The vector-Jacobian product of a recorded forward call.
    ///
    /// - Parameters:
    ///   - tape: from `forward(..., recordTape: true, logits: .all)`.
    ///   - logitsGradient: dL/d(logits) for the rows that carry loss, keyed by row `b·T + t`.
    ///   - hooks: activations whose gradient to return.
    ///   - parameters: parameters whose gradient to return.
    ///   - downTo: lowest block to differentiate through. Blocks below it are not touched, so the
    ///     cost is proportional to the number of blocks above it. Hooks and parameters below it are not returned.
    ///
    /// Hook edits made during the forward call are treated as constants (their inputs get no gradient
    /// through them); activations captured or changed by hooks are what the tape holds.
    public func backward(
        _ tape: Tape, logitsGradient: [Int: [Float]], hooks wanted: Set<HookID> = [], parameters: Set<ParameterID> = [],
        downTo lowest: Int = 0
    ) -> Gradients {
        precondition(tape.offset == 0, "backward: a tape recorded with a KV cache is not supported")
        precondition(tape.layers.count == config.nLayers - tape.firstLayer, "backward: the tape must cover every block from its first")
        precondition(lowest >= tape.firstLayer, "backward: a resumed tape starts at block \(tape.firstLayer), below downTo \(lowest)")
        let c = config
        let B = tape.batch, T = tape.tokensPerSequence, N = B * T, d = c.dModel, V = c.vocabSize
        var g = Gradients()
        let u = weights.unembedding ?? weights.embedding

        // Unembedding: logits_r = normed_r · Uᵀ  ⇒ d normed_r = dlogits_r · U ; dU += dlogits_rᵀ normed_r
        var dNormed = [Float](repeating: 0, count: N * d)
        let wantU = parameters.contains(.unembedding) || (weights.unembedding == nil && parameters.contains(.embedding))
        var dU = wantU ? [Float](repeating: 0, count: V * d) : []
        // d normed for all loss rows at once: [rows × V] · U (one gemm reads U once, not once per row).
        let lossRows = logitsGradient.keys.sorted()
        var logitsGradient = logitsGradient
        if let cap = c.finalSoftcap, !lossRows.isEmpty {
            // Through the final soft-cap c·tanh(x/c): times 1 − (capped/c)², the capped logits recomputed.
            let capped = unembed(tape.finalNormalized, rows: lossRows)
            for (i, row) in lossRows.enumerated() {
                var dl = logitsGradient[row]!
                for t in 0..<V {
                    let y = capped[i * V + t] / cap
                    dl[t] *= 1 - y * y
                }
                logitsGradient[row] = dl
            }
        }
        if !lossRows.isEmpty {
            var g = [Float](repeating: 0, count: lossRows.count * V)
            for (i, row) in lossRows.enumerated() {
                let dl = logitsGradient[row]!
                precondition(dl.count == V && row >= 0 && row < N)
                g.withUnsafeMutableBufferPointer { ($0.baseAddress! + i * V).update(from: dl, count: V) }
            }
            var picked = [Float](repeating: 0, count: lossRows.count * d)
            g.withUnsafeBufferPointer { gp in
                picked.withUnsafeMutableBufferPointer { pp in u.times(gp.baseAddress!, n: lossRows.count, into: pp.baseAddress!) }
            }
            for (i, row) in lossRows.enumerated() {
                for j in 0..<d { dNormed[row * d + j] = picked[i * d + j] }
            }
        }
        for (row, dl) in logitsGradient {
            if wantU {
                for t in 0..<V where dl[t] != 0 {
                    for j in 0..<d { dU[t * d + j] += dl[t] * tape.finalNormalized[row * d + j] }
                }
            }
        }
        if wanted.contains(HookID(.lnFinalNormalized)) { g.hooks[HookID(.lnFinalNormalized)] = Tensor(shape: [B, T, d], data: dNormed) }
        var dResid = [Float](repeating: 0, count: N * d)
        normBackward(weights.finalNorm, kind: c.norm, x: tape.finalInput, stats: tape.finalStats, dy: dNormed, dx: &dResid, rows: N, d: d, dWeight: nil, dBias: nil)

        for l in stride(from: c.nLayers - 1, through: lowest, by: -1) {
            blockBackward(l, tape: tape, dResid: &dResid, wanted: wanted, parameters: parameters, grads: &g)
        }
        if lowest == 0 && tape.firstLayer == 0 {
            let embedID = HookID(.embed)
            if wanted.contains(embedID) { g.hooks[embedID] = Tensor(shape: [B, T, d], data: dResid) }
            if wanted.contains(HookID(.posEmbed)), c.rotary == false {
                g.hooks[HookID(.posEmbed)] = Tensor(shape: [B, T, d], data: dResid)
            }
            if parameters.contains(.embedding) {
                var dE = weights.unembedding == nil ? dU : [Float](repeating: 0, count: V * d)
                for b in 0..<B {
                    for t in 0..<tape.lengths[b] {
                        let tok = tape.tokens[b][t]
                        for j in 0..<d { dE[tok * d + j] += c.embeddingScale * dResid[(b * T + t) * d + j] }
                    }
                }
                g.parameters[.embedding] = dE
            }
        }
        if parameters.contains(.unembedding) && weights.unembedding != nil { g.parameters[.unembedding] = dU }
        return g
    }

    /// Backward through block `l`: on entry `dResid` is dL/d(resid_post), on exit dL/d(resid_pre).
    private func blockBackward(
        _ l: Int, tape: Tape, dResid: inout [Float], wanted: Set<HookID>, parameters: Set<ParameterID>, grads g: inout Gradients
    ) {
        let c = config, w = weights.blocks[l], lt = tape.layers[l - tape.firstLayer]
        let B = tape.batch, T = tape.tokensPerSequence, N = B * T, d = c.dModel, F = c.dMLP
        let nH = c.nHeads, nKV = c.nKVHeads, dh = c.dHead
        func keep(_ site: HookSite, _ data: [Float], _ shape: [Int]) {
            let id = HookID(site, layer: l)
            if wanted.contains(id) { g.hooks[id] = Tensor(shape: shape, data: data) }
        }
        func param(_ k: ParameterKind) -> Bool { parameters.contains(.block(l, k)) }

        keep(.residPost, dResid, [B, T, d])
        keep(.mlpOut, dResid, [B, T, d])
        // A parallel block's attention output joins resid_post directly; a sequential one's joins resid_mid.
        let dAttnOutParallel = c.parallelBlock ? dResid : nil
        // MLP
        var dDown = dResid
        if let pn = w.postMLPNorm {
            dDown = [Float](repeating: 0, count: N * d)
            normBackward(pn, kind: c.norm, x: lt.mlpPreNorm!, stats: lt.postMLPStats!, dy: dResid, dx: &dDown, rows: N, d: d, dWeight: nil, dBias: nil)
        }
        // Rows a GRACE codebook replaced hold a constant: nothing flows to W_out or to the MLP below.
        for r in lt.codebookRows { for j in 0..<d { dDown[r * d + j] = 0 } }
        var dPost = linearBackward(w.wOut, x: lt.mlpPost, dy: dDown, rows: N, want: param(.W_out)) { g.parameters[.block(l, .W_out)] = $0 }
        keep(.mlpPost, dPost, [B, T, F])
        var dX2: [Float]
        if let gate = w.wGate, let lin = lt.mlpPreLinear {
            var dPre = [Float](repeating: 0, count: N * F)
            var dLin = [Float](repeating: 0, count: N * F)
            dPre.withUnsafeMutableBufferPointer { Activations.derivative(c.activation, lt.mlpPre, into: $0.baseAddress!, count: N * F) }
            dLin.withUnsafeMutableBufferPointer { Activations.apply(c.activation, lt.mlpPre, into: $0.baseAddress!, count: N * F) }
            for i in 0..<(N * F) {
                dPre[i] *= dPost[i] * lin[i]
                dLin[i] *= dPost[i]
            }
            keep(.mlpPre, dPre, [B, T, F])
            keep(.mlpPreLinear, dLin, [B, T, F])
            dX2 = linearBackward(gate, x: lt.ln2Out, dy: dPre, rows: N, want: param(.W_gate)) { g.parameters[.block(l, .W_gate)] = $0 }
            add(&dX2, linearBackward(w.wIn, x: lt.ln2Out, dy: dLin, rows: N, want: param(.W_in)) { g.parameters[.block(l, .W_in)] = $0 })
        } else {
            var dAct = [Float](repeating: 0, count: N * F)
            dAct.withUnsafeMutableBufferPointer { Activations.derivative(c.activation, lt.mlpPre, into: $0.baseAddress!, count: N * F) }
            for i in 0..<(N * F) { dPost[i] *= dAct[i] }
            keep(.mlpPre, dPost, [B, T, F])
            dX2 = linearBackward(w.wIn, x: lt.ln2Out, dy: dPost, rows: N, want: param(.W_in)) { g.parameters[.block(l, .W_in)] = $0 }
        }
        keep(.ln2Normalized, dX2, [B, T, d])
        var dW2: [Float]? = param(.ln2) ? [Float](repeating: 0, count: d) : nil
        normBackward(w.ln2, kind: c.norm, x: lt.ln2Input, stats: lt.ln2Stats, dy: dX2, dx: &dResid, rows: N, d: d, dWeight: &dW2, dBias: nil)
        if let dW2 { g.parameters[.block(l, .ln2)] = dW2 }
        if !c.parallelBlock { keep(.residMid, dResid, [B, T, d]) }
        let dAttnOut = dAttnOutParallel ?? dResid
        keep(.attnOut, dAttnOut, [B, T, d])

        // Attention
        var dO = dAttnOut
        if let pn = w.postAttentionNorm {
            dO = [Float](repeating: 0, count: N * d)
            normBackward(pn, kind: c.norm, x: lt.attnPreNorm!, stats: lt.postAttentionStats!, dy: dAttnOut, dx: &dO, rows: N, d: d, dWeight: nil, dBias: nil)
        }
        let dZ = linearBackward(w.wO, x: lt.z, dy: dO, rows: N, want: param(.W_O)) { g.parameters[.block(l, .W_O)] = $0 }
        keep(.z, dZ, [B, T, nH, dh])
        let wantPattern = wanted.contains(HookID(.pattern, layer: l))
        // Without a frozen prefix, the keys and values attended to are the call's own: a prefix of width 0.
        let attended = lt.prefix ?? LayerPrefix(
            keys: lt.rotK, values: lt.v, lengths: [Int](repeating: 0, count: B), width: 0, kvWidth: config.kvWidth)
        var (dQ, dK, dV, dPattern, dScores) = attentionBackward(lt, attended, dZ: dZ, B: B, T: T, wantPattern: wantPattern)
        let Tk = T + (lt.prefix?.width ?? 0)
        if let dPattern { keep(.pattern, dPattern, [B, nH, T, Tk]) }
        keep(.attnScores, dScores, [B, nH, T, Tk])
        keep(.rotQ, dQ, [B, T, nH, dh])
        keep(.rotK, dK, [B, T, nKV, dh])
        keep(.v, dV, [B, T, nKV, dh])
        if c.rotary {
            let positions = tape.positions ?? (0..<N).map { $0 % T }
            let table = rotary.table(layer: l, positions: (positions.max() ?? 0) + 1)
            dQ.withUnsafeMutableBufferPointer { table.apply($0.baseAddress!, rows: N, heads: nH, dHead: dh, positions: positions, inverse: true) }
            dK.withUnsafeMutableBufferPointer { table.apply($0.baseAddress!, rows: N, heads: nKV, dHead: dh, positions: positions, inverse: true) }
        }
        if let qn = w.qNorm, let kn = w.kNorm {
            var dq = [Float](repeating: 0, count: dQ.count), dk = [Float](repeating: 0, count: dK.count)
            normBackward(qn, kind: .rms, x: lt.q, stats: lt.qNormStats!, dy: dQ, dx: &dq, rows: N * nH, d: dh, dWeight: nil, dBias: nil)
            normBackward(kn, kind: .rms, x: lt.k, stats: lt.kNormStats!, dy: dK, dx: &dk, rows: N * nKV, d: dh, dWeight: nil, dBias: nil)
            dQ = dq
            dK = dk
        }
        keep(.q, dQ, [B, T, nH, dh])
        keep(.k, dK, [B, T, nKV, dh])
        var dX = linearBackward(w.wQ, x: lt.ln1Out, dy: dQ, rows: N, want: param(.W_Q)) { g.parameters[.block(l, .W_Q)] = $0 }
        add(&dX, linearBackward(w.wK, x: lt.ln1Out, dy: dK, rows: N, want: param(.W_K)) { g.parameters[.block(l, .W_K)] = $0 })
        add(&dX, linearBackward(w.wV, x: lt.ln1Out, dy: dV, rows: N, want: param(.W_V)) { g.parameters[.block(l, .W_V)] = $0 })
        keep(.ln1Normalized, dX, [B, T, d])
        var dW1: [Float]? = param(.ln1) ? [Float](repeating: 0, count: d) : nil
        normBackward(w.ln1, kind: c.norm, x: lt.residPre, stats: lt.ln1Stats, dy: dX, dx: &dResid, rows: N, d: d, dWeight: &dW1, dBias: nil)
        if let dW1 { g.parameters[.block(l, .ln1)] = dW1 }
        keep(.residPre, dResid, [B, T, d])
    }

    /// dL/dx for `y = x·W + b`, and dL/dW = xᵀ·dy when `want` (handed to `store`).
    private func linearBackward(_ w: Linear, x: [Float], dy: [Float], rows: Int, want: Bool, store: ([Float]) -> Void) -> [Float] {
        let dx = linearInputGradient(w, dy, rows: rows)
        if want {
            var dW = [Float](repeating: 0, count: w.inputs * w.outputs)
            x.withUnsafeBufferPointer { xp in
                dy.withUnsafeBufferPointer { gp in
                    dW.withUnsafeMutableBufferPointer { wp in
                        BLAS.gemm(transposeA: true, m: w.inputs, n: w.outputs, k: rows, a: xp.baseAddress!, lda: w.inputs, b: gp.baseAddress!, ldb: w.outputs, c: wp.baseAddress!, ldc: w.outputs)
                    }
                }
            }
            store(dW)
        }
        return dx
    }

    /// Accumulates the norm's input gradient into `dx` (+=), and the weight's into `dWeight` when given.
    func normBackward(
        _ n: NormWeights, kind: NormKind, x: [Float], stats: NormStats, dy: [Float], dx: inout [Float], rows: Int, d: Int,
        dWeight: UnsafeMutablePointer<[Float]?>?, dBias: UnsafeMutablePointer<[Float]?>?
    ) {
        var dw = dWeight?.pointee ?? nil
        x.withUnsafeBufferPointer { xp in
            dy.withUnsafeBufferPointer { gp in
                dx.withUnsafeMutableBufferPointer { dp in
                    n.weight.withUnsafeBufferPointer { wp in
                        withOptionalPointer(&dw) { dwp in
                            switch kind {
                            case .rms:
                                Norms.rmsBackward(
                                    xp.baseAddress!, gp.baseAddress!, dp.baseAddress!, rows: rows, d: d, weight: wp.baseAddress!,
                                    inverseRMS: stats.inverse, dWeight: dwp)
                            case .layer:
                                Norms.layerBackward(
                                    xp.baseAddress!, gp.baseAddress!, dp.baseAddress!, rows: rows, d: d, weight: wp.baseAddress!,
                                    mean: stats.mean, inverseStd: stats.inverse, dWeight: dwp, dBias: nil)
                            }
                        }
                    }
                }
            }
        }
        dWeight?.pointee = dw
    }
}

/// Runs `body` with a pointer to the optional array's storage, or nil when the array is absent.
private func withOptionalPointer<R>(_ a: inout [Float]?, _ body: (UnsafeMutablePointer<Float>?) -> R) -> R {
    guard a != nil else { return body(nil) }
    return a!.withUnsafeMutableBufferPointer { body($0.baseAddress) }
}
