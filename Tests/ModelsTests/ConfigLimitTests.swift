import Foundation
import ModelFormats
import XCTest

@testable import Models

/// config.json fields that declare absurd sizes are refused by name before anything is computed or
/// allocated from them (each of these trapped or tried to allocate terabytes before the checks).
final class ConfigLimitTests: XCTestCase {
    var qwen2: String { Bundle.module.url(forResource: "Fixtures/golden/qwen2", withExtension: nil)!.path }

    /// The qwen2 fixture's config.json with `change` applied, read back.
    func config(_ change: (inout [String: Any]) -> Void) throws -> ModelConfig {
        let data = try Data(contentsOf: URL(fileURLWithPath: qwen2 + "/config.json"))
        var json = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        change(&json)
        let path = NSTemporaryDirectory() + "limits-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
        return try ModelConfig(huggingFace: try ConfigJSON(file: path))
    }

    func expectRefusal(_ field: String, _ expected: String, file: StaticString = #filePath, line: UInt = #line, _ change: (inout [String: Any]) -> Void) {
        let start = Date()
        XCTAssertThrowsError(try config(change), file: file, line: line) { e in
            guard let e = e as? ModelFormatError else { return XCTFail("untyped \(e)", file: file, line: line) }
            XCTAssertEqual(e.field, field, "\(e)", file: file, line: line)
            XCTAssertTrue(e.expected.contains(expected), "\(e)", file: file, line: line)
            XCTAssertTrue(e.file.hasSuffix(".json"), file: file, line: line)
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 1, file: file, line: line)
    }

    func testFixtureReads() throws {
        XCTAssertEqual(try config { _ in }.dModel, 64)
    }

    func testHugeWidthIsRefusedBeforeArithmetic() {
        // 4 * hidden_size (the default intermediate size) overflowed Int.
        expectRefusal("hidden_size", "a positive size up to 2^24") { j in
            j["hidden_size"] = Int.max / 2
            j["intermediate_size"] = nil
        }
        expectRefusal("head_dim", "a positive size up to 2^24") { j in j["head_dim"] = 1 << 40 }
        expectRefusal("num_attention_heads", "a positive size up to 2^24") { j in j["num_attention_heads"] = 0 }
    }

    func testRotaryDimensionsAreBoundedBeforeTheFactorsAreAllocated() {
        // head_dim 2^24 and rotary_dim 2^40: 2^39 linear factors were allocated before validation.
        expectRefusal("rotary_dim", "up to head_dim") { j in
            j["rotary_dim"] = 1 << 40
            j["rope_parameters"] = ["rope_type": "linear", "factor": 2.0]
        }
        expectRefusal("rotary_dim", "an even number") { j in j["rotary_dim"] = -2 }
        // Int(16 * 1e300) trapped.
        expectRefusal("partial_rotary_factor", "a fraction in (0, 1]") { j in j["partial_rotary_factor"] = 1e300 }
    }

    func testOriginalContextThatIsNoIntegerIsRefused() {
        // Int(1e300) trapped.
        expectRefusal("rope_parameters.original_max_position_embeddings", "a positive context length") { j in
            j["rope_parameters"] = ["rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 1e300]
        }
    }

    func testWindowPatternZeroIsRefused() {
        // Pattern 0 was accepted, and (layer + 1) % 0 in isLocal then trapped on the first forward pass.
        expectRefusal("sliding_window_pattern", "a positive size") { j in
            j["model_type"] = "gemma3_text"
            j["sliding_window"] = 4
            j["sliding_window_pattern"] = 0
            j["layer_types"] = nil
            j["hidden_act"] = nil
            j["rope_parameters"] = nil
        }
    }
}
