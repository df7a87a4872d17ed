import Foundation
import Models
import Tensors
import TestSupport
import XCTest

@testable import Probing

final class BasicsTests: XCTestCase {
    /// Values printed by NumPy 2.4: `RandomState(1).randn(5)` and `RandomState(7).randn(2000)[[1000, 1999]]`.
    func testNumpyRandomStateMatchesNumpy() {
        var r = NumpyRandomState(seed: 1)
        let want = [1.6243453636632417, -0.6117564136500754, -0.5281717522634557, -1.0729686221561705, 0.8654076293246785]
        for w in want { XCTAssertEqual(r.nextGaussian(), w, accuracy: 1e-15) }
        var r7 = NumpyRandomState(seed: 7)
        let xs = r7.gaussians(2000)
        XCTAssertEqual(xs[1000], 0.8848879535077754, accuracy: 1e-15)
        XCTAssertEqual(xs[1999], -0.2104789284916715, accuracy: 1e-15)
    }

    func testSubjectNotFoundShowsTokens() {
        let p = PromptTokens(text: "The Eiffel Tower is", ids: [1, 2, 3, 4], pieces: ["The", " Eiff", "el Tower", " is"])
        XCTAssertEqual(try p.range(of: "Eiffel"), 1..<3)
        XCTAssertEqual(try p.range(of: "Tower"), 2..<3)
        XCTAssertThrowsError(try p.range(of: "Louvre")) { e in
            guard case ProbingError.subjectNotFound(let s, _, let toks) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(s, "Louvre")
            XCTAssertEqual(toks, p.pieces)
            XCTAssertTrue("\(e)".contains("' Eiff'"), "\(e)")
        }
    }

    func testUnknownHookListsCloseNames() throws {
        let m = try TinyModels.load("llama")
        let iv = Intervention(hook: "blocks.1.mlp.hook_psot", .zero)
        XCTAssertThrowsError(try Interventions.hooks([iv], config: m.config)) { e in
            guard case ProbingError.hook(.unknownHook(_, let s)) = e else { return XCTFail("\(e)") }
            XCTAssertTrue(s.contains("blocks.1.mlp.hook_post"), "\(s)")
        }
    }

    /// Numbers that do not fit the hook are refused before the run, not discovered by a crash in it.
    func testInterventionWithWrongWidthIsATypedError() throws {
        let m = try TinyModels.load("gpt2")
        for iv in [
            Intervention(hook: "blocks.0.hook_mlp_out", positions: [1], .replace(values: [1, 2, 3])),
            Intervention(hook: "blocks.0.mlp.hook_post", .add(vector: [Float](repeating: 0, count: 64))),
            Intervention(hook: "blocks.0.attn.hook_pattern", .add(vector: [0])),
        ] {
            XCTAssertThrowsError(try Interventions.hooks([iv], config: m.config), "\(iv)") { e in
                guard case ProbingError.invalidOption = e else { return XCTFail("\(e)") }
            }
        }
    }

    /// An intervention list saved to HDF5 and loaded back is the same list, and replays to the same logits.
    func testInterventionsRoundTripThroughHDF5AndReplay() throws {
        let m = try TinyModels.load("gpt2")
        let list = [
            Intervention(hook: "hook_embed", sequences: [0], positions: [1, 2], .gaussianNoise(std: 0.3, seed: 9)),
            Intervention(hook: "blocks.0.hook_mlp_out", positions: [3], .replace(values: (0..<64).map { Float($0) / 64 })),
            Intervention(hook: "blocks.1.attn.hook_pattern", positions: [4], .scale(factor: 0.5)),
            Intervention(hook: "blocks.1.hook_resid_mid", .add(vector: [Float](repeating: 0.01, count: 64))),
            Intervention(hook: "blocks.1.mlp.hook_post", positions: [0], .zero),
        ]
        let path = NSTemporaryDirectory() + "interventions-\(getpid()).h5"
        defer { unlink(path) }
        try InterventionFile.save(list, to: path, provenance: Provenance(modelFile: "gpt2.gguf", modelSHA256: "x", createdBy: "test"))
        let back = try InterventionFile.load(path)
        XCTAssertEqual(back, list)
        let ids = [3, 1, 4, 1, 5, 9]
        let a = try m.forward([ids], hooks: try Interventions.hooks(list, config: m.config), logits: .all)
        let b = try m.forward([ids], hooks: try Interventions.hooks(back, config: m.config), logits: .all)
        let plain = try m.forward([ids], logits: .all)
        XCTAssertEqual(a.logits, b.logits)
        XCTAssertNotEqual(a.logits, plain.logits)
    }

    func testMultiTokenTargetPolicies() throws {
        // A target whose pieces the tiny fixtures cannot produce is built directly.
        let t = Target(ids: [7], pieces: [" Par"], text: " Paris", notes: [.firstTokenOfTarget(target: " Paris", tokens: [" Par", "is"])])
        XCTAssertTrue(t.notes[0].description.contains("first token ' Par'"))
        XCTAssertEqual(
            ProbingError.multiTokenTarget(target: " Paris", tokens: [" Par", "is"]).description,
            "target ' Paris' is 2 tokens (' Par' 'is'); use its first token ' Par' or ask for the sequence probability")
    }
}
