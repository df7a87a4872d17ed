import Foundation
import Models
import XCTest

@testable import Probing

/// The parts of a direct logit attribution add up to the model's own logit difference (before any
/// final soft-cap), on the tiny random model of every architecture; per head where the heads are
/// linear in the residual, per block where a post-attention norm stands in between; and a head's
/// parts add up to its block's `hook_attn_out` contribution.
final class DirectLogitAttributionTests: XCTestCase {
    static let architectures = ["llama", "llama3", "mistral", "qwen2", "qwen3", "phi3", "gemma2", "gemma3", "gpt2", "gptj", "gptneox"]

    func prompt(_ model: Transformer) -> PromptTokens {
        let ids = (0..<7).map { ($0 * 37 + 11) % model.config.vocabSize }
        return PromptTokens(text: "ids", ids: ids, pieces: ids.map { "<\($0)>" })
    }

    func testPartsSumToTheLogitDifferenceOnEveryArchitecture() throws {
        for arch in Self.architectures {
            let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("ModelsTests/Fixtures/golden/\(arch)").path
            let model = try Transformer(huggingFaceDirectory: dir)
            let a = Target(ids: [5], pieces: ["a"], text: "a"), b = Target(ids: [9], pieces: ["b"], text: "b")
            for position in [nil, 3] {
                let r = try DirectLogitAttribution.compute(model, prompt: prompt(model), answer: a, versus: b, position: position)
                XCTAssertEqual(r.total, r.uncappedDifference, accuracy: 2e-5 * max(1, abs(r.uncappedDifference)), "\(arch) at \(position ?? -1)")
                XCTAssertEqual(r.perBlockAttention, model.weights.blocks[0].postAttentionNorm != nil, arch)
                let heads = r.parts.filter { $0.head != nil }.count
                XCTAssertEqual(heads, r.perBlockAttention ? 0 : model.config.nLayers * model.config.nHeads, arch)
                if model.config.finalSoftcap == nil { XCTAssertEqual(r.difference, r.uncappedDifference, accuracy: 1e-9, arch) }
            }
            // logit(answer) alone.
            let single = try DirectLogitAttribution.compute(model, prompt: prompt(model), answer: a, versus: nil)
            XCTAssertEqual(single.total, single.uncappedDifference, accuracy: 2e-5 * max(1, abs(single.uncappedDifference)), arch)
        }
    }

    /// The heads of a block, with W_O's bias, equal what the whole block's attention output contributes.
    func testHeadsAddUpToTheirBlock() throws {
        for arch in ["llama", "gpt2", "qwen2"] {
            let model = try TinyModels.load(arch)
            let p = prompt(model)
            let a = Target(ids: [5], pieces: ["a"], text: "a"), b = Target(ids: [9], pieces: ["b"], text: "b")
            let r = try DirectLogitAttribution.compute(model, prompt: p, answer: a, versus: b)
            // The block's attention output, projected the same way: its share of the difference, from the
            // difference the attribution reaches with the block's heads replaced by the block.
            let out = try model.forward([p.ids], hooks: Hooks(capture: [HookID(.attnOut, layer: 1), HookID(.residPost, layer: model.config.nLayers - 1)]), logits: .last)
            let d = model.config.dModel, pos = p.ids.count - 1
            let attn = Array(out.cache[HookID(.attnOut, layer: 1)]!.data[(pos * d)..<((pos + 1) * d)])
            let final = Array(out.cache[HookID(.residPost, layer: model.config.nLayers - 1)]!.data[(pos * d)..<((pos + 1) * d)])
            let expected = project(model, attn, final: final, a: 5, b: 9)
            let heads = r.parts.filter { $0.layer == 1 && ($0.head != nil || $0.name.hasSuffix("attn bias")) }.reduce(0) { $0 + $1.contribution }
            XCTAssertEqual(heads, expected, accuracy: 1e-5 * max(1, abs(expected)), arch)
        }
    }

    /// `x` through the final norm with the scale of `final` held fixed, then W_U[a] − W_U[b] (a direct computation).
    func project(_ model: Transformer, _ x: [Float], final: [Float], a: Int, b: Int) -> Double {
        let c = model.config, d = c.dModel
        let m = c.norm == .layer ? final.reduce(0, +) / Float(d) : 0
        let s = 1 / Double((final.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Float(d) + c.normEpsilon).squareRoot())
        let xm = c.norm == .layer ? x.reduce(0, +) / Float(d) : 0
        let u = model.weights.unembedding ?? model.weights.embedding
        let ua = u.row(a), ub = u.row(b), g = model.weights.finalNorm.weight
        var total = 0.0
        for j in 0..<d {
            let w = Double(g[j]) * (Double(ua[j]) - Double(ub[j]))
            total += Double(x[j] - xm) * s * w
        }
        return total
    }
}
