import Foundation
import Linalg
import Models
import Tensors
import Tokenization

/// Feed-forward layers as key-value memories (Geva et al. 2021): in block l the MLP computes
/// `FFN(x) = Σᵢ mᵢ vᵢ`, where the coefficient mᵢ of key i is the activation at `mlp.hook_post` (for gated MLPs,
/// `act(x·W_gate)ᵢ · (x·W_in)ᵢ`) and the value vᵢ is row i of `W_out`. (Gemma 3 then applies a post-MLP norm,
/// so there the sum is the norm's input.)
public enum FFNMemories {
    public struct Token: Codable, Sendable, Equatable {
        public let id: Int
        public let piece: String
        public let score: Double
    }

    public struct Key: Codable, Sendable {
        public let layer: Int
        public let index: Int
        public let coefficient: Double
        /// ‖vᵢ‖.
        public let valueNorm: Double
        /// Tokens vᵢ promotes most: vᵢ through the final norm's scale and the unembedding.
        public let promotes: [Token]
    }

    public struct Layer: Codable, Sendable {
        public let layer: Int
        public let byCoefficient: [Key]
        public let byWeightedNorm: [Key]
        /// Direct contribution to the target's logit of this block's MLP output and attention output at the position
        /// (their terms in the final logit when the final norm's per-row scale is held fixed).
        public let mlpContribution: Double?
        public let attentionContribution: Double?
        /// Tokens this block's MLP output promotes most.
        public let mlpPromotes: [Token]
    }

    public struct Report: Codable, Sendable {
        public let prompt: PromptTokens
        public let position: Int
        public let target: Target?
        public let layers: [Layer]
        /// Contribution of the embeddings (and, for LayerNorm models, the final norm's bias) to the target logit.
        public let embeddingContribution: Double?
        public let biasContribution: Double?
        /// The target's logit, which the contributions sum to.
        public let targetLogit: Double?
    }

    /// Logits a residual-stream direction `x` adds through the final norm with the per-row scale `s` held fixed:
    /// `(center(x) ⊙ g) · s · W_Uᵀ` (centering only for LayerNorm). With `s = 1` it is a value's projection.
    static func project(_ model: Transformer, _ x: [Float], scale s: Float = 1) -> [Float] {
        let c = model.config, d = c.dModel, V = c.vocabSize
        var y = x
        if c.norm == .layer {
            let mean = y.reduce(0, +) / Float(d)
            for j in 0..<d { y[j] -= mean }
        }
        let g = model.weights.finalNorm.weight
        for j in 0..<d { y[j] *= g[j] * s }
        var out = [Float](repeating: 0, count: V)
        let u = model.weights.unembedding ?? model.weights.embedding
        y.withUnsafeBufferPointer { yp in
            out.withUnsafeMutableBufferPointer { op in u.timesTransposed(yp.baseAddress!, n: 1, into: op.baseAddress!) }
        }
        return out
    }

    static func top(_ logits: [Float], _ k: Int, _ tokenizer: Tokenizer) -> [Token] {
        LogitLens.topIndices(logits, k).map { Token(id: $0, piece: tokenizer.decode([$0]), score: Double(logits[$0])) }
    }

    /// Value vector i of block l (row i of `W_out`).
    public static func value(_ model: Transformer, layer l: Int, key i: Int) -> [Float] {
        let w = model.weights.blocks[l].wOut
        return Array(w.weight[(i * w.outputs)..<((i + 1) * w.outputs)])
    }

    /// Top tokens a value vector promotes.
    public static func promotes(_ model: Transformer, tokenizer: Tokenizer, layer: Int, key: Int, top k: Int = 10) -> [Token] {
        top(project(model, value(model, layer: layer, key: key)), k, tokenizer)
    }

    /// The memory tour of one prompt at one position (default: the last).
    public static func tour(
        _ model: Transformer, tokenizer: Tokenizer, prompt: PromptTokens, target: Target?, position: Int? = nil, keys k: Int = 10,
        tokens kt: Int = 8, layers: [Int]? = nil
    ) throws -> Report {
        let c = model.config, L = c.nLayers, d = c.dModel, F = c.dMLP, T = prompt.ids.count
        let pos = position ?? T - 1
        guard pos >= 0 && pos < T else { throw ProbingError.invalidOption(name: "position", expected: "0..<\(T)", found: "\(pos)") }
        var capture: Set<HookID> = [HookID(.embed), HookID(.residPost, layer: L - 1)]
        if c.positionEmbeddingPresent { capture.insert(HookID(.posEmbed)) }
        for l in 0..<L { capture.formUnion([HookID(.mlpPost, layer: l), HookID(.mlpOut, layer: l), HookID(.attnOut, layer: l)]) }
        let r = try model.forward([prompt.ids], hooks: Hooks(capture: capture), logits: .all)
        func row(_ id: HookID, width: Int = d) -> [Float] { Array(r.cache[id]!.data[(pos * width)..<((pos + 1) * width)]) }
        // The final norm's per-row scale at this position: 1/rms (RMSNorm) or 1/std (LayerNorm).
        let final = row(HookID(.residPost, layer: L - 1))
        let scale: Float = {
            if c.norm == .rms {
                let ms = final.reduce(0) { $0 + $1 * $1 } / Float(d)
                return 1 / (ms + c.normEpsilon).squareRoot()
            }
            let mean = final.reduce(0, +) / Float(d)
            let v = final.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(d)
            return 1 / (v + c.normEpsilon).squareRoot()
        }()
        let t = target?.ids.first
        func contribution(_ x: [Float]) -> Double? { t.map { Double(project(model, x, scale: scale)[$0]) } }
        var out: [Layer] = []
        for l in layers ?? Array(0..<L) {
            let m = row(HookID(.mlpPost, layer: l), width: F)
            let w = model.weights.blocks[l].wOut
            let W = w.weight
            let norms = (0..<F).map { i in Double((0..<w.outputs).reduce(Float(0)) { $0 + W[i * w.outputs + $1] * W[i * w.outputs + $1] }).squareRoot() }
            func key(_ i: Int) -> Key {
                Key(layer: l, index: i, coefficient: Double(m[i]), valueNorm: norms[i], promotes: promotes(model, tokenizer: tokenizer, layer: l, key: i, top: kt))
            }
            let byCoef = LogitLens.topIndices(m, k).map(key)
            let weighted = (0..<F).map { Float(Double(m[$0]) * norms[$0]) }
            let byWeighted = LogitLens.topIndices(weighted, k).map(key)
            let mlpOut = row(HookID(.mlpOut, layer: l))
            out.append(Layer(
                layer: l, byCoefficient: byCoef, byWeightedNorm: byWeighted, mlpContribution: contribution(mlpOut),
                attentionContribution: contribution(row(HookID(.attnOut, layer: l))), mlpPromotes: top(project(model, mlpOut), kt, tokenizer)))
        }
        var embed = row(HookID(.embed))
        if let pe = r.cache[HookID(.posEmbed)] { for j in 0..<d { embed[j] += pe.data[pos * d + j] } }
        var bias: Double?
        if let b = model.weights.finalNorm.bias, let t {
            let u = (model.weights.unembedding ?? model.weights.embedding).row(t)
            bias = (0..<d).reduce(0.0) { $0 + Double(b[$1] * u[$1]) }
        }
        let logit = t.map { Double(r.logits.data[pos * c.vocabSize + $0]) }
        return Report(prompt: prompt, position: pos, target: target, layers: out, embeddingContribution: contribution(embed), biasContribution: bias, targetLogit: logit)
    }
}

extension ModelConfig {
    var positionEmbeddingPresent: Bool { !rotary }
}
