import Foundation

/// The editing methods Locus implements.
public enum EditMethod: String, Sendable, Codable, CaseIterable {
    /// Locate-then-edit: a target value found by optimisation, written into `W_out` in closed form.
    case rome, rRome = "r-rome", memit, emmet, alphaedit
    /// Gradient fine-tuning baselines (`FineTuning`).
    case ftL = "ft-l", ftM = "ft-m", lora
    /// Lifelong editing in closed form from one gradient (`UltraEdit`).
    case ultraedit
    /// A key→value codebook on one layer, the weights untouched (`GRACE`).
    case grace

    /// True for the methods trained by gradient descent on the weights (their hyperparameters are
    /// `FineTuneHyperparameters`).
    public var isFineTuning: Bool { self == .ftL || self == .ftM || self == .lora }

    /// ROME and r-ROME: rank-one updates, with ROME's context templates and factored C.
    public var isRankOne: Bool { self == .rome || self == .rRome }

    /// ROME, r-ROME and GRACE edit one request at a time (several are applied one after another).
    public var editsOneRequest: Bool { isRankOne || self == .grace }

    /// The name of the method's section in a hyperparameter file.
    public var fileKey: String { rawValue.replacingOccurrences(of: "-", with: "_") }

    /// Every method's name, for messages.
    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

/// Hyperparameters of ROME, MEMIT and AlphaEdit, named as in the reference code
/// (kmeng01/rome `ROMEHyperParams`, kmeng01/memit `MEMITHyperParams`, AlphaEdit's additions).
///
/// Per-model values live in `Sources/Editing/Hyperparameters/<model>.json`, each with a `source`
/// field saying where every default came from.
public struct EditHyperparameters: Sendable, Equatable, Codable {
    /// ROME: the one edited layer. MEMIT/AlphaEdit: the edited layers; z is computed at the last.
    public var layers: [Int]
    /// Where the key is read: `subject_last` (the subject's last token) is the only strategy the
    /// reference hyperparameters use, and the only one Locus implements.
    public var factToken: String
    public var steps: Int
    public var learningRate: Float
    /// `v_weight_decay`: the loss gets `v_weight_decay · ‖δ‖ / ‖v₀‖²` (exactly the reference's term).
    public var weightDecay: Float
    /// `‖δ‖` is clamped to `clamp_norm_factor · ‖v₀‖` after every Adam step.
    public var clampNormFactor: Float
    public var klFactor: Float
    /// ROME: use `C⁻¹k*` (true) or `k*` (false) as the left vector.
    public var mom2Adjustment: Bool
    /// Tokens of WikiText-2 that the second-moment statistics C are computed over.
    public var mom2Tokens: Int
    /// MEMIT/AlphaEdit λ: the update solves `(λC + K Kᵀ) ΔW = K Rᵀ`.
    public var mom2UpdateWeight: Double
    /// `[[length, count], ...]`: generate `count` context prefixes of `length` tokens each
    /// (length counts the generation prompt's token, as in the reference `generate_fast`).
    public var contextTemplateLengthParams: [[Int]]
    /// AlphaEdit: eigenvalues of C below this span the preserved null space.
    public var nullspaceThreshold: Double?
    /// AlphaEdit: ridge term added to the projected normal matrix.
    public var l2: Double?
    /// EMMET: ridge term added to `D = Kᵀ C⁻¹ K` when a batch has more than one request.
    public var emmetLambda: Double?
    /// Seed of the context-prefix sampler.
    public var seed: UInt64

    public init(
        layers: [Int], factToken: String = "subject_last", steps: Int, learningRate: Float, weightDecay: Float,
        clampNormFactor: Float, klFactor: Float, mom2Adjustment: Bool = true, mom2Tokens: Int = 100_000,
        mom2UpdateWeight: Double = 20000, contextTemplateLengthParams: [[Int]], nullspaceThreshold: Double? = nil,
        l2: Double? = nil, emmetLambda: Double? = nil, seed: UInt64 = 0
    ) {
        self.layers = layers
        self.factToken = factToken
        self.steps = steps
        self.learningRate = learningRate
        self.weightDecay = weightDecay
        self.clampNormFactor = clampNormFactor
        self.klFactor = klFactor
        self.mom2Adjustment = mom2Adjustment
        self.mom2Tokens = mom2Tokens
        self.mom2UpdateWeight = mom2UpdateWeight
        self.contextTemplateLengthParams = contextTemplateLengthParams
        self.nullspaceThreshold = nullspaceThreshold
        self.l2 = l2
        self.emmetLambda = emmetLambda
        self.seed = seed
    }

    enum CodingKeys: String, CodingKey {
        case layer, layers, factToken = "fact_token", steps = "v_num_grad_steps", learningRate = "v_lr"
        case weightDecay = "v_weight_decay", clampNormFactor = "clamp_norm_factor", klFactor = "kl_factor"
        case mom2Adjustment = "mom2_adjustment", mom2Tokens = "mom2_n_tokens", mom2UpdateWeight = "mom2_update_weight"
        case contextTemplateLengthParams = "context_template_length_params"
        case nullspaceThreshold = "nullspace_threshold", l2 = "L2", emmetLambda = "emmet_lambda", seed
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let l = try c.decodeIfPresent(Int.self, forKey: .layer) {
            layers = [l]
        } else {
            layers = try c.decode([Int].self, forKey: .layers)
        }
        factToken = try c.decodeIfPresent(String.self, forKey: .factToken) ?? "subject_last"
        steps = try c.decode(Int.self, forKey: .steps)
        learningRate = try c.decode(Float.self, forKey: .learningRate)
        weightDecay = try c.decode(Float.self, forKey: .weightDecay)
        clampNormFactor = try c.decode(Float.self, forKey: .clampNormFactor)
        klFactor = try c.decode(Float.self, forKey: .klFactor)
        mom2Adjustment = try c.decodeIfPresent(Bool.self, forKey: .mom2Adjustment) ?? true
        mom2Tokens = try c.decodeIfPresent(Int.self, forKey: .mom2Tokens) ?? 100_000
        mom2UpdateWeight = try c.decodeIfPresent(Double.self, forKey: .mom2UpdateWeight) ?? 20000
        contextTemplateLengthParams = try c.decode([[Int]].self, forKey: .contextTemplateLengthParams)
        nullspaceThreshold = try c.decodeIfPresent(Double.self, forKey: .nullspaceThreshold)
        l2 = try c.decodeIfPresent(Double.self, forKey: .l2)
        emmetLambda = try c.decodeIfPresent(Double.self, forKey: .emmetLambda)
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 0
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(layers, forKey: .layers)
        try c.encode(factToken, forKey: .factToken)
        try c.encode(steps, forKey: .steps)
        try c.encode(learningRate, forKey: .learningRate)
        try c.encode(weightDecay, forKey: .weightDecay)
        try c.encode(clampNormFactor, forKey: .clampNormFactor)
        try c.encode(klFactor, forKey: .klFactor)
        try c.encode(mom2Adjustment, forKey: .mom2Adjustment)
        try c.encode(mom2Tokens, forKey: .mom2Tokens)
        try c.encode(mom2UpdateWeight, forKey: .mom2UpdateWeight)
        try c.encode(contextTemplateLengthParams, forKey: .contextTemplateLengthParams)
        try c.encodeIfPresent(nullspaceThreshold, forKey: .nullspaceThreshold)
        try c.encodeIfPresent(l2, forKey: .l2)
        try c.encodeIfPresent(emmetLambda, forKey: .emmetLambda)
        try c.encode(seed, forKey: .seed)
    }

    /// Checks the values against a model with `layerCount` blocks.
    public func validate(method: EditMethod, layerCount: Int, file: String = "hyperparameters") throws(EditError) {
        guard !layers.isEmpty else {
            throw .malformedHyperparameters(file: file, field: "\(method.rawValue).layers", expected: "at least one layer", found: "none")
        }
        if method.isRankOne && layers.count != 1 {
            throw .malformedHyperparameters(file: file, field: "\(method.fileKey).layer", expected: "exactly one layer", found: "\(layers)")
        }
        for l in layers where l < 0 || l >= layerCount {
            throw .layerOutOfRange(what: "\(file): \(method.rawValue).layers", layer: l, layers: layerCount)
        }
        // The edit writes at the subject's last token; only blocks after the edited one carry it to the
        // positions after the subject, where the target is predicted. At the last block it cannot.
        if let top = layers.max(), top == layerCount - 1 {
            throw .malformedHyperparameters(
                file: file, field: "\(method.rawValue).layers",
                expected: "layers below the last block (\(layerCount - 1)): an edit there cannot reach the target positions after the subject",
                found: "\(top)")
        }
        guard factToken == "subject_last" else {
            throw .malformedHyperparameters(file: file, field: "\(method.rawValue).fact_token", expected: "subject_last", found: factToken)
        }
        guard steps >= 1 else {
            throw .malformedHyperparameters(file: file, field: "\(method.rawValue).v_num_grad_steps", expected: "at least 1", found: "\(steps)")
        }
        for p in contextTemplateLengthParams where p.count != 2 || p[0] < 1 || p[1] < 0 {
            throw .malformedHyperparameters(
                file: file, field: "\(method.rawValue).context_template_length_params", expected: "pairs [length ≥ 1, count ≥ 0]", found: "\(p)")
        }
        if method == .alphaedit && (nullspaceThreshold == nil || l2 == nil) {
            throw .malformedHyperparameters(file: file, field: "alphaedit", expected: "nullspace_threshold and L2", found: "missing")
        }
        if method == .emmet {
            guard let e = emmetLambda else {
                throw .malformedHyperparameters(file: file, field: "emmet.emmet_lambda", expected: "a number ≥ 0", found: "missing")
            }
            guard e >= 0, e.isFinite else {
                throw .malformedHyperparameters(file: file, field: "emmet.emmet_lambda", expected: "a number ≥ 0", found: "\(e)")
            }
        }
        guard mom2UpdateWeight > 0, mom2UpdateWeight.isFinite else {
            throw .malformedHyperparameters(
                file: file, field: "\(method.fileKey).mom2_update_weight", expected: "a positive number", found: "\(mom2UpdateWeight)")
        }
    }
}

/// A per-model hyperparameter file: which models it is for, where its values came from, and one
/// set of values per method.
public struct HyperparameterFile: Sendable, Codable, Equatable {
    public var model: String
    /// Substrings of a model file name or `general.name` that select this file.
    public var match: [String]
    public var source: String
    public var rome: EditHyperparameters?
    public var rRome: EditHyperparameters?
    public var memit: EditHyperparameters?
    public var emmet: EditHyperparameters?
    public var alphaedit: EditHyperparameters?
    public var ftL: FineTuneHyperparameters?
    public var ftM: FineTuneHyperparameters?
    public var lora: FineTuneHyperparameters?
    public var ultraedit: UltraEditHyperparameters?
    public var grace: GRACEHyperparameters?

    enum CodingKeys: String, CodingKey {
        case model, match, source, rome, rRome = "r_rome", memit, emmet, alphaedit, ftL = "ft_l", ftM = "ft_m", lora, ultraedit, grace
    }

    /// The values of a locate-then-edit method (nil for the fine-tuning methods or when absent).
    public func values(for method: EditMethod) -> EditHyperparameters? {
        switch method {
        case .rome: return rome
        case .rRome: return rRome
        case .memit: return memit
        case .emmet: return emmet
        case .alphaedit: return alphaedit
        case .ftL, .ftM, .lora, .ultraedit, .grace: return nil
        }
    }

    /// The values of a fine-tuning method (nil for the others or when absent).
    public func fineTuneValues(for method: EditMethod) -> FineTuneHyperparameters? {
        switch method {
        case .ftL: return ftL
        case .ftM: return ftM
        case .lora: return lora
        default: return nil
        }
    }

    /// Reads a hyperparameter file.
    public static func load(_ path: String) throws(EditError) -> HyperparameterFile {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw .malformedHyperparameters(file: path, field: "file", expected: "a readable JSON file", found: error.localizedDescription)
        }
        do {
            return try JSONDecoder().decode(HyperparameterFile.self, from: data)
        } catch let DecodingError.keyNotFound(key, ctx) {
            throw .malformedHyperparameters(
                file: path, field: (ctx.codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: "."), expected: "a value",
                found: "no such key")
        } catch let DecodingError.typeMismatch(t, ctx) {
            throw .malformedHyperparameters(file: path, field: ctx.codingPath.map(\.stringValue).joined(separator: "."), expected: "\(t)", found: "another type")
        } catch {
            throw .malformedHyperparameters(file: path, field: "file", expected: "valid JSON", found: "\(error)")
        }
    }

    /// The shipped files (Sources/Editing/Hyperparameters).
    public static func shipped() throws(EditError) -> [(path: String, file: HyperparameterFile)] {
        guard let dir = Bundle.module.url(forResource: "Hyperparameters", withExtension: nil) else {
            throw .malformedHyperparameters(file: "Hyperparameters", field: "bundle", expected: "the shipped folder", found: "none")
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        var out: [(String, HyperparameterFile)] = []
        for n in names.sorted() where n.hasSuffix(".json") {
            let p = dir.appendingPathComponent(n).path
            out.append((p, try load(p)))
        }
        return out
    }

    /// The shipped file whose `match` names `modelName` (a file name or `general.name`).
    public static func shipped(forModel names: [String]) throws(EditError) -> (path: String, file: HyperparameterFile) {
        let all = try shipped()
        for (p, f) in all where f.match.contains(where: { m in names.contains { $0.contains(m) } }) {
            return (p, f)
        }
        throw .malformedHyperparameters(
            file: "Sources/Editing/Hyperparameters", field: "match",
            expected: "a file for this model (shipped: \(all.map { $0.file.model }.joined(separator: ", "))); pass --hparams FILE",
            found: names.joined(separator: ", "))
    }
}
