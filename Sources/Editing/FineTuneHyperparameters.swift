import Foundation
import Models

/// Hyperparameters of the fine-tuning baselines, named as EasyEdit names them
/// (`FTHyperParams`, `LoRAHyperParams`): FT-L and FT-M train `W_out` of `layers`; LoRA trains
/// adapters on `target_modules` of `layers` (all blocks when empty).
public struct FineTuneHyperparameters: Sendable, Equatable, Codable {
    /// What the loss scores: `prompt_last` (FT-L, the ROME paper's baseline: every target token's
    /// log-probability read at the prompt's last position) or `target_new` (FT-M and LoRA:
    /// teacher-forced cross-entropy on the target tokens only).
    public enum Objective: String, Sendable, Codable {
        case promptLast = "prompt_last", targetNew = "target_new"
    }

    public var layers: [Int]
    public var steps: Int
    public var learningRate: Float
    /// Adam's L2 term (torch `weight_decay`: `λ·θ` added to the gradient).
    public var weightDecay: Float
    /// FT-L's L∞ bound: after every step each weight is clamped to `w₀ ± norm_constraint`
    /// (nil: no bound).
    public var normConstraint: Float?
    public var objective: Objective
    /// Steps stop (and none is taken) once the loss is below this (the reference's 1e-2 for FT;
    /// nil: run every step, as EasyEdit's LoRA does).
    public var stopLoss: Double?
    /// LoRA: the adapter rank r, the scale numerator α (ΔW = α/r · A B), the maps adapted
    /// (`W_Q`, `W_K`, `W_V`, `W_O`, `W_gate`, `W_in`, `W_out`), and the seed of A's initialisation.
    public var rank: Int?
    public var alpha: Float?
    public var targetModules: [ParameterKind]?
    public var seed: UInt64

    public init(
        layers: [Int], steps: Int, learningRate: Float, weightDecay: Float = 0, normConstraint: Float? = nil,
        objective: Objective, stopLoss: Double? = 1e-2, rank: Int? = nil, alpha: Float? = nil, targetModules: [ParameterKind]? = nil,
        seed: UInt64 = 0
    ) {
        self.layers = layers
        self.steps = steps
        self.learningRate = learningRate
        self.weightDecay = weightDecay
        self.normConstraint = normConstraint
        self.objective = objective
        self.stopLoss = stopLoss
        self.rank = rank
        self.alpha = alpha
        self.targetModules = targetModules
        self.seed = seed
    }

    enum CodingKeys: String, CodingKey {
        case layers, steps = "num_steps", learningRate = "lr", weightDecay = "weight_decay", normConstraint = "norm_constraint"
        case objective = "objective_optimization", stopLoss = "stop_loss", rank, alpha = "lora_alpha", targetModules = "target_modules"
        case seed
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        layers = try c.decode([Int].self, forKey: .layers)
        steps = try c.decode(Int.self, forKey: .steps)
        learningRate = try c.decode(Float.self, forKey: .learningRate)
        weightDecay = try c.decodeIfPresent(Float.self, forKey: .weightDecay) ?? 0
        // EasyEdit writes `norm_constraint: false` for "none".
        if (try? c.decodeIfPresent(Bool.self, forKey: .normConstraint)) != nil {
            normConstraint = nil
        } else {
            normConstraint = try c.decodeIfPresent(Float.self, forKey: .normConstraint)
        }
        let o = try c.decode(String.self, forKey: .objective)
        guard let objective = Objective(rawValue: o) else {
            throw DecodingError.dataCorruptedError(
                forKey: .objective, in: c, debugDescription: "expected prompt_last or target_new, found \(o)")
        }
        self.objective = objective
        stopLoss = try c.decodeIfPresent(Double.self, forKey: .stopLoss)
        rank = try c.decodeIfPresent(Int.self, forKey: .rank)
        alpha = try c.decodeIfPresent(Float.self, forKey: .alpha)
        if let names = try c.decodeIfPresent([String].self, forKey: .targetModules) {
            targetModules = try names.map { n in
                guard let k = ParameterKind(rawValue: n), k != .ln1, k != .ln2 else {
                    throw DecodingError.dataCorruptedError(
                        forKey: .targetModules, in: c, debugDescription: "expected W_Q, W_K, W_V, W_O, W_gate, W_in or W_out, found \(n)")
                }
                return k
            }
        }
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 0
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(layers, forKey: .layers)
        try c.encode(steps, forKey: .steps)
        try c.encode(learningRate, forKey: .learningRate)
        try c.encode(weightDecay, forKey: .weightDecay)
        try c.encodeIfPresent(normConstraint, forKey: .normConstraint)
        try c.encode(objective.rawValue, forKey: .objective)
        try c.encodeIfPresent(stopLoss, forKey: .stopLoss)
        try c.encodeIfPresent(rank, forKey: .rank)
        try c.encodeIfPresent(alpha, forKey: .alpha)
        try c.encodeIfPresent(targetModules?.map(\.rawValue), forKey: .targetModules)
        try c.encode(seed, forKey: .seed)
    }

    /// The blocks trained: `layers`, or every block for LoRA with `layers: []`.
    public func trainedLayers(layerCount: Int) -> [Int] {
        layers.isEmpty ? Array(0..<layerCount) : layers.sorted()
    }

    /// Checks the values against a model (`blocks` tells which maps each block has).
    public func validate(method: EditMethod, blocks: [BlockWeights], file: String = "hyperparameters") throws(EditError) {
        let key = method.fileKey
        func bad(_ field: String, _ expected: String, _ found: String) -> EditError {
            .malformedHyperparameters(file: file, field: "\(key).\(field)", expected: expected, found: found)
        }
        if method != .lora && layers.isEmpty { throw bad("layers", "at least one layer", "none") }
        for l in layers where l < 0 || l >= blocks.count { throw .layerOutOfRange(what: "\(file): \(key).layers", layer: l, layers: blocks.count) }
        guard Set(layers).count == layers.count else { throw bad("layers", "distinct layers", "\(layers)") }
        guard steps >= 1 else { throw bad("num_steps", "at least 1", "\(steps)") }
        guard learningRate > 0, learningRate.isFinite else { throw bad("lr", "a positive number", "\(learningRate)") }
        guard weightDecay >= 0, weightDecay.isFinite else { throw bad("weight_decay", "a number ≥ 0", "\(weightDecay)") }
        if let n = normConstraint, !(n > 0 && n.isFinite) { throw bad("norm_constraint", "a positive number or false", "\(n)") }
        if let s = stopLoss, !(s >= 0 && s.isFinite) { throw bad("stop_loss", "a number ≥ 0", "\(s)") }
        switch method {
        case .ftL:
            guard objective == .promptLast else { throw bad("objective_optimization", "prompt_last (FT-L)", objective.rawValue) }
        case .ftM:
            guard objective == .targetNew else { throw bad("objective_optimization", "target_new (FT-M)", objective.rawValue) }
        case .lora:
            guard let r = rank, r >= 1 else { throw bad("rank", "an integer ≥ 1", rank.map(String.init) ?? "missing") }
            guard let a = alpha, a > 0, a.isFinite else { throw bad("lora_alpha", "a positive number", alpha.map { "\($0)" } ?? "missing") }
            guard let mods = targetModules, !mods.isEmpty else { throw bad("target_modules", "maps to adapt, e.g. [\"W_Q\", \"W_V\"]", "none") }
            guard Set(mods).count == mods.count else { throw bad("target_modules", "distinct maps", "\(mods.map(\.rawValue))") }
            for l in trainedLayers(layerCount: blocks.count) {
                for m in mods {
                    guard let lin = blocks[l].linear(m) else { throw bad("target_modules", "maps every trained block has", "\(m.rawValue) (absent in block \(l))") }
                    guard r < min(lin.inputs, lin.outputs) else {
                        throw bad("rank", "below \(min(lin.inputs, lin.outputs)) (the smaller side of \(m.rawValue))", "\(r)")
                    }
                }
            }
        default:
            throw bad("method", "ft-l, ft-m or lora", method.rawValue)
        }
    }
}

/// The hyperparameters an edit was made with: a locate-then-edit method's or a fine-tuning method's.
/// Encoded as the inner values (the two have disjoint required keys).
public enum MethodHyperparameters: Sendable, Equatable, Codable {
    case locate(EditHyperparameters)
    case fineTune(FineTuneHyperparameters)
    case ultraEdit(UltraEditHyperparameters)
    case grace(GRACEHyperparameters)

    /// The edited (or trained) blocks as the file names them.
    public var layers: [Int] {
        switch self {
        case .locate(let h): return h.layers
        case .fineTune(let h): return h.layers
        case .ultraEdit(let h): return h.modules.compactMap { WeightDelta.parseTarget(Substring($0))?.layer }
        case .grace(let h): return [h.layer]
        }
    }

    public var locate: EditHyperparameters? { if case .locate(let h) = self { return h } else { return nil } }
    public var fineTune: FineTuneHyperparameters? { if case .fineTune(let h) = self { return h } else { return nil } }

    public init(from decoder: Decoder) throws {
        if let h = try? FineTuneHyperparameters(from: decoder) {
            self = .fineTune(h)
        } else if let h = try? UltraEditHyperparameters(from: decoder) {
            self = .ultraEdit(h)
        } else if let h = try? GRACEHyperparameters(from: decoder) {
            self = .grace(h)
        } else {
            self = .locate(try EditHyperparameters(from: decoder))
        }
    }

    public func encode(to encoder: Encoder) throws {
        switch self {
        case .locate(let h): try h.encode(to: encoder)
        case .fineTune(let h): try h.encode(to: encoder)
        case .ultraEdit(let h): try h.encode(to: encoder)
        case .grace(let h): try h.encode(to: encoder)
        }
    }
}
