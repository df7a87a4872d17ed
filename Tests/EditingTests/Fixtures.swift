import Foundation
import ModelFormats
import Models
import XCTest

@testable import Editing

/// Tiny random models from Tests/ModelsTests/Fixtures/golden (made by Tests/Reference/make_golden.py),
/// read in place, and small helpers shared by the editing tests.
enum Fixtures {
    static var goldenDirectory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("ModelsTests/Fixtures/golden")
    }

    static func ggufPath(_ arch: String) -> String { goldenDirectory.appendingPathComponent("\(arch)/model.gguf").path }

    static func transformer(_ arch: String) throws -> Transformer {
        try Transformer(gguf: GGUFFile(path: ggufPath(arch)))
    }

    /// The same fixture from its Hugging Face folder (the only form Mistral's window and GPT-J have),
    /// with weights converted or kept in the file.
    static func transformer(folder arch: String, weights: WeightPolicy = .float32) throws -> Transformer {
        try Transformer(huggingFaceDirectory: goldenDirectory.appendingPathComponent(arch).path, weights: weights)
    }

    /// The same LongRoPE model with its switch to the long factors after `positions` positions.
    static func longFactors(after positions: Int, _ tf: Transformer) -> Transformer {
        var c = tf.config
        precondition(c.ropeLongFrequencyFactors != nil, "longFactors(after:): not a LongRoPE model")
        c.ropeLongAfter = positions
        return Transformer(config: c, weights: tf.weights)
    }

    /// Deterministic pseudo-random token sequences.
    static func sequences(count: Int, length: Int, vocabulary: Int, seed: UInt64) -> [[Int]] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in (0..<length).map { _ in Int(rng.next() % UInt64(vocabulary)) } }
    }

    static func gaussian(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var rng = SplitMix64(seed: seed)
        return (0..<n).map { _ in rng.nextGaussian() * scale }
    }

    /// Key statistics of a tiny model over random text (enough tokens for a full-rank C).
    static func statistics(_ tf: Transformer, layers: [Int], tokens: Int = 1024) throws -> [Int: KeyStatistics] {
        let seqs = sequences(count: tokens / 16, length: 16, vocabulary: tf.config.vocabSize, seed: 99)
        let corpus = CorpusTokens(name: "random", sha256: "none", sequences: seqs, maxSequenceLength: 16)
        var acc = KeyMomentAccumulator(layers: layers, dimension: tf.config.dMLP)
        try KeyMomentComputation.run(tf, batches: corpus.batches(batchTokens: 256), accumulator: &acc, totalTokens: tokens)
        return acc.statistics(modelSHA256: "test", corpus: corpus.name, corpusSHA256: corpus.sha256)
    }

    /// A random symmetric positive-definite matrix (A Aᵀ / n + I/2), Float64.
    static func spd(_ n: Int, seed: UInt64) -> [Double] {
        let a = gaussian(n * n, seed: seed).map(Double.init)
        var c = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { for k in 0..<n { c[i * n + j] += a[i * n + k] * a[j * n + k] / Double(n) } } }
        for i in 0..<n { c[i * n + i] += 0.5 }
        return c
    }

    /// Statistics holding the moment `c` (`n × n`) of layer 0.
    static func statistics(_ c: [Double], _ n: Int) -> KeyStatistics {
        KeyStatistics(layer: 0, dimension: n, tokenCount: n, moment: c, modelSHA256: "t", corpus: "t", corpusSHA256: "t")
    }

    /// A temporary directory removed at the end of the test.
    static func temporaryDirectory(_ test: XCTestCase) throws -> String {
        let dir = NSTemporaryDirectory() + "locus-editing-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }
}
