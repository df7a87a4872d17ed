import Foundation
import ModelFormats
import TestSupport
import XCTest

@testable import Models

/// YaRN read from config.json and from GGUF metadata equals transformers' `_compute_yarn_parameters`
/// (`Fixtures/golden/qwen2/yarn_variants.json`, written by Tests/Reference/make_golden.py); the whole
/// model with YaRN is in GoldenTests (qwen2). Keys YaRN does not implement are refused by name.
final class RotaryScalingTests: XCTestCase {
    var qwen2: String { Bundle.module.url(forResource: "Fixtures/golden/qwen2", withExtension: nil)!.path }

    struct Variant {
        let parameters: [String: JSONValue]
        let invFreq: [Double]
        let attentionFactor: Double
    }

    func variants() throws -> [Variant] {
        let data = try Data(contentsOf: URL(fileURLWithPath: qwen2 + "/yarn_variants.json"))
        return try XCTUnwrap(JSONValue.parse(data)?.array).map { v in
            Variant(
                parameters: v.object!["parameters"]!.object!,
                invFreq: v.object!["inv_freq"]!.array!.map { $0.number! },
                attentionFactor: v.object!["attention_factor"]!.number!)
        }
    }

    /// The qwen2 fixture's config.json with `rope_parameters` replaced.
    func config(ropeParameters: [String: JSONValue]) throws -> ModelConfig {
        let data = try Data(contentsOf: URL(fileURLWithPath: qwen2 + "/config.json"))
        var json = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        var p = ropeParameters.mapValues(foundation)
        p["rope_type"] = "yarn"
        p["rope_theta"] = 10000.0
        json["rope_parameters"] = p
        let path = NSTemporaryDirectory() + "yarn-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
        return try ModelConfig(huggingFace: try ConfigJSON(file: path))
    }

    func foundation(_ v: JSONValue) -> Any {
        switch v {
        case .null: return NSNull()
        case .bool(let b): return b
        case .integer(let i): return i
        case .number(let d): return d
        case .string(let s): return s
        case .array(let a): return a.map(foundation)
        case .object(let o): return o.mapValues(foundation)
        }
    }

    /// The inverse frequencies the engine uses: the default ones divided by the configuration's factors.
    func invFreq(_ c: ModelConfig) -> [Double] {
        (0..<(c.ropeDimensions / 2)).map { i in
            Double(1 / powf(c.ropeBase, Float(2 * i) / Float(c.ropeDimensions)) / (c.ropeFrequencyFactors?[i] ?? 1))
        }
    }

    func testConfigJSONYaRNEqualsTransformers() throws {
        let all = try variants()
        XCTAssertEqual(all.count, 3)
        for v in all {
            let c = try config(ropeParameters: v.parameters)
            for (i, (ours, hf)) in zip(invFreq(c), v.invFreq).enumerated() {
                XCTAssertEqual(ours, hf, accuracy: 2e-6 * hf, "\(v.parameters) pair \(i)")
            }
            XCTAssertEqual(Double(c.ropeAttentionFactor ?? 1), v.attentionFactor, accuracy: 1e-6, "\(v.parameters)")
        }
    }

    /// The first variant's beta_fast, beta_slow and truncate through GGUF keys (llama.cpp's own reader
    /// ignores the betas for qwen2; Locus reads them as transformers does).
    func testGGUFYaRNKeysEqualTransformers() throws {
        let v = try variants()[0]
        let c = try ggufConfig { w in
            w.set("qwen2.rope.scaling.original_context_length", .uint(64, .uint32))
            w.set("qwen2.rope.scaling.yarn_beta_fast", .float(8, .float32))
            w.set("qwen2.rope.scaling.yarn_beta_slow", .float(2, .float32))
        }
        // GGUF has no `truncate` key (llama.cpp always truncates): compare with truncate on.
        var y = YaRN(factor: 4, originalContext: 64)
        y.betaFast = 8
        y.betaSlow = 2
        XCTAssertEqual(c.ropeFrequencyFactors, y.frequencyFactors(base: 10000, dimensions: 16))
        XCTAssertNotEqual(y.frequencyFactors(base: 10000, dimensions: 16), YaRN(factor: 4, originalContext: 64).frequencyFactors(base: 10000, dimensions: 16))
        // truncate off (the variant's setting) is read from config.json only:
        for (i, (ours, hf)) in zip(invFreq(try config(ropeParameters: v.parameters)), v.invFreq).enumerated() {
            XCTAssertEqual(ours, hf, accuracy: 2e-6 * hf, "pair \(i)")
        }
        XCTAssertEqual(Double(c.ropeAttentionFactor!), 0.1 * log(4) + 1, accuracy: 1e-6)
    }

    func testGGUFAttentionFactors() throws {
        // transformers' attention_factor (written as yarn_attn_factor) replaces 0.1·ln(factor) + 1;
        // rope.scaling.attn_factor multiplies whatever the scaling gives, as in llama.cpp.
        let given = try ggufConfig { w in w.set("qwen2.rope.scaling.yarn_attn_factor", .float(1.25, .float32)) }
        XCTAssertEqual(given.ropeAttentionFactor!, 1.25, accuracy: 1e-6)
        let times = try ggufConfig { w in w.set("qwen2.rope.scaling.attn_factor", .float(2, .float32)) }
        XCTAssertEqual(Double(times.ropeAttentionFactor!), 2 * (0.1 * log(4) + 1), accuracy: 1e-5)
    }

    func testUnimplementedYaRNKeysAreRefusedByName() throws {
        for (key, value) in [("yarn_ext_factor", 0.5), ("yarn_log_multiplier", 0.1)] {
            XCTAssertThrowsError(try ggufConfig { w in w.set("qwen2.rope.scaling.\(key)", .float(value, .float32)) }) { e in
                XCTAssertEqual((e as? ModelFormatError)?.kind, .unsupportedFeature)
                XCTAssertEqual((e as? ModelFormatError)?.field, "metadata.qwen2.rope.scaling.\(key)")
            }
        }
        // A YaRN key on a model without YaRN is a contradiction, not something to ignore.
        XCTAssertThrowsError(try ggufConfig { w in
            w.set("qwen2.rope.scaling.type", .string("linear"))
            w.set("qwen2.rope.scaling.yarn_beta_fast", .float(8, .float32))
        }) { e in XCTAssertEqual((e as? ModelFormatError)?.field, "metadata.qwen2.rope.scaling.yarn_beta_fast") }
        // In config.json, a llama3 key under rope_type yarn.
        XCTAssertThrowsError(try config(ropeParameters: ["factor": .number(4), "low_freq_factor": .number(1)])) { e in
            XCTAssertEqual((e as? ModelFormatError)?.field, "rope_parameters.low_freq_factor")
        }
    }

    /// The qwen2 fixture's GGUF (YaRN, factor 4, original context 64) changed by `change`, read as a configuration.
    func ggufConfig(_ change: (inout GGUFWriter) -> Void) throws -> ModelConfig {
        let source = try GGUFFile(path: qwen2 + "/model.gguf")
        var w = source.writerCopy()  // reads from source's map until written
        change(&w)
        let path = NSTemporaryDirectory() + "yarn-\(UUID().uuidString).gguf"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try withExtendedLifetime(source) { try w.write(to: path) }
        return try ModelConfig(gguf: try GGUFFile(path: path))
    }
}

/// LongRoPE on the phi3 fixture (GoldenTests run its 8-token input, past the original context of 4:
/// long factors): a pass that stays within 4 positions takes the short factors, as transformers does.
final class LongRoPETests: XCTestCase {
    var phi3: String { Bundle.module.url(forResource: "Fixtures/golden/phi3", withExtension: nil)!.path }

    func testShortPassTakesShortFactorsOnBothPaths() throws {
        let expected = try SafetensorsFile(path: phi3 + "/expected.safetensors")
        let ids = try expected.tensor("input_ids").data.map { Int($0) }
        let want = try expected.tensor("logits_prefix4")
        let long = try expected.tensor("logits").data
        for model in [try Transformer(gguf: try GGUFFile(path: phi3 + "/model.gguf")), try Transformer(huggingFaceDirectory: phi3)] {
            XCTAssertEqual(model.config.ropeLongAfter, 4)
            XCTAssertEqual(model.config.ropeFrequencyFactors?.first, 1)
            XCTAssertEqual(model.config.ropeLongFrequencyFactors?.last, 16)
            XCTAssertEqual(Double(model.config.ropeAttentionFactor!), (1 + log(8.0) / log(4.0)).squareRoot(), accuracy: 1e-6)
            let r = try model.forward([Array(ids.prefix(4))], logits: .all)
            assertClose(r.logits.data, want.data, "phi3 first 4 tokens (short factors)")
            // The same positions inside the 8-token pass took the long factors and differ.
            let V = model.config.vocabSize
            let gap = zip(r.logits.data, long.prefix(4 * V)).map { abs($0 - $1) }.max()!
            XCTAssertGreaterThan(gap, 1e-2, "short and long factors give different logits")
        }
    }

    func testOneFactorTensorAloneIsRefused() throws {
        let source = try GGUFFile(path: phi3 + "/model.gguf")
        var w = source.writerCopy()  // reads from source's map until written
        w.tensors.removeAll { $0.name == "rope_factors_short.weight" }
        let path = NSTemporaryDirectory() + "longrope-\(UUID().uuidString).gguf"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try withExtendedLifetime(source) { try w.write(to: path) }
        XCTAssertThrowsError(try ModelConfig(gguf: try GGUFFile(path: path))) { e in
            XCTAssertEqual((e as? ModelFormatError)?.field, "tensor.rope_factors_short.weight")
        }
    }
}
