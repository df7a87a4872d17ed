import Foundation
import Models
import Tensors

/// What causal tracing restores (Meng et al. 2022, §2.1): a single hidden state, or a run of MLP or attention outputs.
public enum TraceKind: String, Codable, Sendable, CaseIterable {
    /// The residual stream after block l (`blocks.{l}.hook_resid_post`; ROME's `transformer.h.{l}`).
    case hidden
    /// The MLP outputs of a window of blocks around l (`hook_mlp_out`; ROME's `.mlp`).
    case mlp
    /// The attention outputs of a window of blocks around l (`hook_attn_out`; ROME's `.attn`).
    case attn

    public var site: HookSite {
        switch self {
        case .hidden: return .residPost
        case .mlp: return .mlpOut
        case .attn: return .attnOut
        }
    }

    /// Blocks restored for the cell at layer `l`: `[l]` for hidden states; for MLP and attention the ROME window
    /// `max(0, l - ⌊w/2⌋) ..< min(L, l - ⌊-w/2⌋)` (w = 10: five blocks below l, l itself and four above).
    public func restoredLayers(center l: Int, window w: Int, layers L: Int) -> Range<Int> {
        if self == .hidden { return l..<(l + 1) }
        let lo = max(0, l - w / 2)
        let hi = min(L, l + Int((Double(w) / 2).rounded(.up)))
        return lo..<hi
    }
}

/// How strong the subject's corruption is.
public enum NoiseLevel: Codable, Sendable, Equatable, CustomStringConvertible {
    /// Standard deviation in embedding units.
    case absolute(Double)
    /// A multiple of σ, the standard deviation of the model's token embeddings (`EmbeddingNoise`); ROME uses 3.
    case sigmas(Double)

    public var description: String {
        switch self {
        case .absolute(let v): return "\(v)"
        case .sigmas(let k): return "\(k)σ"
        }
    }
}

/// Options of a causal trace, with the ROME reference's defaults.
public struct TraceOptions: Codable, Sendable, Equatable {
    public var samples = 10
    public var noise = NoiseLevel.sigmas(3)
    public var window = 10
    public var kinds = TraceKind.allCases
    /// Seed of the NumPy-compatible generator the noise is drawn from (ROME: `RandomState(1)`).
    public var seed: UInt32 = 1
    /// Token positions to restore (nil: every token).
    public var positions: [Int]?
    /// What to score when the answer has several tokens.
    public var targetPolicy = TargetPolicy.firstToken

    /// The reference defaults: 10 samples, noise 3σ, window 10, every kind, seed 1, every token.
    public init() {}

    func validate(layers: Int, tokens: Int) throws(ProbingError) {
        guard samples >= 1 else { throw .invalidOption(name: "samples", expected: "at least 1", found: "\(samples)") }
        guard window >= 1 else { throw .invalidOption(name: "window", expected: "at least 1", found: "\(window)") }
        guard !kinds.isEmpty else { throw .invalidOption(name: "kinds", expected: "one or more of hidden, mlp, attn", found: "none") }
        if case .absolute(let v) = noise, !(v >= 0) { throw .invalidOption(name: "noise", expected: "≥ 0", found: "\(v)") }
        if case .sigmas(let v) = noise, !(v >= 0) { throw .invalidOption(name: "noise", expected: "≥ 0", found: "\(v)σ") }
        if let p = positions, let bad = p.first(where: { $0 < 0 || $0 >= tokens }) {
            throw .invalidOption(name: "positions", expected: "token positions 0..<\(tokens)", found: "\(bad)")
        }
    }
}

/// One traced fact: the prompt, the subject's tokens (corrupted) and the answer (scored).
public struct TraceInput: Codable, Sendable, Equatable {
    public var prompt: PromptTokens
    public var subject: String
    public var subjectRange: Range<Int>
    public var target: Target

    /// - Throws: `ProbingError` when the subject's tokens are not found in the prompt's tokens.
    public init(prompt: PromptTokens, subject: String, target: Target) throws(ProbingError) {
        self.prompt = prompt
        self.subject = subject
        self.subjectRange = try prompt.range(of: subject)
        self.target = target
    }

    /// Tokens the model runs: the prompt, then all but the last target token when a sequence is scored.
    var sequence: [Int] { prompt.ids + target.ids.dropLast() }
    /// Rows whose next-token probability is scored, one per target token.
    var scoredRows: [Int] { (0..<target.ids.count).map { prompt.ids.count - 1 + $0 } }
}

/// Restored probabilities of one kind: `restored[token][layer]`, the mean over noise samples of p(target).
public struct KindTrace: Codable, Sendable, Equatable {
    public var kind: TraceKind
    public var restored: [[Double]]

    /// Indirect effect of each (token, layer): restored minus corrupted probability.
    public func indirectEffect(corrupted: Double) -> [[Double]] { restored.map { $0.map { $0 - corrupted } } }
}

/// The result of tracing one fact.
public struct TraceResult: Codable, Sendable, Equatable {
    public var input: TraceInput
    public var options: TraceOptions
    /// The standard deviation of the noise actually added.
    public var noiseStd: Double
    public var layers: Int
    /// p(target) of the clean run, and mean p(target) over the corrupted runs.
    public var cleanProbability: Double
    public var corruptedProbability: Double
    /// The clean run's most likely next token (ROME checks it equals the expected answer).
    public var cleanTopToken: Int
    public var kinds: [KindTrace]
    /// Which implementation computed it ("reuse" or "naive") and how long it took.
    public var method: String
    public var seconds: Double

    /// The table of one kind, if it was traced.
    public func trace(_ kind: TraceKind) -> KindTrace? { kinds.first { $0.kind == kind } }
}

/// Causal tracing: the shared set-up and the naive reference implementation (one forward call per cell,
/// as the ROME code runs it); `TraceEngine` is the fast one that reuses unchanged states.
public enum CausalTrace {
    /// Mean over sequences of Π p(target tokens) at the scored rows of `logits` (`[S, rows, V]`, all rows).
    static func meanProbability(_ logits: Tensor, rows: [Int], target: [Int], lastOnly: Bool) -> Double {
        let S = logits.shape[0], R = logits.shape[1], V = logits.shape[2]
        var total = 0.0
        logits.data.withUnsafeBufferPointer { p in
            for s in 0..<S {
                var prob = 1.0
                for (k, r) in rows.enumerated() {
                    let row = lastOnly ? s * R : s * R + r
                    let lp = logSoftmaxRow(p.baseAddress! + row * V, count: V, at: target[k])
                    prob *= exp(Double(lp))
                }
                total += prob
            }
        }
        return total / Double(S)
    }

    /// log p(index) of one row of logits, as `Softmax.logSoftmax` computes it (Double accumulation).
    static func logSoftmaxRow(_ x: UnsafePointer<Float>, count: Int, at index: Int) -> Float {
        var m = -Float.infinity
        for j in 0..<count where x[j] > m { m = x[j] }
        var sum: Double = 0
        for j in 0..<count { sum += exp(Double(x[j] - m)) }
        return Float(Double(x[index]) - (Double(m) + log(sum)))
    }

    /// The noise intervention that corrupts the subject in sequences `0..<samples`.
    static func noise(_ input: TraceInput, std: Double, options: TraceOptions) -> Intervention {
        Intervention(hook: HookID(.embed).name, sequences: Array(0..<options.samples), positions: Array(input.subjectRange), .gaussianNoise(std: std, seed: options.seed))
    }

    /// The clean run's p(target), its top token, and the activations restoration copies.
    static func cleanRun(_ model: Transformer, _ input: TraceInput, capture: Set<HookID>) throws -> (p: Double, top: Int, cache: ActivationCache) {
        let single = input.target.ids.count == 1
        let r = try model.forward([input.sequence], hooks: Hooks(capture: capture), logits: single ? .last : .all)
        let p = meanProbability(r.logits, rows: input.scoredRows, target: input.target.ids, lastOnly: single)
        let V = model.config.vocabSize
        let row = single ? 0 : input.prompt.ids.count - 1
        let last = Array(r.logits.data[(row * V)..<((row + 1) * V)])
        let top = last.indices.max { last[$0] < last[$1] }!
        return (p, top, r.cache)
    }

    static func noiseStd(_ options: TraceOptions, sigma: Double?) throws(ProbingError) -> Double {
        switch options.noise {
        case .absolute(let v): return v
        case .sigmas(let k):
            guard let sigma else { throw .invalidOption(name: "noise", expected: "an absolute level, or σ of the embeddings", found: "\(k)σ without σ") }
            return k * sigma
        }
    }

    /// Clean and corrupted p(target) alone (no restoration): one clean and one corrupted forward pass.
    public static func baseline(
        _ model: Transformer, _ input: TraceInput, options: TraceOptions = TraceOptions(), sigma: Double? = nil
    ) throws -> (clean: Double, corrupted: Double, noiseStd: Double) {
        try options.validate(layers: model.config.nLayers, tokens: input.prompt.ids.count)
        let std = try noiseStd(options, sigma: sigma)
        let clean = try cleanRun(model, input, capture: [])
        let single = input.target.ids.count == 1
        let hooks = try Interventions.hooks([noise(input, std: std, options: options)], config: model.config)
        let r = try model.forward(Array(repeating: input.sequence, count: options.samples), hooks: hooks, logits: single ? .last : .all)
        return (clean.p, meanProbability(r.logits, rows: input.scoredRows, target: input.target.ids, lastOnly: single), std)
    }

    /// Every cell of the trace computed by a separate forward pass of `samples` corrupted sequences with the
    /// cell's states restored from the clean run — the ROME algorithm, kept as the reference for `TraceEngine`.
    public static func naive(
        _ model: Transformer, _ input: TraceInput, options: TraceOptions = TraceOptions(), sigma: Double? = nil,
        progress: ((Int, Int) -> Void)? = nil
    ) throws -> TraceResult {
        let start = Date()
        let L = model.config.nLayers, P = input.prompt.ids.count
        try options.validate(layers: L, tokens: P)
        let std = try noiseStd(options, sigma: sigma)
        var capture = Set<HookID>()
        for l in 0..<L { for k in options.kinds { capture.insert(HookID(k.site, layer: l)) } }
        let clean = try cleanRun(model, input, capture: capture)
        let single = input.target.ids.count == 1
        let batch = Array(repeating: input.sequence, count: options.samples)
        let noise = noise(input, std: std, options: options)
        func run(_ restores: [Intervention]) throws -> Double {
            let hooks = try Interventions.hooks([noise] + restores, config: model.config, sources: ["clean": clean.cache])
            let r = try model.forward(batch, hooks: hooks, logits: single ? .last : .all)
            return meanProbability(r.logits, rows: input.scoredRows, target: input.target.ids, lastOnly: single)
        }
        let corrupted = try run([])
        let positions = options.positions ?? Array(0..<P)
        var kinds: [KindTrace] = []
        var done = 0
        for kind in options.kinds {
            var table: [[Double]] = []
            for i in positions {
                var row: [Double] = []
                for l in 0..<L {
                    let restores = kind.restoredLayers(center: l, window: options.window, layers: L).map {
                        Intervention(hook: HookID(kind.site, layer: $0).name, positions: [i], .restore(run: "clean"))
                    }
                    row.append(try run(restores))
                    done += 1
                    progress?(done, options.kinds.count * positions.count * L)
                }
                table.append(row)
            }
            kinds.append(KindTrace(kind: kind, restored: table))
        }
        return TraceResult(
            input: input, options: options, noiseStd: std, layers: L, cleanProbability: clean.p, corruptedProbability: corrupted,
            cleanTopToken: clean.top, kinds: kinds, method: "naive", seconds: Date().timeIntervalSince(start))
    }
}
extension TraceKind: CodingKeyRepresentable {}
