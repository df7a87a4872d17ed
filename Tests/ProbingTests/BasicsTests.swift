import CDeflate
import Foundation
import Models
import Tensors
import TestSupport
import XCTest

@testable import Probing

final class BasicsTests: XCTestCase {
    /// Values printed by NumPy 2.4: `RandomState(1).randn(5)` and `RandomState(7).randn(2000)[[1000, 1999]]`.
    func testNumpyRandomStateMatchesNumpy() {
        var r = NumpyRandomState(seed: 1)
        let want = [1.6243453636632417, -0.6117564136500754, -0.5281717522634557, -1.0729686221561705, 0.8654076293246785]
        for w in want { XCTAssertEqual(r.nextGaussian(), w, accuracy: 1e-15) }
        var r7 = NumpyRandomState(seed: 7)
        let xs = r7.gaussians(2000)
        XCTAssertEqual(xs[1000], 0.8848879535077754, accuracy: 1e-15)
        XCTAssertEqual(xs[1999], -0.2104789284916715, accuracy: 1e-15)
    }

    func testSubjectNotFoundShowsTokens() {
        let p = PromptTokens(text: "The Eiffel Tower is", ids: [1, 2, 3, 4], pieces: ["The", " Eiff", "el Tower", " is"])
        XCTAssertEqual(try p.range(of: "Eiffel"), 1..<3)
        XCTAssertEqual(try p.range(of: "Tower"), 2..<3)
        XCTAssertThrowsError(try p.range(of: "Louvre")) { e in
            guard case ProbingError.subjectNotFound(let s, _, let toks) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(s, "Louvre")
            XCTAssertEqual(toks, p.pieces)
            XCTAssertTrue("\(e)".contains("' Eiff'"), "\(e)")
        }
    }

    func testUnknownHookListsCloseNames() throws {
        let m = try TinyModels.load("llama")
        let iv = Intervention(hook: "blocks.1.mlp.hook_psot", .zero)
        XCTAssertThrowsError(try Interventions.hooks([iv], config: m.config)) { e in
            guard case ProbingError.hook(.unknownHook(_, let s)) = e else { return XCTFail("\(e)") }
            XCTAssertTrue(s.contains("blocks.1.mlp.hook_post"), "\(s)")
        }
    }

    /// Numbers that do not fit the hook are refused before the run, not discovered by a crash in it.
    func testInterventionWithWrongWidthIsATypedError() throws {
        let m = try TinyModels.load("gpt2")
        for iv in [
            Intervention(hook: "blocks.0.hook_mlp_out", positions: [1], .replace(values: [1, 2, 3])),
            Intervention(hook: "blocks.0.mlp.hook_post", .add(vector: [Float](repeating: 0, count: 64))),
            Intervention(hook: "blocks.0.attn.hook_pattern", .add(vector: [0])),
        ] {
            XCTAssertThrowsError(try Interventions.hooks([iv], config: m.config), "\(iv)") { e in
                guard case ProbingError.invalidOption = e else { return XCTFail("\(e)") }
            }
        }
    }

    /// An intervention list saved to HDF5 and loaded back is the same list, and replays to the same logits.
    func testInterventionsRoundTripThroughHDF5AndReplay() throws {
        let m = try TinyModels.load("gpt2")
        let list = [
            Intervention(hook: "hook_embed", sequences: [0], positions: [1, 2], .gaussianNoise(std: 0.3, seed: 9)),
            Intervention(hook: "blocks.0.hook_mlp_out", positions: [3], .replace(values: (0..<64).map { Float($0) / 64 })),
            Intervention(hook: "blocks.1.attn.hook_pattern", positions: [4], .scale(factor: 0.5)),
            Intervention(hook: "blocks.1.hook_resid_mid", .add(vector: [Float](repeating: 0.01, count: 64))),
            Intervention(hook: "blocks.1.mlp.hook_post", positions: [0], .zero),
        ]
        let path = NSTemporaryDirectory() + "interventions-\(getpid()).h5"
        defer { unlink(path) }
        try InterventionFile.save(list, to: path, provenance: Provenance(modelFile: "gpt2.gguf", modelSHA256: "x", createdBy: "test"))
        let back = try InterventionFile.load(path)
        XCTAssertEqual(back, list)
        let ids = [3, 1, 4, 1, 5, 9]
        let a = try m.forward([ids], hooks: try Interventions.hooks(list, config: m.config), logits: .all)
        let b = try m.forward([ids], hooks: try Interventions.hooks(back, config: m.config), logits: .all)
        let plain = try m.forward([ids], logits: .all)
        XCTAssertEqual(a.logits, b.logits)
        XCTAssertNotEqual(a.logits, plain.logits)
    }

    func testPNGChecksumsAndLayout() {
        XCTAssertEqual(PNG.crc32(Array("123456789".utf8)), 0xCBF4_3926)
        XCTAssertEqual(PNG.adler32(Array("Wikipedia".utf8)), 0x11E6_0398)
        var rgb = [UInt8](repeating: 0, count: 300 * 250 * 3)
        for i in rgb.indices { rgb[i] = UInt8(i % 251) }
        let png = PNG.encode(width: 300, height: 250, rgb: rgb)
        XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        XCTAssertEqual(Array(png.suffix(12)), [0, 0, 0, 0, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82])
        // Inflate the IDAT with zlib and compare with the filtered rows.
        let idatLength = Int(png[33]) << 24 | Int(png[34]) << 16 | Int(png[35]) << 8 | Int(png[36])
        let z = Array(png[41..<(41 + idatLength)])
        XCTAssertLessThan(z.count, 250 * (300 * 3 + 1) / 2, "the image data is compressed")
        var size = uLong(250 * (300 * 3 + 1))
        var raw = [UInt8](repeating: 0, count: Int(size))
        XCTAssertEqual(uncompress(&raw, &size, z, uLong(z.count)), Z_OK)
        XCTAssertEqual(Int(size), 250 * (300 * 3 + 1))
        XCTAssertEqual(Array(raw[1..<901]), Array(rgb[0..<900]))
        XCTAssertEqual(raw[901], 0, "filter byte of the second row")
        // The fallback stream of stored blocks inflates to the same bytes.
        let stored = PNG.zlibStored(raw)
        var size2 = uLong(raw.count)
        var back = [UInt8](repeating: 0, count: raw.count)
        XCTAssertEqual(uncompress(&back, &size2, stored, uLong(stored.count)), Z_OK)
        XCTAssertEqual(back, raw)
    }

    func testMultiTokenTargetPolicies() throws {
        // A target whose pieces the tiny fixtures cannot produce is built directly.
        let t = Target(ids: [7], pieces: [" Par"], text: " Paris", notes: [.firstTokenOfTarget(target: " Paris", tokens: [" Par", "is"])])
        XCTAssertTrue(t.notes[0].description.contains("first token ' Par'"))
        XCTAssertEqual(
            ProbingError.multiTokenTarget(target: " Paris", tokens: [" Par", "is"]).description,
            "target ' Paris' is 2 tokens (' Par' 'is'); use its first token ' Par' or ask for the sequence probability")
    }
}

final class CanvasTests: XCTestCase {
    /// Drawing partly or wholly outside the canvas is clipped, never a crash.
    func testDrawingOutsideIsClipped() {
        var c = Canvas(width: 10, height: 8)
        c.fill(-5, -5, 8, 8, RGB(1, 2, 3))
        c.fill(20, 20, 5, 5, RGB(1, 2, 3))
        c.fill(0, 12, 5, 5, RGB(1, 2, 3))
        c.text("far away", 50, 50)
        c.text("partly", 5, 6)
        XCTAssertEqual(c.rgb.count, 10 * 8 * 3)
        XCTAssertEqual(Array(c.rgb[0..<3]), [1, 2, 3])
        XCTAssertEqual(Array(c.rgb[(7 * 10 + 0) * 3..<(7 * 10 + 0) * 3 + 3]), [255, 255, 255])
    }
}
