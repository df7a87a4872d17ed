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
        // The first position is left as it is (BOS or the attention sink); the others lose the feature.
        for r in 0..<ids.count { for j in 0..<d {
            let removed = r == 0 ? 0 : f[r * m + feature] * sae.wDec[feature * d + j]
            XCTAssertEqual(after[r * d + j], x[r * d + j] - removed, accuracy: 1e-4)
        } }
    }
}

/// Training: the hand-written gradient of the loss equals finite differences (standard with L1, top-k),
/// training lowers the loss on data made of a few sparse directions, and the result saved in SAELens's
/// format loads back equal.
final class SparseAutoencoderTrainingTests: XCTestCase {
    func data(_ n: Int, d: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed)
        let atoms = (0..<6).map { _ in (0..<d).map { _ in rng.nextGaussian() } }
        var x = [Float](repeating: 0, count: n * d)
        for r in 0..<n {
            for a in atoms where rng.next() % 3 == 0 {
                let c = abs(rng.nextGaussian()) * 2
                for j in 0..<d { x[r * d + j] += c * a[j] }
            }
        }
        return x
    }

    func loss(_ sae: SparseAutoencoder, _ x: [Float], _ n: Int, _ l1: Double) -> Double {
        let s = SAETraining.step(sae, x, rows: n, l1: l1)
        return s.mse + s.sparsity
    }

    func testGradientEqualsFiniteDifferences() {
        let d = 5, n = 7
        let x = data(n, d: d, seed: 1)
        for arch in [SparseAutoencoder.Architecture.standard, .topk] {
            var settings = SAETraining.Settings(dSAE: 9)
            settings.architecture = arch
            settings.k = 3
            var sae = SAETraining.initial(settings, x, rows: n, d: d, hook: nil)
            // Move off the symmetric start so every term is exercised.
            var rng = SplitMix64(seed: 5)
            sae = SparseAutoencoder(
                architecture: arch, dIn: d, dSAE: 9, hook: nil, k: sae.k, wEnc: sae.wEnc.map { $0 + 0.3 * rng.nextGaussian() },
                wDec: sae.wDec.map { $0 + 0.3 * rng.nextGaussian() }, bEnc: (0..<9).map { _ in 0.2 * rng.nextGaussian() }, bDec: sae.bDec)
            let l1 = arch == .standard ? 0.7 : 0
            let g = SAETraining.step(sae, x, rows: n, l1: l1)
            func perturbed(_ which: Int, _ i: Int, _ h: Float) -> SparseAutoencoder {
                var p = [sae.wEnc, sae.bEnc, sae.wDec, sae.bDec]
                p[which][i] += h
                return SparseAutoencoder(architecture: arch, dIn: d, dSAE: 9, hook: nil, k: sae.k, wEnc: p[0], wDec: p[2], bEnc: p[1], bDec: p[3])
            }
            let grads = [g.gWEnc, g.gBEnc, g.gWDec, g.gBDec]
            for which in 0..<4 {
                for i in stride(from: 0, to: grads[which].count, by: 4) {
                    let h: Float = 1e-3
                    let fd = (loss(perturbed(which, i, h), x, n, l1) - loss(perturbed(which, i, -h), x, n, l1)) / (2 * Double(h))
                    XCTAssertEqual(Double(grads[which][i]), fd, accuracy: 2e-2 * max(1, abs(fd)), "\(arch) parameter \(which) index \(i)")
                }
            }
        }
    }

    func testTrainingLowersTheLossAndSavesInSAELensFormat() throws {
        let d = 16, n = 512
        let x = data(n, d: d, seed: 2)
        var settings = SAETraining.Settings(dSAE: 24)
        settings.steps = 300
        settings.batch = 128
        settings.l1 = 0.05
        settings.learningRate = 3e-3
        let start = SAETraining.initial(settings, x, rows: n, d: d, hook: HookID(.residPost, layer: 1))
        let trained = SAETraining.train(x, rows: n, d: d, hook: HookID(.residPost, layer: 1), settings: settings)
        let before = SAETraining.step(start, x, rows: n, l1: 0.05), after = SAETraining.step(trained, x, rows: n, l1: 0.05)
        XCTAssertLessThan(after.mse + after.sparsity, 0.5 * (before.mse + before.sparsity), "before \(before.mse), after \(after.mse)")
        let dir = NSTemporaryDirectory() + "locus-sae-train-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try trained.save(to: dir, modelName: "tiny")
        let back = try SparseAutoencoder.load(dir)
        XCTAssertEqual(back.wEnc, trained.wEnc)
        XCTAssertEqual(back.wDec, trained.wDec)
        XCTAssertEqual(back.bDec, trained.bDec)
        XCTAssertEqual(back.hook, trained.hook)
    }
}
