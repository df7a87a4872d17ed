import Foundation
import ModelFormats
import TestSupport
import XCTest

@testable import Models

/// Nothing in a model file is silently ignored: an extra tensor, an unknown `<arch>.*` key, an
/// unimplemented rotary scaling or architecture stop the load with a typed error naming it.
final class StrictLoadingTests: XCTestCase {
    var llamaGGUF: String { Bundle.module.url(forResource: "Fixtures/golden/llama/model", withExtension: "gguf")!.path }

    /// A copy of the golden Llama GGUF changed by `change`, loaded; returns the error.
    func loadChanged(_ change: (inout GGUFWriter) -> Void) throws -> ModelFormatError? {
        let source = try GGUFFile(path: llamaGGUF)
        var w = source.writerCopy()
        change(&w)
        let path = NSTemporaryDirectory() + "strict-\(UUID().uuidString).gguf"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try w.write(to: path)
        do {
            _ = try Transformer(gguf: try GGUFFile(path: path))
            return nil
        } catch {
            return error
        }
    }

    func testUnchangedCopyLoads() throws {
        XCTAssertNil(try loadChanged { _ in })
    }

    func testExtraTensorIsNamed() throws {
        let e = try loadChanged { w in
            w.tensors.append(GGUFWriter.Tensor(name: "blk.0.attn_sinks.weight", shape: [4], type: .f32, data: .f32([0, 0, 0, 0])))
        }
        XCTAssertEqual(e?.kind, .unexpectedTensor)
        XCTAssertEqual(e?.field, "tensor.blk.0.attn_sinks.weight")
    }

    func testUnknownArchitectureKeyIsNamed() throws {
        let e = try loadChanged { w in w.set("llama.expert_count", .uint(8, .uint32)) }
        XCTAssertEqual(e?.kind, .unsupportedFeature)
        XCTAssertEqual(e?.field, "metadata.llama.expert_count")
    }

    func testUnimplementedRopeScalingIsNamed() throws {
        let e = try loadChanged { w in
            w.set("llama.rope.scaling.type", .string("dynamic"))
            w.set("llama.rope.scaling.factor", .float(4, .float32))
        }
        XCTAssertEqual(e?.kind, .unsupportedFeature)
        XCTAssertEqual(e?.field, "metadata.llama.rope.scaling.type")
        XCTAssertTrue("\(e!)".contains("dynamic"))
    }

    func testUnknownArchitectureIsNamed() throws {
        let e = try loadChanged { w in w.set("general.architecture", .string("mamba")) }
        XCTAssertEqual(e?.kind, .unsupportedArchitecture)
        XCTAssertTrue("\(e!)".contains("mamba"))
    }

    /// Linear scaling divides every inverse frequency by the factor: position p at factor 4 turns as far as p/4 did.
    func testLinearRopeScalingDividesFrequencies() throws {
        let source = try GGUFFile(path: llamaGGUF)
        var w = source.writerCopy()
        w.set("llama.rope.scaling.type", .string("linear"))
        w.set("llama.rope.scaling.factor", .float(4, .float32))
        let path = NSTemporaryDirectory() + "linear-\(UUID().uuidString).gguf"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try w.write(to: path)
        let scaled = try Transformer(gguf: try GGUFFile(path: path))
        XCTAssertEqual(scaled.config.ropeFrequencyFactors, Array(repeating: 4, count: scaled.config.ropeDimensions / 2))
        let c = scaled.config
        let plain = RotaryTable(base: c.ropeBase, dims: c.ropeDimensions, positions: 9)
        let table = RotaryTable(base: c.ropeBase, dims: c.ropeDimensions, positions: 9, factors: c.ropeFrequencyFactors)
        let half = c.ropeDimensions / 2
        for i in 0..<half {
            XCTAssertEqual(table.cos[8 * half + i], plain.cos[2 * half + i], accuracy: 1e-6)
            XCTAssertEqual(table.sin[8 * half + i], plain.sin[2 * half + i], accuracy: 1e-6)
        }
    }

    /// Llama 3's factors as transformers computes them (`_compute_llama3_parameters`), for Llama 3.1 8B's
    /// settings: short wavelengths untouched, long ones divided by 8, the band between interpolated.
    func testLlama3FrequencyFactors() {
        let f = llama3FrequencyFactors(base: 500_000, dimensions: 128, factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContext: 8192)
        XCTAssertEqual(f.count, 64)
        for i in 0..<64 {
            let wavelength = 2 * Double.pi * pow(500_000, Double(2 * i) / 128)
            if wavelength < 2048 { XCTAssertEqual(f[i], 1, "pair \(i)") }
            else if wavelength > 8192 { XCTAssertEqual(f[i], 8, "pair \(i)") }
            else {
                let smooth = (8192 / wavelength - 1) / 3
                XCTAssertEqual(Double(f[i]), 1 / ((1 - smooth) / 8 + smooth), accuracy: 1e-5, "pair \(i)")
                XCTAssertTrue(f[i] > 1 && f[i] < 8)
            }
        }
        XCTAssertEqual(f.filter { $0 == 1 }.count, 29)  // wavelengths below 2,048 positions
        XCTAssertEqual(f.filter { $0 == 8 }.count, 29)  // above 8,192
    }
}

/// Bad Hugging Face folders: the file, the field and what was expected.
final class HuggingFaceFolderErrorTests: XCTestCase {
    /// A copy of a golden folder, changed by `change`.
    func folder(_ arch: String, _ change: (String) throws -> Void) throws -> String {
        let src = Bundle.module.url(forResource: "Fixtures/golden/\(arch)", withExtension: nil)!.path
        let dir = NSTemporaryDirectory() + "hf-\(UUID().uuidString)"
        try FileManager.default.copyItem(atPath: src, toPath: dir)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        try change(dir)
        return dir
    }

    func error(_ dir: String) -> ModelFormatError? {
        do { _ = try Transformer(huggingFaceDirectory: dir); return nil } catch { return error as? ModelFormatError }
    }

    func testMissingShardIsNamed() throws {
        let dir = try folder("qwen2") { try FileManager.default.removeItem(atPath: $0 + "/model-00002-of-00002.safetensors") }
        let e = error(dir)
        XCTAssertEqual(e?.kind, .fileNotFound)
        XCTAssertTrue(e?.file.hasSuffix("model.safetensors.index.json") ?? false)
        XCTAssertTrue(e?.expected.contains("model-00002-of-00002.safetensors") ?? false, "\(String(describing: e))")
    }

    func testIndexNamingAMissingTensorIsNamed() throws {
        let dir = try folder("qwen2") { d in
            let p = d + "/model.safetensors.index.json"
            var s = try String(contentsOfFile: p, encoding: .utf8)
            s = s.replacingOccurrences(of: "\"weight_map\": {", with: "\"weight_map\": {\n    \"model.layers.9.mlp.up_proj.weight\": \"model-00001-of-00002.safetensors\",")
            try s.write(toFile: p, atomically: true, encoding: .utf8)
        }
        let e = error(dir)
        XCTAssertEqual(e?.kind, .missingField)
        XCTAssertEqual(e?.field, "model.layers.9.mlp.up_proj.weight")
        XCTAssertTrue(e?.file.hasSuffix("model-00001-of-00002.safetensors") ?? false)
    }

    func testWrongTypeInConfigIsNamed() throws {
        let dir = try folder("llama3") { d in
            let p = d + "/config.json"
            let s = try String(contentsOfFile: p, encoding: .utf8).replacingOccurrences(of: "\"hidden_size\": 64", with: "\"hidden_size\": \"64\"")
            try s.write(toFile: p, atomically: true, encoding: .utf8)
        }
        let e = error(dir)
        XCTAssertEqual(e?.kind, .wrongFieldType)
        XCTAssertEqual(e?.field, "hidden_size")
        XCTAssertEqual(e?.expected, "an integer")
    }

    func testUnknownConfigFieldAndRopeTypeAreRefused() throws {
        let extra = try folder("llama3") { d in
            let p = d + "/config.json"
            let s = try String(contentsOfFile: p, encoding: .utf8).replacingOccurrences(of: "\"hidden_size\": 64", with: "\"hidden_size\": 64, \"num_experts\": 8")
            try s.write(toFile: p, atomically: true, encoding: .utf8)
        }
        XCTAssertEqual(error(extra)?.field, "num_experts")
        let dynamic = try folder("llama3") { d in
            let p = d + "/config.json"
            let s = try String(contentsOfFile: p, encoding: .utf8).replacingOccurrences(of: "\"llama3\"", with: "\"dynamic\"")
            try s.write(toFile: p, atomically: true, encoding: .utf8)
        }
        let e = error(dynamic)
        XCTAssertEqual(e?.kind, .unsupportedFeature)
        XCTAssertTrue(e?.field.hasSuffix("rope_type") ?? false, "\(String(describing: e))")
    }

    func testExtraTensorIsRefused() throws {
        let dir = try folder("gptj") { d in
            // Rewrite model.safetensors with one more tensor after the others.
            let p = d + "/model.safetensors"
            let bytes = try Data(contentsOf: URL(fileURLWithPath: p))
            let n = Int(bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
            var header = try XCTUnwrap(try JSONSerialization.jsonObject(with: bytes.subdata(in: 8..<(8 + n))) as? [String: Any])
            let end = bytes.count - 8 - n
            header["transformer.h.0.attn.bias"] = ["dtype": "F32", "shape": [1], "data_offsets": [end, end + 4]]
            let json = try JSONSerialization.data(withJSONObject: header)
            var out = Data()
            withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
            out.append(json)
            out.append(bytes.subdata(in: (8 + n)..<bytes.count))
            out.append(contentsOf: [0, 0, 0, 0])
            try out.write(to: URL(fileURLWithPath: p))
        }
        let e = error(dir)
        XCTAssertEqual(e?.kind, .unexpectedTensor)
        XCTAssertEqual(e?.field, "transformer.h.0.attn.bias")
    }
}
