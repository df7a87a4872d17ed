import Foundation
import Linalg
import ModelStore
import Models
import TestSupport
import XCTest

@testable import Editing

/// UltraEdit: the running moments against a direct computation, the update against the
/// least-squares normal equations, and, on the real SmolLM2, the lifelong normalisers kept in the
/// ledger and rebuilt exactly by replay when an edit is reverted.
final class UltraEditTests: XCTestCase {
    func testRunningMomentsEqualTheMomentsOfAllRowsAtOnce() {
        let rows = (0..<7).map { Fixtures.gaussian(5, seed: UInt64(40 + $0), scale: 3) }
        var m = RunningMoments(width: 5)
        m.update(Array(rows[0..<1]))
        m.update(Array(rows[1..<4]))
        m.update(Array(rows[4...]))
        for j in 0..<5 {
            let xs = rows.map { Double($0[j]) }
            let mean = xs.reduce(0, +) / 7
            let m2 = xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
            XCTAssertEqual(m.mean[j], mean, accuracy: 1e-12)
            XCTAssertEqual(m.m2[j], m2, accuracy: 1e-10)
        }
        XCTAssertEqual(m.count, 7)
        let z = m.normalize(rows[2])
        let std = (m.m2[0] / (6 + Double(Float.ulpOfOne))).squareRoot()
        XCTAssertEqual(Double(z[0]), (Double(rows[2][0]) - m.mean[0]) / std, accuracy: 1e-5)
        var one = RunningMoments(width: 5)
        one.update([rows[0]])
        XCTAssertEqual(one.normalize(rows[0]), [0, 0, 0, 0, 0], "one row: defined (zero), where the reference's unbiased variance is NaN")
    }

    func testUpdateSolvesTheRidgeLeastSquares() throws {
        let tf = try Fixtures.transformer("llama")
        let h = UltraEditHyperparameters(modules: ["0.W_gate", "1.W_in"], learningRate: 1e-3, ridge: 1)
        let examples = [FineTuning.Example(prompt: [3, 4, 5, 6], target: [50, 51]), FineTuning.Example(prompt: [7, 8], target: [60])]
        let (deltas, moments) = try UltraEdit.compute(tf, examples: examples, hyperparameters: h, moments: [:])
        XCTAssertEqual(deltas.map(\.target), ["0.W_gate", "1.W_in"])
        XCTAssertEqual(moments.count, 1, "gate and up maps share one shape, so one normaliser")
        XCTAssertEqual(moments.values.first?.count, 6, "3 target tokens × 2 maps")
        let f = try UltraEdit.features(tf, examples, targets: try h.targets(blocks: tf.weights.blocks))
        for (d, x) in zip(deltas, f) {
            // (KᵀK + I) ΔW = Kᵀ V, with V read back from the factors: ΔW = left · rightᵀ and right = Vᵀ.
            let n = d.inputs, o = d.outputs, N = x.keys.count
            XCTAssertEqual(d.rank, N)
            let dense = d.dense()
            for (p, j) in [(0, 0), (3, 7), (n - 1, o - 1)] {
                var lhs = Double(dense[p * o + j])
                for q in 0..<n {
                    var kk = 0.0
                    for i in 0..<N { kk += Double(x.keys[i][p]) * Double(x.keys[i][q]) }
                    lhs += kk * Double(dense[q * o + j])
                }
                var rhs = 0.0
                for i in 0..<N { rhs += Double(x.keys[i][p]) * Double(d.right[j * N + i]) }
                XCTAssertEqual(lhs, rhs, accuracy: 1e-5 * max(1, abs(rhs)), "\(d.target) [\(p), \(j)]")
            }
        }
        XCTAssertThrowsError(try UltraEditHyperparameters(modules: ["0.W_out"], learningRate: 1e-3).targets(blocks: tf.weights.blocks)) { err in
            guard case .malformedHyperparameters(_, let field, _, let found)? = err as? EditError else { return XCTFail("\(err)") }
            XCTAssertEqual(field, "ultraedit.edit_modules")
            XCTAssertEqual(found, "0.W_out")
        }
    }

    func testNormalisersPersistAndAreRebuiltByReplayOnRevert() throws {
        let path = try TestModels.path(.smollm2)
        let model = try LanguageModel(path: path)
        let dir = try Fixtures.temporaryDirectory(self)
        let ledger = dir + "/smollm2.edits.h5"
        let e = try Editor(model: model, ledgerPath: ledger, guards: EditGuards(maxRelativeNorm: 10, maxPerplexityRatio: nil, requireEfficacy: false))
        let requests = try RequestFile.parse(
            """
            - {subject: Eiffel Tower, prompt: "The Eiffel Tower is located in the city of", target_new: Rome}
            - {subject: Danielle Darrieux, prompt: "The mother tongue of Danielle Darrieux is", target_new: English}
            """, file: "two.yaml")
        XCTAssertTrue(try e.commit(try e.propose([requests[0]], method: .ultraedit)).applied)
        let afterFirst = (weights: e.transformer.weights, moments: e.ledger.ultraEditMoments)
        XCTAssertFalse(afterFirst.moments.isEmpty)
        XCTAssertTrue(try e.commit(try e.propose([requests[1]], method: .ultraedit)).applied)
        XCTAssertNotEqual(e.ledger.ultraEditMoments, afterFirst.moments)
        XCTAssertEqual(try Ledger.load(ledger, modelSHA256: e.modelSHA256).ultraEditMoments, e.ledger.ultraEditMoments)

        try e.revert()
        XCTAssertEqual(e.transformer.weights, afterFirst.weights)
        XCTAssertEqual(e.ledger.ultraEditMoments, afterFirst.moments, "rebuilt by replaying the first edit")
        // A new session on the ledger continues from the stored normalisers.
        let again = try Editor(model: model, ledgerPath: ledger)
        XCTAssertEqual(try again.currentUltraEditMoments(), afterFirst.moments)
    }
}
