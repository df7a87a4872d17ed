import Foundation
import ModelFormats
import Models
import XCTest

@testable import Editing

/// Ledger replay and revert (bitwise), rollback on failing guards, and GGUF export round trips,
/// on the tiny Llama fixture.
final class LedgerTests: XCTestCase {
    func bytesEqual(_ a: [Float], _ b: [Float]) -> Bool {
        a.count == b.count && a.withUnsafeBytes { x in b.withUnsafeBytes { y in memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 } }
    }

    func weightsEqual(_ a: ModelWeights, _ b: ModelWeights) -> Bool {
        zip(a.blocks, b.blocks).allSatisfy { bytesEqual($0.wOut.weight, $1.wOut.weight) && $0 == $1 } && a.embedding == b.embedding
    }

    let h = EditHyperparameters(
        layers: [0], steps: 12, learningRate: 0.5, weightDecay: 1e-3, clampNormFactor: 4, klFactor: 0.0625, contextTemplateLengthParams: [])

    func request(_ n: Int) throws -> EditRequest {
        try EditRequest(id: "r\(n)", subject: "s\(n)", prompt: "{} is in", targetNew: "t\(n)")
    }

    /// A ROME proposal computed at token level on `tf` (subject tokens `[s, s+1]`).
    func proposal(_ tf: Transformer, subject s: Int, target: Int, stats: KeyStatistics) throws -> EditProposal {
        let prompts = RewritePrompts(
            rewriting: [SubjectPrompt(tokens: [s, s + 1, 20, 21], subjectLast: 1), SubjectPrompt(tokens: [3, 4, s, s + 1, 20, 21], subjectLast: 3)],
            kl: [SubjectPrompt(tokens: [s, s + 1, 30], subjectLast: 1)], target: [target])
        let r = try ROME.compute(tf, prompts: prompts, hyperparameters: h, covariance: try CovarianceFactor(stats))
        return EditProposal(
            method: .rome, requests: [try request(s)], hyperparameters: .locate(h), contextTemplates: ["{}"], deltas: [r.delta],
            denominators: [r.relativeDenominator], losses: [r.optimisation.losses], seconds: 0)
    }

    func editor(_ tf: Transformer, _ stats: [Int: KeyStatistics], guards: EditGuards = EditGuards(maxRelativeNorm: 100, maxPerplexityRatio: nil)) throws -> Editor {
        try Editor(
            base: tf, modelSHA256: "sha-test", modelFile: Fixtures.ggufPath("llama"), hyperparameters: [.rome: h], guards: guards,
            statisticsProvider: { (_: [Int], _: Int) throws(EditError) in stats })
    }

    func testRevertRestoresWeightsBitwiseAndLedgerReplays() throws {
        let tf = try Fixtures.transformer("llama")
        let stats = try Fixtures.statistics(tf, layers: [0])
        let dir = try Fixtures.temporaryDirectory(self)
        let e = try editor(tf, stats)
        e.ledgerPath = dir + "/model.edits.h5"
        let first = try e.commit(try proposal(e.transformer, subject: 10, target: 50, stats: stats[0]!))
        XCTAssertTrue(first.applied, "\(first.failures)")
        let afterFirst = e.transformer.weights
        XCTAssertFalse(weightsEqual(afterFirst, tf.weights))
        let second = try e.commit(try proposal(e.transformer, subject: 40, target: 60, stats: stats[0]!))
        XCTAssertTrue(second.applied, "\(second.failures)")
        XCTAssertEqual(e.ledger.entries.count, 2)

        // The saved ledger replays onto the file's weights to exactly the session's weights.
        let loaded = try Ledger.load(dir + "/model.edits.h5", modelSHA256: "sha-test")
        XCTAssertEqual(loaded, e.ledger)
        XCTAssertTrue(weightsEqual(try loaded.apply(to: tf).weights, e.transformer.weights))
        XCTAssertThrowsError(try Ledger.load(dir + "/model.edits.h5", modelSHA256: "another")) { err in
            XCTAssertEqual(err as? EditError, .ledgerMismatch(file: dir + "/model.edits.h5", field: "model_sha256", expected: "another", found: "sha-test"))
        }

        try e.revert()
        XCTAssertTrue(weightsEqual(e.transformer.weights, afterFirst), "revert gives the weights after the first edit, bit for bit")
        XCTAssertEqual(try Ledger.load(dir + "/model.edits.h5", modelSHA256: "sha-test").entries.count, 1)
        try e.revert()
        XCTAssertTrue(weightsEqual(e.transformer.weights, tf.weights), "reverting everything gives the file's weights")
        XCTAssertThrowsError(try e.revert()) { err in
            guard case .nothingToRevert? = err as? EditError else { return XCTFail("\(err)") }
        }

        // A damaged checksum is caught on replay.
        var damaged = loaded
        damaged.entries[0].checksums["0"] = "0000000000000000"
        XCTAssertThrowsError(try damaged.apply(to: tf)) { err in
            guard case .ledgerMismatch(_, let field, _, _)? = err as? EditError else { return XCTFail("\(err)") }
            XCTAssertEqual(field, "edits/0.checksums.layer_0")
        }
    }

    func testFailingGuardRollsBackAndLeavesWeightsAndFilesUntouched() throws {
        let tf = try Fixtures.transformer("llama")
        let stats = try Fixtures.statistics(tf, layers: [0])
        let dir = try Fixtures.temporaryDirectory(self)
        let e = try editor(tf, stats, guards: EditGuards(maxRelativeNorm: 1e-9, maxPerplexityRatio: nil))
        e.ledgerPath = dir + "/model.edits.h5"
        let p = try proposal(tf, subject: 10, target: 50, stats: stats[0]!)
        let outcome = try e.commit(p)
        XCTAssertFalse(outcome.applied)
        XCTAssertTrue(outcome.failures.contains { $0.contains("‖ΔW‖/‖W‖") }, "\(outcome.failures)")
        XCTAssertTrue(weightsEqual(e.transformer.weights, tf.weights))
        XCTAssertTrue(e.ledger.entries.isEmpty)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/model.edits.h5"))

        // Non-finite factors and a vanishing denominator are caught too.
        e.guards = EditGuards(maxRelativeNorm: 100, maxPerplexityRatio: nil)
        var bad = p
        bad.deltas[0].right[0] = .nan
        let o2 = try e.commit(bad)
        XCTAssertFalse(o2.applied)
        XCTAssertTrue(o2.failures.contains { $0.contains("non-finite") }, "\(o2.failures)")
        var flat = p
        flat.denominators = [1e-12]
        let o3 = try e.commit(flat)
        XCTAssertFalse(o3.applied)
        XCTAssertTrue(o3.failures.contains { $0.contains("denominator") }, "\(o3.failures)")
        XCTAssertTrue(weightsEqual(e.transformer.weights, tf.weights))
        XCTAssertTrue(try e.commit(p).applied, "the same proposal passes with sane guards")
    }

    func testExportReloadsEditedWeightsExactlyAndCopiesTheRest() throws {
        let tf = try Fixtures.transformer("llama")
        let stats = try Fixtures.statistics(tf, layers: [0])
        let dir = try Fixtures.temporaryDirectory(self)
        let e = try editor(tf, stats)
        XCTAssertTrue(try e.commit(try proposal(tf, subject: 10, target: 50, stats: stats[0]!)).applied)
        let source = try GGUFFile(path: Fixtures.ggufPath("llama"))
        for precision in ModelExport.Precision.allCases {
            let out = dir + "/edited-\(precision.rawValue).gguf"
            try ModelExport.export(gguf: source, base: e.base, edited: e.transformer, ledger: e.ledger, to: out, precision: precision)
            let g = try GGUFFile(path: out)
            let back = try Transformer(gguf: g)
            let edited = e.transformer.weights.blocks[0].wOut.weight
            let expected = precision == .f32 ? edited : edited.map { Float(Float16($0)) }
            XCTAssertTrue(bytesEqual(back.weights.blocks[0].wOut.weight, expected), "\(precision): edited W_out")
            XCTAssertEqual(back.weights.blocks[1], tf.weights.blocks[1])
            XCTAssertEqual(back.weights.blocks[0].wIn, tf.weights.blocks[0].wIn)
            XCTAssertEqual(back.weights.blocks[0].wQ, tf.weights.blocks[0].wQ, "llama Q rows stay as in the file")
            for t in source.tensors where t.name != "blk.0.ffn_down.weight" {
                let a = source.rawBytes(of: t), b = g.rawBytes(of: try XCTUnwrap(g.tensorInfo(t.name)))
                XCTAssertTrue(a.count == b.count && memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0, "\(t.name) copied unchanged")
            }
            XCTAssertEqual(g.tensorInfo("blk.0.ffn_down.weight")?.type, precision == .f32 ? .f32 : .f16)
            for k in source.metadataKeys { XCTAssertEqual(g.metadata[k], source.metadata[k], k) }
            XCTAssertEqual(g.metadata["locus.edit.count"]?.integer, 1)
            XCTAssertEqual(g.metadata["locus.edit.base_sha256"]?.string, "sha-test")
            XCTAssertTrue(g.metadata["locus.edit.record"]?.string?.contains("\"method\":\"rome\"") ?? false)
        }
        XCTAssertThrowsError(try ModelExport.export(gguf: source, base: e.base, edited: e.transformer, ledger: e.ledger, to: Fixtures.ggufPath("llama")))
    }
}
