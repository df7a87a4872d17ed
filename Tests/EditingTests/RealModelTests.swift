import Foundation
import ModelFormats
import ModelStore
import Models
import TestSupport
import XCTest

@testable import Editing

/// One ROME edit on the real SmolLM2 (statistics from 4,096 WikiText tokens, to stay quick): the
/// edit is verified, the ledger reverts it bit for bit, and the exported GGUF reloads with the same
/// logits. Skipped when the model is not fetched.
final class RealModelTests: XCTestCase {
    /// An editor with tight guards, statistics in `dir`, and a 512-token WikiText canary.
    func editor(_ model: LanguageModel, _ file: HyperparameterFile, ledger: String, dir: String) throws -> Editor {
        let e = try Editor(
            model: model, ledgerPath: ledger, hyperparameters: file,
            guards: EditGuards(maxRelativeNorm: 1, maxPerplexityRatio: 1.1), statisticsDirectory: dir + "/stats")
        e.canary = try CorpusTokens.wikiText(tokenizer: model.tokenizer, tokens: 512, maxSequenceLength: 128).sequences
        return e
    }

    /// The Eiffel Tower → Rome request.
    func eiffel() throws -> [EditRequest] {
        try RequestFile.parse(
            """
            subject: Eiffel Tower
            prompt: The Eiffel Tower is located in the city of
            target_new: Rome
            target_true: Paris
            """, file: "eiffel.yaml")
    }

    func testROMEOnSmolLM2EditsVerifiesRevertsAndExports() throws {
        let path = try TestModels.path(.smollm2)
        let model = try LanguageModel(path: path)
        let dir = try Fixtures.temporaryDirectory(self)
        var file = try HyperparameterFile.shipped(forModel: [(path as NSString).lastPathComponent]).file
        file.rome!.mom2Tokens = 4096
        let e = try editor(model, file, ledger: dir + "/smollm2.edits.h5", dir: dir)
        let requests = try eiffel()

        // The model already says Paris: asking for Paris is refused.
        var same = requests[0]
        same.targetNew = "Paris"
        same.targetTrue = nil
        XCTAssertThrowsError(try e.checkTargets([same])) { err in
            guard case .targetEqualsCurrentAnswer? = err as? EditError else { return XCTFail("\(err)") }
        }

        let outcome = try e.apply(requests, method: .rome, counterFact: true)
        XCTAssertTrue(outcome.applied, "\(outcome.failures)")
        XCTAssertGreaterThan(outcome.newProbabilityAfter[0], outcome.trueProbabilityAfter[0]!)
        XCTAssertLessThan(outcome.newProbabilityBefore[0], outcome.trueProbabilityBefore[0]!)
        XCTAssertEqual(try XCTUnwrap(outcome.counterFactAfter)[0].efficacySuccess, 1)
        XCTAssertNotNil(outcome.perplexityAfter)
        // The statistics file records the model's hash.
        let sha = try FileHash.sha256(path: path)
        XCTAssertNoThrow(try KeyStatistics.load(
            StatisticsStore(directory: dir + "/stats", modelPath: path, modelSHA256: sha).path(layer: 5, tokens: 4096),
            modelSHA256: sha, layer: 5, tokenCount: 4096, corpusSHA256: nil))

        // Export and reload: the same logits as the edited session.
        let edited = e.transformer
        try ModelExport.export(gguf: model.gguf!, base: e.base, edited: edited, ledger: e.ledger, to: dir + "/edited.gguf")
        let back = try LanguageModel(path: dir + "/edited.gguf")
        let ids = try model.encode("The Eiffel Tower is located in the city of")
        let a = try edited.forward([ids], logits: .last).logits.data
        let b = try back.transformer.forward([ids], logits: .last).logits.data
        XCTAssertEqual(a, b, "exported F32 weights reproduce the edited model exactly")
        let top = b.indices.max { b[$0] < b[$1] }!
        XCTAssertEqual(model.tokenizer.decode([top]), " Rome")

        // A new session replays the ledger; revert gives the file's weights back bit for bit.
        let again = try Editor(model: model, ledgerPath: dir + "/smollm2.edits.h5", hyperparameters: file, statisticsDirectory: dir + "/stats")
        XCTAssertEqual(again.transformer.weights.blocks[5].wOut.weight, edited.weights.blocks[5].wOut.weight)
        try again.revert()
        XCTAssertTrue(
            again.transformer.weights.blocks[5].wOut.weight.withUnsafeBytes { x in
                model.transformer.weights.blocks[5].wOut.weight.withUnsafeBytes { y in memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 }
            })
    }

    /// ROME on the real Gemma 3 270M, whose MLP output is normalised after W_out: v* is W_out's
    /// output before that norm, and the edit makes the new target the answer (layer 5, SmolLM2's other
    /// values, statistics from 4,096 WikiText tokens to stay quick).
    func testROMEOnGemma3EditsThroughThePostMLPNorm() throws {
        let path = try TestModels.path(.gemma3)
        let model = try LanguageModel(path: path)
        let dir = try Fixtures.temporaryDirectory(self)
        var file = try HyperparameterFile.shipped(forModel: ["SmolLM2-135M-Instruct.Q4_1.gguf"]).file
        file.rome!.layers = [5]
        file.rome!.mom2Tokens = 4096
        let e = try editor(model, file, ledger: dir + "/gemma3.edits.h5", dir: dir)
        let requests = try eiffel()
        let outcome = try e.apply(requests, method: .rome, counterFact: true)
        XCTAssertTrue(outcome.applied, "\(outcome.failures)")
        XCTAssertLessThan(outcome.newProbabilityBefore[0], outcome.trueProbabilityBefore[0]!)
        XCTAssertGreaterThan(outcome.newProbabilityAfter[0], 0.5)
        XCTAssertEqual(try XCTUnwrap(outcome.counterFactAfter)[0].efficacySuccess, 1)
        let ids = try model.encode("The Eiffel Tower is located in the city of")
        let b = try e.transformer.forward([ids], logits: .last).logits.data
        XCTAssertEqual(model.tokenizer.decode([b.indices.max { b[$0] < b[$1] }!]), " Rome")
        try e.revert()
        XCTAssertEqual(e.transformer.weights.blocks[5].wOut, model.transformer.weights.blocks[5].wOut, "revert gives the file's weights back")
    }

    /// MEMIT on the real Gemma 3 270M: z's δ before layer 7's post-MLP norm, and each layer's residual
    /// carried back through its norm (layers 3–7 as Locus chose them, λ = 200, SmolLM2's other values,
    /// statistics from 4,096 WikiText tokens to stay quick). The new target overtakes the old one.
    func testMEMITOnGemma3EditsThroughThePostMLPNorms() throws {
        let path = try TestModels.path(.gemma3)
        let model = try LanguageModel(path: path)
        let dir = try Fixtures.temporaryDirectory(self)
        var file = try HyperparameterFile.shipped(forModel: ["SmolLM2-135M-Instruct.Q4_1.gguf"]).file
        file.memit!.layers = [3, 4, 5, 6, 7]
        file.memit!.mom2Tokens = 4096
        file.memit!.mom2UpdateWeight = 200  // SmolLM2's λ = 2000 leaves this model's P(Rome) at 0.66 (λ = 20000: unchanged)
        let e = try editor(model, file, ledger: dir + "/gemma3.edits.h5", dir: dir)
        let outcome = try e.apply(try eiffel(), method: .memit, counterFact: true)
        XCTAssertTrue(outcome.applied, "\(outcome.failures)")
        XCTAssertLessThan(outcome.newProbabilityBefore[0], 0.01)
        XCTAssertGreaterThan(outcome.newProbabilityAfter[0], try XCTUnwrap(outcome.trueProbabilityAfter[0]))
        XCTAssertEqual(try XCTUnwrap(outcome.counterFactAfter)[0].efficacySuccess, 1)
        try e.revert()
        for l in [3, 4, 5, 6, 7] {
            XCTAssertEqual(e.transformer.weights.blocks[l].wOut, model.transformer.weights.blocks[l].wOut, "revert gives layer \(l) back")
        }
    }
}
