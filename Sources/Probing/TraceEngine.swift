import Foundation
import Models
import Tensors

/// Causal tracing that computes only what a restoration changes.
///
/// Restoring a state at token i and block l (or a window of blocks starting at a) leaves every state below
/// that block, and every state at a token before i, exactly as in the corrupted run. So the corrupted run is
/// computed once per noise sample (keeping each block's input and its keys and values), and each cell runs
/// only blocks a ..< L on tokens i ..< T, attending to the stored keys and values of tokens before i
/// (`Transformer.step` with a `PrefixAttention`). Cells of the same token are batched together, all kinds and
/// all samples at once, so the matrix products are large. Restoring a token before the subject is a no-op
/// (its clean and corrupted states are the same), so those cells are the corrupted probability.
///
/// `CausalTrace.naive` computes the same numbers one forward pass per cell; the tests compare the two.
public enum TraceEngine {
    struct Job {
        let kind: TraceKind
        let token: Int
        let layer: Int
        /// First block that runs; `L` means none (the read-out only).
        let start: Int
        let restored: Range<Int>
    }

    /// Traces one fact: p(target) with the subject corrupted and each (token, block) state of each kind
    /// restored from the clean run.
    ///
    /// ```swift
    /// let prompt = PromptTokens("The Eiffel Tower is located in the city of", tokenizer: model.tokenizer)
    /// let target = try Target(" Paris", tokenizer: model.tokenizer, policy: .firstToken)
    /// let input = try TraceInput(prompt: prompt, subject: "Eiffel Tower", target: target)
    /// let r = try TraceEngine.run(model.transformer, input, options: TraceOptions(), sigma: 0.11666)
    /// r.trace(.mlp)!.restored   // [token][layer]: mean p(" Paris") over the noise samples
    /// ```
    ///
    /// - Parameters:
    ///   - options: samples, noise, window, kinds, seed (ROME's defaults).
    ///   - sigma: σ of the token embeddings, needed when the noise is a multiple of σ (`EmbeddingNoise`).
    ///   - maxRows: token rows per batched forward call (bounds memory).
    ///   - progress: called with (cells done, cells in all).
    /// - Throws: `ProbingError` for invalid options (no samples, positions outside the prompt, σ-relative
    ///   noise without `sigma`), and the model's errors for a prompt it cannot run.
    public static func run(
        _ model: Transformer, _ input: TraceInput, options: TraceOptions = TraceOptions(), sigma: Double? = nil,
        maxRows: Int = 4096, progress: ((Int, Int) -> Void)? = nil
    ) throws -> TraceResult {
        let started = Date()
        let c = model.config
        let L = c.nLayers, P = input.prompt.ids.count, S = options.samples
        try options.validate(layers: L, tokens: P)
        let std = try CausalTrace.noiseStd(options, sigma: sigma)
        let seq = input.sequence
        let Tall = seq.count
        let single = input.target.ids.count == 1

        // Clean run: the states restoration copies.
        var cleanHooks = Set<HookID>()
        for l in 0..<L { for k in options.kinds { cleanHooks.insert(HookID(k.site, layer: l)) } }
        let clean = try CausalTrace.cleanRun(model, input, capture: cleanHooks)

        // Corrupted run, once per sample: each block's input, keys and values.
        var capture = Set<HookID>([HookID(.residPost, layer: L - 1)])
        for l in 0..<L { capture.formUnion([HookID(.residPre, layer: l), HookID(.rotK, layer: l), HookID(.v, layer: l)]) }
        let noise = CausalTrace.noise(input, std: std, options: options)
        let baseHooks = try Interventions.hooks([noise], config: c, base: Hooks(capture: capture))
        let base = try model.forward(Array(repeating: seq, count: S), hooks: baseHooks, logits: single ? .last : .all)
        let corrupted = CausalTrace.meanProbability(base.logits, rows: input.scoredRows, target: input.target.ids, lastOnly: single)
        let state: [[Float]] = (0..<L).map { base.cache[HookID(.residPre, layer: $0)]!.data } + [base.cache[HookID(.residPost, layer: L - 1)]!.data]
        let keys = (0..<L).map { base.cache[HookID(.rotK, layer: $0)]!.data }
        let values = (0..<L).map { base.cache[HookID(.v, layer: $0)]!.data }

        // Cells.
        let positions = options.positions ?? Array(0..<P)
        var table: [TraceKind: [[Double]]] = [:]
        for k in options.kinds { table[k] = Array(repeating: Array(repeating: corrupted, count: L), count: positions.count) }
        let total = options.kinds.count * positions.count * L
        var done = 0
        for (row, i) in positions.enumerated() {
            guard i >= input.subjectRange.lowerBound else {
                done += options.kinds.count * L
                progress?(done, total)
                continue
            }
            var jobs: [Job] = []
            for k in options.kinds {
                for l in 0..<L {
                    let r = k.restoredLayers(center: l, window: options.window, layers: L)
                    jobs.append(Job(kind: k, token: i, layer: l, start: k == .hidden ? l + 1 : r.lowerBound, restored: r))
                }
            }
            jobs.sort { $0.start < $1.start }
            let Ts = Tall - i
            let perChunk = max(1, maxRows / (S * Ts))
            var from = 0
            while from < jobs.count {
                let chunk = Array(jobs[from..<min(jobs.count, from + perChunk)])
                let p = try runChunk(
                    model, chunk, token: i, Ts: Ts, S: S, state: state, keys: keys, values: values, clean: clean.cache, input: input)
                for (j, job) in chunk.enumerated() { table[job.kind]![row][job.layer] = p[j] }
                from += chunk.count
                done += chunk.count
                progress?(done, total)
            }
        }
        return TraceResult(
            input: input, options: options, noiseStd: std, layers: L, cleanProbability: clean.p, corruptedProbability: corrupted,
            cleanTopToken: clean.top, kinds: options.kinds.map { KindTrace(kind: $0, restored: table[$0]!) }, method: "reuse",
            seconds: Date().timeIntervalSince(started))
    }

    /// Runs the cells of one token (sorted by first block) together; returns each cell's mean p(target).
    static func runChunk(
        _ model: Transformer, _ jobs: [Job], token i: Int, Ts: Int, S: Int, state: [[Float]], keys: [[Float]], values: [[Float]],
        clean: ActivationCache, input: TraceInput
    ) throws -> [Double] {
        let c = model.config
        let L = c.nLayers, d = c.dModel, kvW = c.kvWidth
        let Tall = Ts + i
        let rowsPerJob = S * Ts
        var buffer = [Float](repeating: 0, count: jobs.count * rowsPerJob * d)
        var active = 0

        func activate(upTo m: Int) {
            while active < jobs.count && jobs[active].start <= m {
                let job = jobs[active]
                let src = state[job.start]
                for s in 0..<S {
                    let o = (active * S + s) * Ts * d
                    buffer.replaceSubrange(o..<(o + Ts * d), with: src[((s * Tall + i) * d)..<((s * Tall + Tall) * d)])
                    if job.kind == .hidden {
                        let v = clean[HookID(.residPost, layer: job.layer)]!.data[(i * d)..<((i + 1) * d)]
                        buffer.replaceSubrange(o..<(o + d), with: v)
                    }
                }
                active += 1
            }
        }

        let first = jobs.first!.start
        if first < L {
            for m in first..<L {
                activate(upTo: m)
                var hooks = Hooks()
                for kind in [TraceKind.mlp, .attn] {
                    let restoring = (0..<active).filter { jobs[$0].kind == kind && jobs[$0].restored.contains(m) }
                    guard !restoring.isEmpty else { continue }
                    let v = Array(clean[HookID(kind.site, layer: m)]!.data[(i * d)..<((i + 1) * d)])
                    hooks.edit(HookID(kind.site, layer: m)) { t, _ in
                        t.data.withUnsafeMutableBufferPointer { p in
                            for j in restoring {
                                for s in 0..<S {
                                    let o = (j * S + s) * Ts * d
                                    for x in 0..<d { p[o + x] = v[x] }
                                }
                            }
                        }
                    }
                }
                var prefix: PrefixAttention?
                if i > 0 {
                    var pk = [Float](repeating: 0, count: active * S * i * kvW), pv = pk
                    for j in 0..<active {
                        for s in 0..<S {
                            let o = (j * S + s) * i * kvW
                            pk.replaceSubrange(o..<(o + i * kvW), with: keys[m][(s * Tall * kvW)..<((s * Tall + i) * kvW)])
                            pv.replaceSubrange(o..<(o + i * kvW), with: values[m][(s * Tall * kvW)..<((s * Tall + i) * kvW)])
                        }
                    }
                    prefix = PrefixAttention(count: i, keys: pk, values: pv)
                }
                let n = active * rowsPerJob * d
                var resid = Tensor(shape: [active * S, Ts, d], data: Array(buffer[0..<n]))
                _ = model.step(layer: m, residual: &resid, prefix: prefix, hooks: hooks)
                buffer.replaceSubrange(0..<n, with: resid.data)
            }
        }
        activate(upTo: L)

        // Read-out of the scored rows of every sequence.
        let scored = input.scoredRows.map { $0 - i }
        let targets = input.target.ids
        var prob = [Double](repeating: 1, count: jobs.count * S)
        let rowsTotal = jobs.count * S * scored.count
        let batch = 256
        var r0 = 0
        while r0 < rowsTotal {
            let r1 = min(rowsTotal, r0 + batch)
            var x = [Float](repeating: 0, count: (r1 - r0) * d)
            for r in r0..<r1 {
                let sequence = r / scored.count, t = scored[r % scored.count]
                let o = (sequence * Ts + t) * d
                x.replaceSubrange(((r - r0) * d)..<((r - r0 + 1) * d), with: buffer[o..<(o + d)])
            }
            let logits = model.readOut(Tensor(shape: [r1 - r0, d], data: x))
            let V = c.vocabSize
            logits.data.withUnsafeBufferPointer { p in
                for r in r0..<r1 {
                    let lp = CausalTrace.logSoftmaxRow(p.baseAddress! + (r - r0) * V, count: V, at: targets[r % scored.count])
                    prob[r / scored.count] *= exp(Double(lp))
                }
            }
            r0 = r1
        }
        return (0..<jobs.count).map { j in (0..<S).reduce(0.0) { $0 + prob[j * S + $1] } / Double(S) }
    }
}
