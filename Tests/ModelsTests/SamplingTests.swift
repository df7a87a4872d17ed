import Foundation
import ModelFormats
import XCTest

@testable import Models

final class SamplingTests: XCTestCase {
    func tinyModel() throws -> Transformer {
        let url = Bundle.module.url(forResource: "Fixtures/golden/llama/model", withExtension: "gguf")!
        return try Transformer(gguf: try GGUFFile(path: url.path))
    }

    func testSeededSamplingIsReproducibleAndTopKOneIsGreedy() throws {
        let m = try tinyModel()
        let prompt = [5, 17, 42]
        let greedy = try m.generate(prompt, maxNewTokens: 12)
        XCTAssertEqual(try m.generate(prompt, maxNewTokens: 12, sampling: Sampling(temperature: 1, topK: 1, seed: 9)), greedy)
        let a = try m.generate(prompt, maxNewTokens: 12, sampling: Sampling(temperature: 1.5, seed: 1))
        let b = try m.generate(prompt, maxNewTokens: 12, sampling: Sampling(temperature: 1.5, seed: 1))
        let c = try m.generate(prompt, maxNewTokens: 12, sampling: Sampling(temperature: 1.5, seed: 2))
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, c, "a random model at temperature 1.5 should not repeat itself across seeds")
        XCTAssertEqual(a.count, 12)
    }

    func testGenerationStopsAtStopToken() throws {
        let m = try tinyModel()
        let greedy = try m.generate([5, 17, 42], maxNewTokens: 12)
        let stopped = try m.generate([5, 17, 42], maxNewTokens: 12, stop: [greedy[2]])
        XCTAssertEqual(stopped, Array(greedy.prefix(3)))
    }

    func testTopPKeepsTheNucleusOnly() {
        // Probabilities 0.6, 0.3, 0.1: top-p 0.5 must always pick token 0.
        let logits: [Float] = [log(0.6), log(0.3), log(0.1)]
        var rng = SplitMix64(seed: 4)
        let s = Sampling(temperature: 1, topP: 0.5, seed: 0)
        for _ in 0..<200 { XCTAssertEqual(s.choose(logits[...], rng: &rng), 0) }
        var counts = [0, 0, 0]
        let full = Sampling(temperature: 1)
        for _ in 0..<3000 { counts[full.choose(logits[...], rng: &rng)] += 1 }
        XCTAssertEqual(Double(counts[0]) / 3000, 0.6, accuracy: 0.04)
        XCTAssertEqual(Double(counts[2]) / 3000, 0.1, accuracy: 0.03)
    }
}
