import ArrayStore
import Foundation
import Models
import TestSupport
import XCTest

@testable import Editing

/// Key second moments against a naive sum over captured keys; storage, hash checks and resuming.
final class StatisticsTests: XCTestCase {
    func testAccumulatedMomentMatchesNaiveSum() throws {
        let tf = try Fixtures.transformer("llama")
        let F = tf.config.dMLP
        // Ragged lengths, so padding must be excluded.
        let seqs = (0..<9).map { i in Fixtures.sequences(count: 1, length: 3 + 2 * i, vocabulary: 128, seed: UInt64(i))[0] }
        let corpus = CorpusTokens(name: "t", sha256: "t", sequences: seqs, maxSequenceLength: 64)
        var acc = KeyMomentAccumulator(layers: [0, 1], dimension: F)
        try KeyMomentComputation.run(tf, batches: corpus.batches(batchTokens: 40), accumulator: &acc, totalTokens: corpus.tokenCount)
        let stats = acc.statistics(modelSHA256: "m", corpus: "t", corpusSHA256: "t")
        XCTAssertEqual(acc.tokenCount, seqs.reduce(0) { $0 + $1.count })
        for l in [0, 1] {
            var naive = [Double](repeating: 0, count: F * F)
            for s in seqs {
                let r = try tf.forward([s], hooks: Hooks(capture: [HookID(.mlpPost, layer: l)]), logits: .none)
                let k = r.cache[HookID(.mlpPost, layer: l)]!.data
                for t in 0..<s.count {
                    for i in 0..<F { for j in 0..<F { naive[i * F + j] += Double(k[t * F + i]) * Double(k[t * F + j]) } }
                }
            }
            let n = Double(acc.tokenCount)
            let got = stats[l]!.moment
            // Keys from single-sequence and padded batched forwards differ by Float32 rounding only.
            let scale = naive.map { abs($0 / n) }.max()!
            var worst = 0.0
            for i in 0..<(F * F) { worst = max(worst, abs(got[i] - naive[i] / n) - 1e-4 * abs(naive[i] / n)) }
            XCTAssertLessThan(worst, 1e-5 * scale, "layer \(l): worst difference beyond 1e-4 relative")
            XCTAssertEqual(got[1 * F + 0], got[0 * F + 1], "symmetric")
            XCTAssertTrue(try stats[l]!.conditionNumber() > 1)
        }
    }

    func testResumedComputationEqualsUninterruptedBitwise() throws {
        let tf = try Fixtures.transformer("llama")
        let corpus = CorpusTokens(
            name: "t", sha256: "t", sequences: Fixtures.sequences(count: 12, length: 10, vocabulary: 128, seed: 5), maxSequenceLength: 10)
        let batches = corpus.batches(batchTokens: 20)
        XCTAssertEqual(batches.count, 6)
        var whole = KeyMomentAccumulator(layers: [1], dimension: tf.config.dMLP)
        try KeyMomentComputation.run(tf, batches: batches, accumulator: &whole, totalTokens: 120)
        // Interrupted after two batches, saved, read back, continued.
        let dir = try Fixtures.temporaryDirectory(self)
        var part = KeyMomentAccumulator(layers: [1], dimension: tf.config.dMLP)
        var calls = 0
        try KeyMomentComputation.run(tf, batches: batches, accumulator: &part, totalTokens: 120, shouldStop: { calls += 1; return calls == 2 })
        XCTAssertEqual(part.nextBatch, 2)
        let attrs: [String: AttributeValue] = ["model_sha256": .string("m")]
        try part.save(to: dir + "/ckpt.h5", attributes: attrs)
        XCTAssertNil(KeyMomentAccumulator.resume(from: dir + "/ckpt.h5", layers: [1], dimension: tf.config.dMLP, attributes: ["model_sha256": .string("other")]))
        var resumed = try XCTUnwrap(KeyMomentAccumulator.resume(from: dir + "/ckpt.h5", layers: [1], dimension: tf.config.dMLP, attributes: attrs))
        try KeyMomentComputation.run(tf, batches: batches, accumulator: &resumed, totalTokens: 120)
        XCTAssertEqual(resumed, whole)
    }

    func testStatisticsFromAnotherModelFileAreRejected() throws {
        let tf = try Fixtures.transformer("llama")
        let s = try Fixtures.statistics(tf, layers: [1], tokens: 256)[1]!
        let dir = try Fixtures.temporaryDirectory(self)
        let path = dir + "/s.h5"
        try s.save(to: path, modelFile: "model.gguf", maxSequenceLength: 16)
        let back = try KeyStatistics.load(path, modelSHA256: "test", layer: 1, tokenCount: 256, corpusSHA256: "none")
        XCTAssertEqual(back, s)
        XCTAssertThrowsError(try KeyStatistics.load(path, modelSHA256: "abc123", layer: 1, tokenCount: 256, corpusSHA256: nil)) { e in
            XCTAssertEqual(e as? EditError, .statisticsMismatch(file: path, field: "model_sha256", expected: "abc123", found: "test"))
        }
        XCTAssertThrowsError(try KeyStatistics.load(path, modelSHA256: "test", layer: 0, tokenCount: nil, corpusSHA256: nil)) { e in
            XCTAssertEqual(e as? EditError, .statisticsMismatch(file: path, field: "hook", expected: "blocks.0.mlp.hook_post", found: "blocks.1.mlp.hook_post"))
        }
    }
}
