import Foundation
import Linalg
import Models
import Tensors

/// Logits of chosen positions only, from the final normalised residual stream.
///
/// The forward pass is run with `logits: .none` and `ln_final.hook_normalized` captured; the rows
/// that carry a loss or a metric are then multiplied by the unembedding in one `gemm`, which is far
/// cheaper than computing `[B, T, vocab]` logits for every position.
enum ReadOut {
    /// `rows` index `b·T + t` of `normalized` (`[B, T, d]`); returns `[rows.count × vocab]` logits.
    static func logits(_ transformer: Transformer, normalized: Tensor, rows: [Int]) -> [Float] {
        let d = transformer.config.dModel, V = transformer.config.vocabSize
        var picked = [Float](repeating: 0, count: rows.count * d)
        normalized.data.withUnsafeBufferPointer { src in
            picked.withUnsafeMutableBufferPointer { dst in
                for (i, r) in rows.enumerated() {
                    (dst.baseAddress! + i * d).update(from: src.baseAddress! + r * d, count: d)
                }
            }
        }
        var out = [Float](repeating: 0, count: rows.count * V)
        guard !rows.isEmpty else { return out }
        let u = transformer.weights.unembedding ?? transformer.weights.embedding
        picked.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { op in
                if case .dense(let values) = u.storage {
                    // One gemm even for one row (the same bits as every other read-out of these rows).
                    values.withUnsafeBufferPointer { up in
                        BLAS.gemm(
                            transposeB: true, m: rows.count, n: V, k: d, a: xp.baseAddress!, lda: d, b: up.baseAddress!, ldb: d,
                            c: op.baseAddress!, ldc: V)
                    }
                } else {
                    u.timesTransposed(xp.baseAddress!, n: rows.count, into: op.baseAddress!)
                }
            }
        }
        transformer.finishLogits(&out, rows: rows.count)
        return out
    }

    /// Log-softmax of one row, in Float64 for the reduction.
    static func logSoftmax(_ row: UnsafePointer<Float>, count n: Int) -> [Float] {
        var m = -Float.infinity
        for i in 0..<n where row[i] > m { m = row[i] }
        var s = 0.0
        for i in 0..<n { s += exp(Double(row[i] - m)) }
        let lse = m + Float(log(s))
        return (0..<n).map { row[$0] - lse }
    }

    /// Log-softmax of every row of a `[rows × n]` matrix.
    static func logSoftmaxRows(_ logits: [Float], columns n: Int) -> [[Float]] {
        let rows = logits.count / n
        return logits.withUnsafeBufferPointer { p in
            (0..<rows).map { logSoftmax(p.baseAddress! + $0 * n, count: n) }
        }
    }
}

/// What the model says about continuations: per scored token, its log-probability and whether it
/// was the top prediction.
public struct ScoredToken: Sendable, Equatable {
    public var logProbability: Float
    public var isArgmax: Bool
}

extension ReadOut {
    /// For each sequence `b`, scores `sequences[b][start_b ..< count]`: token `j` given everything
    /// before it. Sequences are run in batches of at most `batchSize`, grouped by length so that
    /// little of each batch is padding; results come back in the order given.
    static func score(
        _ transformer: Transformer, sequences: [[Int]], starts: [Int], batchSize: Int = 32
    ) throws(EditError) -> [[ScoredToken]] {
        var out = [[ScoredToken]](repeating: [], count: sequences.count)
        let V = transformer.config.vocabSize
        let order = sequences.indices.sorted { (sequences[$0].count, $0) < (sequences[$1].count, $1) }
        var i = 0
        while i < order.count {
            let members = Array(order[i..<min(i + batchSize, order.count)])
            let chunk = members.map { sequences[$0] }
            let chunkStarts = members.map { starts[$0] }
            let r: ForwardResult
            do {
                r = try transformer.forward(chunk, hooks: Hooks(capture: [HookID(.lnFinalNormalized)]), logits: .none)
            } catch {
                throw .forward(what: "scoring \(chunk.count) prompts", reason: error.description)
            }
            let T = chunk.map(\.count).max()!
            var rows: [Int] = []
            for (b, s) in chunk.enumerated() {
                precondition(chunkStarts[b] >= 1 && chunkStarts[b] <= s.count)
                for t in chunkStarts[b]..<s.count { rows.append(b * T + t - 1) }
            }
            let logits = ReadOut.logits(transformer, normalized: r.cache[HookID(.lnFinalNormalized)]!, rows: rows)
            var k = 0
            logits.withUnsafeBufferPointer { lp in
                for (b, s) in chunk.enumerated() {
                    var scored: [ScoredToken] = []
                    for t in chunkStarts[b]..<s.count {
                        scored.append(scoredToken(lp.baseAddress! + k * V, count: V, token: s[t]))
                        k += 1
                    }
                    out[members[b]] = scored
                }
            }
            i += batchSize
        }
        return out
    }

    /// `token`'s log-probability under a row of logits, and whether it is the row's top token.
    static func scoredToken(_ row: UnsafePointer<Float>, count V: Int, token: Int) -> ScoredToken {
        let ls = logSoftmax(row, count: V)
        var best = 0
        for v in 1..<V where row[v] > row[best] { best = v }
        return ScoredToken(logProbability: ls[token], isArgmax: best == token)
    }

    /// For each prompt, scores each of its continuations (`continuations[p][c]`, token `j` given the
    /// prompt and the continuation's tokens before it), as `score` would score `prompt + continuation`.
    /// Each prompt is run once: all but its last token are frozen (`freezePrefix` from block 0) and
    /// every continuation resumes from there, so the two targets of a CounterFact prompt cost the
    /// prompt once instead of twice. Prompts are batched by length; results come back in order.
    static func scoreContinuations(
        _ transformer: Transformer, prompts: [[Int]], continuations: [[[Int]]], batchSize: Int = 32
    ) throws(EditError) -> [[[ScoredToken]]] {
        precondition(prompts.count == continuations.count, "scoreContinuations: continuations per prompt")
        let V = transformer.config.vocabSize, context = transformer.config.contextLength
        for (i, p) in prompts.enumerated() {
            guard !p.isEmpty else { throw .forward(what: "scoring prompt \(i)", reason: "the prompt has no tokens") }
            for c in continuations[i] {
                guard !c.isEmpty else { throw .forward(what: "scoring prompt \(i)", reason: "a continuation has no tokens") }
                guard p.count + c.count <= context else {
                    throw .forward(
                        what: "scoring prompt \(i)", reason: "prompt and continuation have \(p.count + c.count) tokens, more than the model's context of \(context)")
                }
            }
        }
        var out = continuations.map { [[ScoredToken]](repeating: [], count: $0.count) }
        let order = prompts.indices.sorted { (prompts[$0].count, $0) < (prompts[$1].count, $1) }
        var i = 0
        while i < order.count {
            let members = Array(order[i..<min(i + batchSize, order.count)].filter { !continuations[$0].isEmpty })
            i += batchSize
            if members.isEmpty { continue }
            let frozen: FrozenPrefix
            do {
                frozen = try transformer.freezePrefix(members.map { prompts[$0] }, prefixLengths: members.map { prompts[$0].count - 1 }, firstLayer: 0).prefix
            } catch {
                throw .forward(what: "scoring \(members.count) prompts", reason: error.description)
            }
            // Every continuation of every prompt of this batch in one resumed call: each resumes with
            // its prompt's last token (whose output predicts the continuation's first token) and itself.
            var pairs: [(b: Int, c: Int)] = []
            for (b, m) in members.enumerated() { for c in continuations[m].indices { pairs.append((b, c)) } }
            let suffixes = pairs.map { [prompts[members[$0.b]].last!] + continuations[members[$0.b]][$0.c] }
            let resumed = transformer.continuing(frozen.selecting(pairs.map(\.b)), with: suffixes)
            let r = transformer.forward(resuming: resumed, hooks: Hooks(capture: [HookID(.lnFinalNormalized)]))
            let Ts = resumed.suffixWidth
            var rows: [Int] = []
            for (q, s) in suffixes.enumerated() { for t in 0..<(s.count - 1) { rows.append(q * Ts + t) } }
            let logits = ReadOut.logits(transformer, normalized: r.cache[HookID(.lnFinalNormalized)]!, rows: rows)
            var k = 0
            logits.withUnsafeBufferPointer { lp in
                for (q, s) in suffixes.enumerated() {
                    var scored: [ScoredToken] = []
                    for t in 1..<s.count {
                        scored.append(scoredToken(lp.baseAddress! + k * V, count: V, token: s[t]))
                        k += 1
                    }
                    out[members[pairs[q].b]][pairs[q].c] = scored
                }
            }
        }
        return out
    }
}
