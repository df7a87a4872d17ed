import ArrayStore
import Foundation
import Models
import Tensors
import Tokenization

/// A steering vector by contrastive activation addition (Rimsky et al. 2024; Turner et al. 2023's
/// ActAdd with many pairs): the mean of an activation over one set of prompts minus its mean over
/// another, read at each prompt's last token, and added × α at that hook point at every position of a
/// later run (`hooks(alpha:)`, `locus generate --steer FILE:α`).
public struct SteeringVector: Sendable, Equatable {
    /// The hook point, a residual-stream-width site (e.g. `blocks.12.hook_resid_post`).
    public let hook: HookID
    /// mean(positive) − mean(negative), `[d_model]`.
    public let vector: [Float]
    public let positive: [String]
    public let negative: [String]

    public var norm: Double { Double(vector.reduce(0) { $0 + $1 * $1 }).squareRoot() }

    /// Reads `hook` at the last token of every prompt and takes the difference of the two sets' means.
    public static func compute(
        _ model: Transformer, tokenizer: Tokenizer, hook: HookID, positive: [String], negative: [String]
    ) throws -> SteeringVector {
        let d = model.config.dModel
        guard !positive.isEmpty, !negative.isEmpty else {
            throw ProbingError.invalidOption(name: "prompts", expected: "at least one positive and one negative prompt", found: "\(positive.count) and \(negative.count)")
        }
        guard let layer = hook.layer, layer < model.config.nLayers, [.residPre, .residMid, .residPost, .attnOut, .mlpOut].contains(hook.site) else {
            throw ProbingError.invalidOption(name: "hook", expected: "a d_model-wide hook of a block (blocks.L.hook_resid_pre|resid_mid|resid_post|attn_out|mlp_out)", found: hook.name)
        }
        func mean(_ prompts: [String]) throws -> [Double] {
            var sum = [Double](repeating: 0, count: d)
            for p in prompts {
                let ids = tokenizer.encode(p)
                let r = try model.forward([ids], hooks: Hooks(capture: [hook]), logits: .last, stopAfterLayer: layer)
                let a = r.cache[hook]!.data
                for j in 0..<d { sum[j] += Double(a[(ids.count - 1) * d + j]) }
            }
            return sum.map { $0 / Double(prompts.count) }
        }
        let p = try mean(positive), n = try mean(negative)
        return SteeringVector(hook: hook, vector: (0..<d).map { Float(p[$0] - n[$0]) }, positive: positive, negative: negative)
    }

    /// Hooks adding α·vector at every position of every sequence at `hook`.
    public func hooks(alpha: Float) -> Hooks {
        var h = Hooks()
        let v = vector, d = vector.count
        h.edit(hook) { t, _ in
            t.data.withUnsafeMutableBufferPointer { p in
                for r in 0..<(p.count / d) { for j in 0..<d { p[r * d + j] += alpha * v[j] } }
            }
        }
        return h
    }

    /// HDF5: `/vector` Float32 `[d_model]`; attributes `hook`, `positive`, `negative` (string arrays), `norm`.
    public func write(to path: String, provenance: Provenance) throws {
        try H5File.write(path) { f in
            try f.write(Tensor(shape: [vector.count], data: vector), at: "vector")
            var a = provenance.attributes
            a["hook"] = .string(hook.name)
            a["positive"] = .strings(positive)
            a["negative"] = .strings(negative)
            a["norm"] = .double(norm)
            a["meaning"] = .string("mean over the positive prompts minus mean over the negative prompts of the hook at each prompt's last token")
            try f.setAttributes(a)
        }
    }

    /// Reads a vector written by `write`, checking it belongs to the model (`modelSHA256`) and fits it.
    public static func read(_ path: String, modelSHA256: String, dModel: Int) throws -> SteeringVector {
        let f = try H5File.open(path)
        let sha = try f.requiredString("model_sha256")
        guard sha == modelSHA256 else { throw ProbingError.badFile(path: path, field: "model_sha256", expected: modelSHA256, found: sha) }
        let v = try f.readTensor("vector")
        guard v.shape == [dModel] else { throw ProbingError.badFile(path: path, field: "vector", expected: "[\(dModel)] (d_model)", found: "\(v.shape)") }
        let a = try f.attributes()
        guard case .strings(let pos)? = a["positive"], case .strings(let neg)? = a["negative"] else {
            throw ProbingError.badFile(path: path, field: "positive/negative", expected: "string arrays", found: "something else")
        }
        let hook: HookID
        do { hook = try HookID(name: try f.requiredString("hook")) } catch {
            throw ProbingError.badFile(path: path, field: "hook", expected: "a hook name", found: "\(error)")
        }
        return SteeringVector(hook: hook, vector: v.data, positive: pos, negative: neg)
    }
}
