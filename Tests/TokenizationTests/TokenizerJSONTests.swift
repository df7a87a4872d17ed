import Foundation
import ModelFormats
import Models
import TestSupport
import XCTest

/// A Hugging Face folder's `tokenizer.json` gives the ids HF gives. The file is written here in the
/// layout of SmolLM2's tokenizer.json on the Hub (BPE vocab and merges, the special tokens as added
/// tokens, `Sequence[Digits(individual_digits), ByteLevel]`) from the GGUF's vocabulary, then read back
/// through `makeTokenizer(huggingFaceDirectory:)` and compared with the HF ids of the 335 fixture texts.
final class TokenizerJSONTests: XCTestCase {
    func writeSmolLM2Folder() throws -> String {
        let gguf = try GGUFFile(path: try TestModels.path(.smollm2))
        let tokens = try XCTUnwrap(gguf.metadata["tokenizer.ggml.tokens"]?.stringArray)
        let types = try XCTUnwrap(gguf.metadata["tokenizer.ggml.token_type"]?.integerArray)
        let merges = try XCTUnwrap(gguf.metadata["tokenizer.ggml.merges"]?.stringArray)
        var vocab: [String: Int] = [:]
        var added: [[String: Any]] = []
        for (i, t) in tokens.enumerated() {
            vocab[t] = i
            if types[i] == 3 { added.append(["id": i, "content": t, "special": true, "normalized": false]) }
        }
        let json: [String: Any] = [
            "version": "1.0", "added_tokens": added, "normalizer": NSNull(),
            "pre_tokenizer": [
                "type": "Sequence",
                "pretokenizers": [
                    ["type": "Digits", "individual_digits": true],
                    ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true],
                ],
            ],
            "post_processor": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true],
            "decoder": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true],
            "model": ["type": "BPE", "dropout": NSNull(), "unk_token": NSNull(), "byte_fallback": false, "vocab": vocab,
                      "merges": merges.map { $0.split(separator: " ", maxSplits: 1).map(String.init) }],
        ]
        let dir = NSTemporaryDirectory() + "tokjson-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: dir + "/tokenizer.json"))
        let config = #"{"bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "pad_token": "<|im_end|>", "unk_token": "<|endoftext|>"}"#
        try Data(config.utf8).write(to: URL(fileURLWithPath: dir + "/tokenizer_config.json"))
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    func testSmolLM2TokenizerJSONMatchesHuggingFace() throws {
        let dir = try writeSmolLM2Folder()
        let t = try makeTokenizer(huggingFaceDirectory: dir)
        struct Case: Decodable { let text: String; let ids: [Int] }
        struct Fixture: Decodable { let cases: [Case] }
        let url = try XCTUnwrap(Bundle.module.url(forResource: "smollm2_ids", withExtension: "json", subdirectory: "Fixtures"))
        let cases = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url)).cases
        XCTAssertGreaterThanOrEqual(cases.count, 300)
        let wrong = cases.filter { t.encode($0.text) != $0.ids }
        XCTAssert(wrong.isEmpty, "\(wrong.count)/\(cases.count) differ, first: \(wrong.first.map { "\($0.text.debugDescription) → \(t.encode($0.text)), expected \($0.ids)" } ?? "")")
        XCTAssertEqual(t.bosID, 1)
        XCTAssertEqual(t.eosID, 2)
        XCTAssertEqual(t.vocabularySize, 49152)
    }

    func testNormalizerOnByteLevelIsRefusedByName() throws {
        let dir = NSTemporaryDirectory() + "tokjson-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let json = #"{"pre_tokenizer": {"type": "ByteLevel"}, "normalizer": {"type": "NFKC"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}"#
        try Data(json.utf8).write(to: URL(fileURLWithPath: dir + "/tokenizer.json"))
        XCTAssertThrowsError(try makeTokenizer(huggingFaceDirectory: dir)) { e in
            XCTAssertEqual((e as? ModelFormatError)?.field, "normalizer")
            XCTAssertTrue("\(e)".contains("tokenizer.json"))
        }
    }
}
