import Foundation
import Models
import XCTest

@testable import Editing

/// Scoring continuations over a shared frozen prompt must give what scoring each whole sequence gives.
final class ReadOutTests: XCTestCase {
    func testContinuationsOverAFrozenPromptEqualWholeSequences() throws {
        // llama (RoPE), gpt2 (learned positions: the continuation's position embeddings), gemma3
        // (scaled embeddings, sliding-window layers).
        for arch in ["llama", "gpt2", "gemma3"] {
            let tf = try Fixtures.transformer(arch)
            let V = tf.config.vocabSize
            // Prompts of lengths 1 to 9, each with one to three continuations of one to four tokens.
            var prompts: [[Int]] = []
            var continuations: [[[Int]]] = []
            for (i, length) in [1, 4, 9, 2, 6, 3, 9].enumerated() {
                prompts += Fixtures.sequences(count: 1, length: length, vocabulary: V, seed: UInt64(10 + i))
                continuations.append((0..<(1 + i % 3)).map { c in
                    Fixtures.sequences(count: 1, length: 1 + (i + c) % 4, vocabulary: V, seed: UInt64(100 + 7 * i + c))[0]
                })
            }
            // Prompts without continuations score nothing; sorted by length, these five fill the third
            // batch of 3 partly and the last one wholly.
            prompts += Fixtures.sequences(count: 5, length: 10, vocabulary: V, seed: 99)
            continuations += [[[Int]]](repeating: [], count: 5)
            let shared = try ReadOut.scoreContinuations(tf, prompts: prompts, continuations: continuations, batchSize: 3)
            XCTAssertEqual(shared.suffix(5).map(\.count), [0, 0, 0, 0, 0])
            var whole: [[Int]] = [], starts: [Int] = []
            for (p, cs) in zip(prompts, continuations) {
                for c in cs {
                    whole.append(p + c)
                    starts.append(p.count)
                }
            }
            let reference = try ReadOut.score(tf, sequences: whole, starts: starts)
            let flat = shared.flatMap { $0 }
            XCTAssertEqual(flat.count, reference.count, arch)
            for (k, (a, b)) in zip(flat, reference).enumerated() {
                XCTAssertEqual(a.count, b.count, "\(arch) sequence \(k)")
                for (x, y) in zip(a, b) {
                    XCTAssertEqual(x.logProbability, y.logProbability, accuracy: 1e-4, "\(arch) sequence \(k)")
                    XCTAssertEqual(x.isArgmax, y.isArgmax, "\(arch) sequence \(k)")
                }
            }
        }
    }

    func testEmptyOrTooLongContinuationsAreTypedErrors() throws {
        let tf = try Fixtures.transformer("llama")
        XCTAssertThrowsError(try ReadOut.scoreContinuations(tf, prompts: [[1, 2]], continuations: [[[]]])) { e in
            guard case .forward? = e as? EditError else { return XCTFail("\(e)") }
        }
        let long = [Int](repeating: 3, count: tf.config.contextLength)
        XCTAssertThrowsError(try ReadOut.scoreContinuations(tf, prompts: [long], continuations: [[[4]]])) { e in
            XCTAssertTrue("\(e)".contains("context"), "\(e)")
        }
    }
}
