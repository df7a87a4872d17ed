import Foundation
import ModelFormats
import Models
import XCTest

@testable import Probing

/// SAELens-format SAEs (standard, JumpReLU with constant-norm rescaling, top-k with layer-norm and
/// decoder-norm rescaling) computed as SAELens 6.18 computes them (`Tests/Reference/make_sae_fixtures.py`,
/// a NumPy transcription of its encode/decode), and spliced into a run.
final class SparseAutoencoderTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("ModelsTests/Fixtures/sae").path

    struct Expected: Decodable { let x: [[Float]]; let pre: [[Float]]; let features: [[Float]]; let reconstruction: [[Float]] }

    func testEncodeAndDecodeEqualSAELens() throws {
        for name in ["standard", "jumprelu", "topk"] {
            let sae = try SparseAutoencoder.load(Self.fixtures + "/" + name)
            XCTAssertEqual(sae.architecture.rawValue, name)
            XCTAssertEqual(sae.hook, HookID(.residPost, layer: 1))
            let e = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: URL(fileURLWithPath: Self.fixtures + "/\(name)/expected.json")))
            let n = e.x.count
            let (pre, f, norms) = sae.encode(e.x.flatMap { $0 }, rows: n)
            let recon = sae.decode(f, rows: n, norms: norms)
            for (got, want, what) in [(pre, e.pre.flatMap { $0 }, "pre"), (f, e.features.flatMap { $0 }, "features"), (recon, e.reconstruction.flatMap { $0 }, "reconstruction")] {
                XCTAssertEqual(got.count, want.count)
                for (a, b) in zip(got, want) { XCTAssertEqual(a, b, accuracy: 1e-4 * max(1, abs(b)), "\(name) \(what)") }
            }
            if name == "topk" { for r in 0..<n { XCTAssertLessThanOrEqual(f[(r * 16)..<((r + 1) * 16)].filter { $0 > 0 }.count, 3) } }
        }
    }

    func testFieldsThatChangeTheNumbersAreRefusedByName() throws {
        let dir = NSTemporaryDirectory() + "locus-sae-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.copyItem(atPath: Self.fixtures + "/standard/sae_weights.safetensors", toPath: dir + "/sae_weights.safetensors")
        let base = try String(contentsOfFile: Self.fixtures + "/standard/cfg.json", encoding: .utf8)
        for (field, replacement) in [
            ("normalize_activations", #""normalize_activations": "expected_average_only_in""#), ("reshape_activations", #""reshape_activations": "hook_z""#),
            ("architecture", #""architecture": "gated""#),
        ] {
            let text = base.replacingOccurrences(of: #""\#(field)": "[a-z_]+""#, with: replacement, options: .regularExpression)
            XCTAssertNotEqual(text, base)
            try text.write(toFile: dir + "/cfg.json", atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try SparseAutoencoder.load(dir)) { XCTAssertTrue("\($0)".contains(field), "\($0)") }
        }
    }

    /// With the error term kept and nothing edited, the splice changes nothing; ablating a feature
    /// subtracts exactly its decoder row times its activation from the hook point.
    func testSpliceWithErrorTermIsExactAndAblationRemovesTheFeature() throws {
        let model = try TinyModels.load("llama")
        let d = model.config.dModel
        // An SAE of the tiny model's width, random.
        var rng = SplitMix64(seed: 3)
        let m = 32
        let sae = SparseAutoencoder(
            architecture: .standard, dIn: d, dSAE: m, hook: HookID(.residPost, layer: 0),
            wEnc: (0..<(d * m)).map { _ in rng.nextGaussian() * 0.2 }, wDec: (0..<(m * d)).map { _ in rng.nextGaussian() * 0.2 },
            bEnc: (0..<m).map { _ in 0.1 * rng.nextGaussian() }, bDec: [Float](repeating: 0, count: d))
        let ids = [3, 17, 42, 8]
        let hook = HookID(.residPost, layer: 0)
        let plain = try model.forward([ids], hooks: Hooks(capture: [hook]), logits: .last)
        var kept = sae.splice(at: hook, keepError: true)
        kept.capture(hook)
        let same = try model.forward([ids], hooks: kept, logits: .last)
        for (a, b) in zip(same.logits.data, plain.logits.data) { XCTAssertEqual(a, b, accuracy: 1e-4) }
        let x = plain.cache[hook]!.data
        let (_, f, _) = sae.encode(x, rows: ids.count)
        let feature = (0..<m).first { i in (0..<ids.count).contains { f[$0 * m + i] > 0 } }!
        var ablate = sae.splice(at: hook, keepError: true) { acts, n in for r in 0..<n { acts[r * m + feature] = 0 } }
        ablate.capture(hook)
        let after = try model.forward([ids], hooks: ablate, logits: .last).cache[hook]!.data
        for r in 0..<ids.count { for j in 0..<d {
            XCTAssertEqual(after[r * d + j], x[r * d + j] - f[r * m + feature] * sae.wDec[feature * d + j], accuracy: 1e-4)
        } }
    }
}
