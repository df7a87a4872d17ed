import Foundation
import XCTest

@testable import Editing

/// The evaluation checkpoint at the size of a real run: 1,000 CounterFact records' scores (about
/// 1 MB of JSON) save and load, and a checkpoint of other records is refused by name.
final class CheckpointTests: XCTestCase {
    func testThousandRecordProgressRoundTripsAndOtherRecordsAreRefused() throws {
        let dir = NSTemporaryDirectory() + "locus-checkpoint-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let h = EditHyperparameters(
            layers: [5], steps: 25, learningRate: 0.5, weightDecay: 1e-3, clampNormFactor: 4, klFactor: 0.0625,
            contextTemplateLengthParams: [[5, 10], [10, 10]])
        let ids = (0..<1000).map { "case \($0)" }
        let settings = EvaluationSettings(
            dataset: "counterfact", method: .rome, batch: 1, sequential: true, perplexity: true, checkpointEvery: 100,
            generationPrompts: 0, canary: "2048 tokens, 0123", modelSHA256: "sha-test", hyperparameters: h, requests: ids)
        var p = EvaluationProgress(settings: settings)
        let pair = TargetPair(newNLL: 3.0123456789, trueNLL: 0.123456789)
        p.cfBefore = (0..<1000).map { _ in
            CounterFactScores(rewrite: [pair], paraphrase: [pair, pair], neighbourhood: Array(repeating: pair, count: 10), ngramEntropy: nil)
        }
        p.done = 250
        p.trajectory = [PerplexityPoint(edits: 0, perplexity: 49.94), PerplexityPoint(edits: 100, perplexity: 55.5)]
        let checkpoint = EvaluationCheckpoint(directory: dir)
        try checkpoint.save(p, ledger: Ledger(modelSHA256: "sha-test", modelFile: "model.gguf"))
        let back = try XCTUnwrap(try checkpoint.load(expecting: settings))
        XCTAssertEqual(back.done, 250)
        XCTAssertEqual(back.cfBefore, p.cfBefore)
        XCTAssertEqual(back.trajectory.map(\.perplexity), [49.94, 55.5])

        var other = settings
        other.requests[417] = "case 9999"
        XCTAssertThrowsError(try checkpoint.load(expecting: other)) { error in
            XCTAssertEqual(
                error as? EditError,
                .checkpointMismatch(file: dir + "/progress.h5", field: "settings.requests[417]", expected: "case 9999 (this run)", found: "case 417"))
        }
    }
}
