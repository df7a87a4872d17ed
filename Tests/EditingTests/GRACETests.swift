import Foundation
import ModelFormats
import Models
import TestSupport
import XCTest

@testable import Editing

/// GRACE on the tiny Llama fixture: the codebook's insert rules, the trained value taking effect
/// exactly where the key matches, the weights untouched, the ledger replaying the codebook, and
/// export refused by name.
final class GRACETests: XCTestCase {
    func testInsertAddsWidensAndSplitsAsTheReference() {
        var cb = Codebook()
        let z = [Float](repeating: 0, count: 3)
        XCTAssertEqual(cb.insert(query: [0, 0, 0], label: [1], epsilon: 1, initial: z), 0)
        // Far away: a new entry.
        XCTAssertEqual(cb.insert(query: [5, 0, 0], label: [2], epsilon: 1, initial: z), 1)
        // Close (1.5 ≤ 1 + 1) with the same target: entry 0's radius grows to 1.5, no new entry.
        XCTAssertEqual(cb.insert(query: [1.5, 0, 0], label: [1], epsilon: 1, initial: z), 0)
        XCTAssertEqual(cb.entries.count, 2)
        XCTAssertEqual(cb.entries[0].epsilon, 1.5)
        // Close with another target: a new entry and both radii split at half the distance.
        _ = cb.insert(query: [0, 1, 0], label: [3], epsilon: 1, initial: z)
        XCTAssertEqual(cb.entries.count, 3)
        XCTAssertEqual(cb.entries[0].epsilon, 0.5 - 1e-5, accuracy: 1e-7)
        XCTAssertEqual(cb.entries[2].epsilon, 0.5)
    }

    func testValueTakesEffectWhereTheKeyMatchesAndTheLedgerReplaysIt() throws {
        let tf = try Fixtures.transformer("llama")
        let h = GRACEHyperparameters(layer: 0, epsilon: 1, steps: 30, learningRate: 0.1)
        let e = FineTuning.Example(prompt: [3, 4, 5, 6], target: [50, 51])
        let (edit, losses) = try GRACE.compute(tf, example: e, hyperparameters: h)
        XCTAssertEqual(losses.count, 30)
        XCTAssertLessThan(losses.last!.total, losses.first!.total - 1, "the value is trained: \(losses.first!.total) → \(losses.last!.total)")
        var edited = tf
        edit.apply(to: &edited.weights.blocks)
        XCTAssertEqual(edited.weights.blocks[0].wOut, tf.weights.blocks[0].wOut, "the weights are untouched")
        // The edited model gives the trained loss on the request; an unrelated prompt is unchanged.
        let ex = FineTuning.Example(prompt: e.prompt, target: e.target)
        let after = try FineTuning.loss(edited, [ex], objective: .targetNew, maps: [], gradient: false).loss.total
        let unedited = try FineTuning.loss(tf, [ex], objective: .targetNew, maps: [], gradient: false).loss.total
        XCTAssertLessThan(after, unedited - 1, "the codebook acts on the request")
        XCTAssertLessThan(after, losses.last!.total, "the last step's value, applied from the ledger's form")
        let other = [[9, 10, 11, 12, 13]]
        XCTAssertEqual(try edited.forward(other).logits.data, try tf.forward(other).logits.data)

        // Ledger: the codebook replays exactly, a revert removes it, export is refused.
        let dir = try Fixtures.temporaryDirectory(self)
        let editor = try Editor(
            base: tf, modelSHA256: "sha-test", modelFile: Fixtures.ggufPath("llama"), hyperparameters: [:],
            guards: EditGuards(maxRelativeNorm: 100, maxPerplexityRatio: nil), statisticsProvider: { (_: [Int], _: Int) throws(EditError) in [:] })
        editor.ledgerPath = dir + "/model.edits.h5"
        var p = EditProposal(
            method: .grace, requests: [try EditRequest(id: "r1", subject: "s", prompt: "{} is in", targetNew: "t")], hyperparameters: .grace(h),
            contextTemplates: [], deltas: [], denominators: [], losses: [losses], seconds: 0)
        p.codebook = edit
        XCTAssertTrue(try editor.commit(p).applied)
        let loaded = try Ledger.load(dir + "/model.edits.h5", modelSHA256: "sha-test")
        XCTAssertEqual(loaded, editor.ledger)
        XCTAssertEqual(try loaded.apply(to: tf).weights, editor.transformer.weights)
        XCTAssertEqual(editor.transformer.weights.blocks[0].codebook?.entries.count, 1)
        XCTAssertThrowsError(
            try ModelExport.export(gguf: try GGUFFile(path: Fixtures.ggufPath("llama")), base: tf, edited: editor.transformer, ledger: editor.ledger, to: dir + "/x.gguf")
        ) { err in
            XCTAssertTrue("\(err)".contains("GRACE"), "\(err)")
        }
        try editor.revert()
        XCTAssertNil(editor.transformer.weights.blocks[0].codebook)
        XCTAssertEqual(editor.transformer.weights, tf.weights)
    }
}
