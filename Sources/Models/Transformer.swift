import Foundation
import Linalg
import Tensors
import ModelFormats

/// Which positions' logits a forward call computes.
public enum LogitsRequest: Sendable {
    /// Every position: `[B, T, vocab]`.
    case all
    /// The last real token of each sequence: `[B, 1, vocab]` (what generation and most probes need).
    case last
    /// None (the caller only wants hooked activations).
    case none
}

/// Bad input to a forward call.
public enum ForwardError: Error, CustomStringConvertible, Equatable, Sendable {
    case emptyBatch
    case emptyPrompt(index: Int)
    case tokenOutOfRange(index: Int, position: Int, token: Int, vocabularySize: Int)
    case promptTooLong(index: Int, tokens: Int, contextLength: Int)
    case nonFinite(hook: String)
    case cacheMismatch(String)

    public var description: String {
        switch self {
        case .emptyBatch: return "the batch holds no prompts"
        case .emptyPrompt(let i): return "prompt \(i) is empty: it must hold at least one token"
        case .tokenOutOfRange(let i, let p, let t, let v):
            return "prompt \(i), position \(p): token id \(t) is outside the vocabulary (0..<\(v))"
        case .promptTooLong(let i, let n, let c):
            return "prompt \(i) has \(n) tokens, more than the model's context of \(c)"
        case .nonFinite(let hook): return "the forward pass produced a non-finite value at \(hook)"
        case .cacheMismatch(let s): return "KV cache: \(s)"
        }
    }
}

/// The result of a forward call.
public struct ForwardResult: Sendable {
    /// `[B, T, vocab]`, `[B, 1, vocab]` or empty, per the `LogitsRequest`.
    public var logits: Tensor
    /// Captured activations.
    public var cache: ActivationCache
    /// Real token count of each sequence.
    public var lengths: [Int]
    /// What the backward pass needs, when recorded.
    public var tape: Tape?

    /// Log-probabilities of the next token after the last real token of sequence `b`.
    public func lastLogProbabilities(_ b: Int = 0) -> [Float] {
        let v = logits.shape[2]
        let t = logits.shape[1] == 1 ? 0 : lengths[b] - 1
        return logits.data.withUnsafeBufferPointer { p in
            Softmax.logSoftmax(p.baseAddress! + (b * logits.shape[1] + t) * v, count: v)
        }
    }
}

/// A transformer: one generic block applied `nLayers` times, configured by `ModelConfig`.
///
/// Weights are a value (`ModelWeights`); copying a `Transformer` and editing one layer copies only
/// that layer's arrays.
public struct Transformer: Sendable {
    public let config: ModelConfig
    public var weights: ModelWeights
    let rotary: RotaryCache

    public init(config: ModelConfig, weights: ModelWeights) {
        self.config = config
        self.weights = weights
        self.rotary = RotaryCache(config: config)
    }

    /// Checks a batch of token sequences against the model.
    func validate(_ batch: [[Int]], offset: Int = 0) throws(ForwardError) {
        guard !batch.isEmpty else { throw .emptyBatch }
        for (i, seq) in batch.enumerated() {
            guard !seq.isEmpty else { throw .emptyPrompt(index: i) }
            guard seq.count + offset <= config.contextLength else {
                throw .promptTooLong(index: i, tokens: seq.count + offset, contextLength: config.contextLength)
            }
            for (p, t) in seq.enumerated() where t < 0 || t >= config.vocabSize {
                throw .tokenOutOfRange(index: i, position: p, token: t, vocabularySize: config.vocabSize)
            }
        }
    }

    /// Row `token` of the embedding (scaled by the architecture's embedding scale) into `dst`.
    func embedToken(_ token: Int, into dst: UnsafeMutablePointer<Float>) {
        weights.embedding.row(token, into: dst)
        if config.embeddingScale != 1 {
            for i in 0..<config.dModel { dst[i] *= config.embeddingScale }
        }
    }

    /// Runs the model on a batch of token sequences (right-padded internally to the longest).
    ///
    /// - Parameters:
    ///   - hooks: activations to capture or change.
    ///   - logits: which positions' logits to compute.
    ///   - kvCache: for incremental decoding of a single sequence; keys and values are appended.
    ///   - recordTape: keep what `backward` needs.
    ///   - stopAfterLayer: run only blocks `0...stopAfterLayer` (no logits); for statistics that need early layers.
    public func forward(
        _ batch: [[Int]], hooks: Hooks = Hooks(), logits request: LogitsRequest = .all, kvCache: KVCache? = nil,
        recordTape: Bool = false, stopAfterLayer: Int? = nil
    ) throws(ForwardError) -> ForwardResult {
        let offset = kvCache?.count ?? 0
        try validate(batch, offset: offset)
        if let kvCache {
            guard batch.count == 1 else { throw .cacheMismatch("a KV cache serves one sequence; got \(batch.count)") }
            guard kvCache.layers == config.nLayers else { throw .cacheMismatch("made for another model") }
        }
        let c = config
        let B = batch.count
        let T = batch.map(\.count).max()!
        let N = B * T
        let d = c.dModel
        let lengths = batch.map(\.count)
        var runner = HookRunner(hooks: hooks, lengths: lengths, positionOffset: offset)
        var tape = recordTape ? Tape(config: c, batch: B, tokens: T, offset: offset, lengths: lengths) : nil
        var positions = [Int](repeating: 0, count: N)
        for b in 0..<B { for t in 0..<T { positions[b * T + t] = offset + t } }

        // Embedding
        var resid = [Float](repeating: 0, count: N * d)
        resid.withUnsafeMutableBufferPointer { r in
            for b in 0..<B {
                for t in 0..<T { embedToken(t < batch[b].count ? batch[b][t] : 0, into: r.baseAddress! + (b * T + t) * d) }
            }
        }
        tape?.tokens = batch
        runner.visit(HookID(.embed), &resid, shape: [B, T, d])
        if let pe = weights.positionEmbedding {
            var pos = [Float](repeating: 0, count: N * d)
            for r in 0..<N { for i in 0..<d { pos[r * d + i] = pe[positions[r] * d + i] } }
            runner.visit(HookID(.posEmbed), &pos, shape: [B, T, d])
            add(&resid, pos)
        }

        let lastLayer = min(stopAfterLayer ?? (c.nLayers - 1), c.nLayers - 1)
        for l in 0...lastLayer {
            runBlock(
                l, &resid, B: B, T: T, positions: positions, runner: &runner, kvCache: kvCache, tape: &tape)
        }
        if let kvCache { kvCache.count += T }
        if stopAfterLayer != nil && lastLayer < c.nLayers - 1 || request == .none && !recordTape {
            if stopAfterLayer == nil { _ = finalNormalized(resid, B: B, T: T, runner: &runner, tape: &tape) }
            return ForwardResult(logits: Tensor(zeros: [B, 0, c.vocabSize]), cache: runner.cache, lengths: lengths, tape: nil)
        }

        let normed = finalNormalized(resid, B: B, T: T, runner: &runner, tape: &tape)

        let rows: [Int]
        switch request {
        case .all: rows = Array(0..<N)
        case .last: rows = (0..<B).map { $0 * T + lengths[$0] - 1 }
        case .none: rows = []
        }
        let logits = unembed(normed, rows: rows)
        let outT = request == .all ? T : (request == .last ? 1 : 0)
        return ForwardResult(
            logits: Tensor(shape: [B, outT, c.vocabSize], data: logits), cache: runner.cache, lengths: lengths, tape: tape)
    }

    /// The final norm of the residual stream `[B·T, d_model]`, visited as `ln_final.hook_normalized`
    /// and kept on the tape (its input, statistics and output) for the backward pass.
    func finalNormalized(_ resid: [Float], B: Int, T: Int, runner: inout HookRunner, tape: inout Tape?) -> [Float] {
        let c = config
        let fin = applyNorm(weights.finalNorm, kind: c.norm, epsilon: c.normEpsilon, resid, rows: B * T, d: c.dModel)
        var normed = fin.y
        runner.visit(HookID(.lnFinalNormalized), &normed, shape: [B, T, c.dModel])
        tape?.finalInput = resid
        tape?.finalStats = fin.stats
        tape?.finalNormalized = normed
        return normed
    }

    /// Logits for the given rows of the final normalised residual stream.
    func unembed(_ normed: [Float], rows: [Int]) -> [Float] {
        let d = config.dModel, V = config.vocabSize
        var picked = [Float](repeating: 0, count: rows.count * d)
        for (i, r) in rows.enumerated() {
            for j in 0..<d { picked[i * d + j] = normed[r * d + j] }
        }
        var out = [Float](repeating: 0, count: rows.count * V)
        guard !rows.isEmpty else { return out }
        let u = weights.unembedding ?? weights.embedding
        picked.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { op in u.timesTransposed(xp.baseAddress!, n: rows.count, into: op.baseAddress!) }
        }
        finishLogits(&out, rows: rows.count)
        return out
    }

    /// What follows the unembedding product: its bias (GPT-J) and the final soft-cap (Gemma 2), in place
    /// on `rows` rows of logits. Every read-out of logits goes through here.
    public func finishLogits(_ logits: inout [Float], rows: Int) {
        let V = config.vocabSize
        precondition(logits.count >= rows * V)
        if let bias = weights.unembeddingBias {
            for r in 0..<rows { for t in 0..<V { logits[r * V + t] += bias[t] } }
        }
        if let cap = config.finalSoftcap {
            for i in 0..<(rows * V) { logits[i] = cap * tanhf(logits[i] / cap) }
        }
    }
}

/// Rotary tables per kind of layer (local or global) and, for LongRoPE, per factor set (short or long:
/// chosen by the pass's largest position), built on first use for the positions needed.
final class RotaryCache: @unchecked Sendable {
    private let config: ModelConfig
    private let lock = NSLock()
    private var tables: [TableKind: RotaryTable] = [:]
    private struct TableKind: Hashable { var local: Bool, long: Bool }

    init(config: ModelConfig) { self.config = config }

    func table(layer: Int, positions: Int) -> RotaryTable {
        let kind = TableKind(local: config.isLocal(layer: layer), long: config.usesLongFactors(positions: positions))
        lock.lock()
        defer { lock.unlock() }
        if let t = tables[kind], t.cos.count / (t.dims / 2) >= positions { return t }
        let n = max(positions, min(1024, config.contextLength))
        let t = RotaryTable(
            base: config.ropeBase(layer: layer), dims: config.ropeDimensions, positions: n, pairing: config.rotaryPairing,
            factors: config.ropeFrequencyFactors(layer: layer, positions: positions), scale: config.ropeAttentionFactor(layer: layer))
        tables[kind] = t
        return t
    }
}

extension Transformer {
    /// Reads the configuration and all weights of a GGUF file (kept in their type or converted to
    /// Float32, as `weights` says).
    public init(gguf: GGUFFile, weights policy: WeightPolicy = .automatic) throws(ModelFormatError) {
        let config = try ModelConfig(gguf: gguf)
        self.init(config: config, weights: try WeightLoader.load(gguf, config: config, policy: policy))
    }
}
