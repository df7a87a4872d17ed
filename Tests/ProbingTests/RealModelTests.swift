import Datasets
import Foundation
import Models
import TestSupport
import XCTest

@testable import Probing

/// SmolLM2 against the ROME reference code's figures (issue 4): "The Eiffel Tower is located in the city of" → " Paris",
/// clean p = 0.7015, corrupted p ≈ 0.016 with noise 0.35 and 10 samples; "The mother tongue of Danielle Darrieux is"
/// → " French", 0.1896 / ≈ 0.004. The noise here is drawn exactly as the reference draws it (NumPy RandomState(1)),
/// so the corrupted probabilities agree to float precision, not only within sampling noise.
final class RealModelTests: XCTestCase {
    static let lock = NSLock()
    nonisolated(unsafe) static var cached: LanguageModel?

    func smollm2() throws -> LanguageModel {
        let path = try TestModels.path(.smollm2)
        Self.lock.lock()
        defer { Self.lock.unlock() }
        if let m = Self.cached { return m }
        let m = try LanguageModel(path: path)
        Self.cached = m
        return m
    }

    func testEmbeddingSigmaIsAThirdOfTheReferenceNoise() throws {
        let m = try smollm2()
        let facts = try Datasets.knownFacts()
        let e = EmbeddingNoise.compute(m.transformer, tokenizer: m.tokenizer, texts: facts.map(\.subject), reference: "known_1000 subjects")
        // The reference's noise 0.35 is 3σ (σ over the subjects' embeddings, as collect_embedding_std computes it).
        XCTAssertEqual(3 * e.sigma, 0.35, accuracy: 0.001, "3σ = \(3 * e.sigma)")
    }

    /// On the real model (weights in the file's Q4_1, 30 blocks × 9 heads) the 301 parts of the Eiffel
    /// prompt's logit(' Paris') − logit(' Rome') add up to the model's own difference.
    func testDirectLogitAttributionAddsUpOnSmolLM2() throws {
        let m = try smollm2()
        let p = PromptTokens("The Eiffel Tower is located in the city of", tokenizer: m.tokenizer)
        let r = try DirectLogitAttribution.compute(
            m.transformer, prompt: p, answer: try Target(" Paris", tokenizer: m.tokenizer), versus: try Target(" Rome", tokenizer: m.tokenizer))
        XCTAssertEqual(r.parts.count, 1 + 30 * 9 + 30)
        XCTAssertGreaterThan(r.difference, 1, "Paris over Rome")
        XCTAssertEqual(r.total, r.difference, accuracy: 1e-4 * abs(r.difference))
    }

    func testCleanAndCorruptedProbabilitiesMatchTheReference() throws {
        let m = try smollm2()
        var o = TraceOptions()
        o.noise = .absolute(0.35)
        for (prompt, subject, target, clean, corrupted) in [
            ("The Eiffel Tower is located in the city of", "Eiffel Tower", " Paris", 0.7015, 0.016),
            ("The mother tongue of Danielle Darrieux is", "Danielle Darrieux", " French", 0.1896, 0.004),
        ] {
            let input = try TraceInput(prompt: PromptTokens(prompt, tokenizer: m.tokenizer), subject: subject, target: try Target(target, tokenizer: m.tokenizer))
            let b = try CausalTrace.baseline(m.transformer, input, options: o)
            XCTAssertEqual(b.clean, clean, accuracy: 1e-3, prompt)
            // The reference quotes one significant figure ("≈"); same noise, so the match is to that figure.
            XCTAssertEqual(b.corrupted, corrupted, accuracy: corrupted * 0.1, "\(prompt): corrupted \(b.corrupted)")
        }
    }

    func testMultiTokenTargetIsScoredByItsFirstTokenWithANote() throws {
        let m = try smollm2()
        let t = try Target(" Notre-Dame de Paris", tokenizer: m.tokenizer)
        XCTAssertEqual(t.ids.count, 1)
        XCTAssertEqual(t.notes.count, 1)
        XCTAssertTrue(t.notes[0].description.contains("scoring its first token"), t.notes[0].description)
        XCTAssertThrowsError(try Target(" Notre-Dame de Paris", tokenizer: m.tokenizer, policy: .single)) { e in
            guard case ProbingError.multiTokenTarget(_, let toks) = e else { return XCTFail("\(e)") }
            XCTAssertGreaterThan(toks.count, 1)
        }
        let seq = try Target(" Notre-Dame de Paris", tokenizer: m.tokenizer, policy: .sequence)
        XCTAssertGreaterThan(seq.ids.count, 1)
    }

    func testSubjectNotInPromptShowsTheTokens() throws {
        let m = try smollm2()
        let p = PromptTokens("The Eiffel Tower is located in the city of", tokenizer: m.tokenizer)
        XCTAssertThrowsError(try p.range(of: "Louvre")) { e in
            XCTAssertTrue("\(e)".contains("'iffel'"), "\(e)")
        }
        XCTAssertEqual(try p.range(of: "Eiffel Tower"), 1..<4)
    }
}
