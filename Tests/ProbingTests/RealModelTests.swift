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

    /// A steering vector is the difference of the two sets' mean last-token activations; its hooks add
    /// α·v at every position (what the hook point then shows); it round-trips through HDF5 and is refused
    /// for another model.
    func testSteeringVectorIsTheMeanDifferenceAndIsAddedEverywhere() throws {
        let m = try smollm2()
        let hook = HookID(.residPost, layer: 6), d = m.transformer.config.dModel
        let pos = ["I love this. It is wonderful", "What a great day"], neg = ["I hate this. It is terrible", "What an awful day", "So sad"]
        let v = try SteeringVector.compute(m.transformer, tokenizer: m.tokenizer, hook: hook, positive: pos, negative: neg)
        func last(_ text: String) throws -> [Float] {
            let ids = m.tokenizer.encode(text)
            let a = try m.transformer.forward([ids], hooks: Hooks(capture: [hook]), logits: .last).cache[hook]!.data
            return Array(a[((ids.count - 1) * d)..<(ids.count * d)])
        }
        let mp = try pos.map(last), mn = try neg.map(last)
        for j in stride(from: 0, to: d, by: 37) {
            let expected = mp.map { Double($0[j]) }.reduce(0, +) / 2 - mn.map { Double($0[j]) }.reduce(0, +) / 3
            XCTAssertEqual(Double(v.vector[j]), expected, accuracy: 1e-4 * max(1, abs(expected)))
        }
        let ids = m.tokenizer.encode("The weather today is")
        var hooks = v.hooks(alpha: 0.5)
        hooks.capture(HookID(.residPre, layer: 6), hook)
        let steered = try m.transformer.forward([ids], hooks: hooks, logits: .last)
        let plain = try m.transformer.forward([ids], hooks: Hooks(capture: [hook]), logits: .last).cache[hook]!.data
        let got = steered.cache[hook]!.data
        for t in 0..<ids.count { for j in [0, 100, 575] { XCTAssertEqual(got[t * d + j], plain[t * d + j] + 0.5 * v.vector[j], accuracy: 1e-4) } }

        let file = NSTemporaryDirectory() + "locus-steer-\(UUID().uuidString).h5"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try v.write(to: file, provenance: Provenance(modelFile: "m.gguf", modelSHA256: "abc", createdBy: "test"))
        XCTAssertEqual(try SteeringVector.read(file, modelSHA256: "abc", dModel: d), v)
        XCTAssertThrowsError(try SteeringVector.read(file, modelSHA256: "other", dModel: d)) { XCTAssertTrue("\($0)".contains("model_sha256"), "\($0)") }
        XCTAssertThrowsError(try SteeringVector.compute(m.transformer, tokenizer: m.tokenizer, hook: HookID(.mlpPost, layer: 3), positive: pos, negative: neg))
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
