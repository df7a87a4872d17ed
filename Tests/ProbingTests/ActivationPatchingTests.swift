import Foundation
import Models
import Tensors
import XCTest

@testable import Probing

/// Prompt-pair patching equals its definition: each cell of the sweep is the corrupted prompt's full
/// forward pass with that one activation replaced by the clean run's (a hook on `forward`), normalised
/// by the clean and corrupted logit differences; positions before the prompts first differ carry nothing.
final class ActivationPatchingTests: XCTestCase {
    func testCellsEqualFullRunsWithOneActivationReplaced() throws {
        for arch in ["llama", "gemma3", "gpt2"] {
            let model = try TinyModels.load(arch)
            let V = model.config.vocabSize, L = model.config.nLayers, d = model.config.dModel
            let cleanIDs = [3, 17, 42, 8, 99, 23, 61], corruptIDs = [3, 17, 77, 8, 99, 23, 61]
            let clean = PromptTokens(text: "clean", ids: cleanIDs, pieces: cleanIDs.map { "<\($0)>" })
            let corrupted = PromptTokens(text: "corrupted", ids: corruptIDs, pieces: corruptIDs.map { "<\($0)>" })
            let a = Target(ids: [5], pieces: ["a"], text: "a"), b = Target(ids: [9], pieces: ["b"], text: "b")
            let r = try ActivationPatching.run(model, clean: clean, corrupted: corrupted, answer: a, versus: b)

            var all: Set<HookID> = []
            for l in 0..<L { all.formUnion([HookID(.residPre, layer: l), HookID(.attnOut, layer: l), HookID(.mlpOut, layer: l), HookID(.z, layer: l)]) }
            let cleanRun = try model.forward([cleanIDs], hooks: Hooks(capture: all), logits: .last)
            func ld(_ hooks: Hooks) throws -> Double {
                let logits = try model.forward([corruptIDs], hooks: hooks, logits: .last).logits.data
                return Double(logits[logits.count - V + 5]) - Double(logits[logits.count - V + 9])
            }
            let ldCorrupt = try ld(Hooks())
            XCTAssertEqual(r.corruptedDifference, ldCorrupt, accuracy: 1e-5, arch)
            func effect(_ x: Double) -> Double { (x - ldCorrupt) / (r.cleanDifference - ldCorrupt) }

            for sweep in r.sites {
                for (l, p) in [(0, 2), (1, 2), (1, 6), (0, 4)] {
                    let id = HookID(sweep.site == .residPre ? .residPre : sweep.site == .attnOut ? .attnOut : .mlpOut, layer: l)
                    let value = Array(cleanRun.cache[id]!.data[(p * d)..<((p + 1) * d)])
                    var hooks = Hooks()
                    hooks.edit(id) { t, _ in for j in 0..<d { t.data[p * d + j] = value[j] } }
                    XCTAssertEqual(sweep.effect[p][l], effect(try ld(hooks)), accuracy: 1e-4, "\(arch) \(sweep.site) layer \(l) position \(p)")
                }
                // Before the first differing token (position 2) the two runs are the same (to the rounding of a
                // batch of sequences against one).
                for p in 0..<2 { for l in 0..<L { XCTAssertEqual(sweep.effect[p][l], 0, accuracy: 1e-5, "\(arch) \(sweep.site)") } }
            }
            let nH = model.config.nHeads, dh = model.config.dHead
            for (l, h) in [(0, 0), (1, nH - 1)] {
                let z = cleanRun.cache[HookID(.z, layer: l)]!.data
                var hooks = Hooks()
                hooks.edit(HookID(.z, layer: l)) { t, _ in
                    for p in 0..<cleanIDs.count { for i in (h * dh)..<((h + 1) * dh) { t.data[p * nH * dh + i] = z[p * nH * dh + i] } }
                }
                XCTAssertEqual(r.heads![l][h], effect(try ld(hooks)), accuracy: 1e-4, "\(arch) head \(l).\(h)")
            }
        }
    }

    func testPromptsOfDifferentLengthsAreRefusedWithBoth() throws {
        let model = try TinyModels.load("llama")
        let a = Target(ids: [5], pieces: ["a"], text: "a"), b = Target(ids: [9], pieces: ["b"], text: "b")
        XCTAssertThrowsError(try ActivationPatching.run(
            model, clean: PromptTokens(text: "x", ids: [1, 2, 3], pieces: ["1", "2", "3"]), corrupted: PromptTokens(text: "y", ids: [1, 2], pieces: ["1", "2"]),
            answer: a, versus: b)) { error in
            XCTAssertTrue("\(error)".contains("3") && "\(error)".contains("2"), "\(error)")
        }
    }
}
