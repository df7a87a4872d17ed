import Foundation
import ModelFormats
import Models
import XCTest

/// tokenizer.json files built to loop or to index out of range: merge lists that are cyclic or merge
/// a token with itself finish at once, and an added token's negative id is refused by name.
final class TokenizerJSONLimitTests: XCTestCase {
    func folder(_ json: String) throws -> String {
        let dir = NSTemporaryDirectory() + "tokjson-limits-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        try Data(json.utf8).write(to: URL(fileURLWithPath: dir + "/tokenizer.json"))
        return dir
    }

    /// Byte-level BPE over "a", "b" whose merges run in a cycle (a b → ab, ab a → aba, a ba → aba,
    /// b a → ba, ba b → bab, ...), merge tokens with themselves, repeat a pair, and merge "a" with the
    /// empty token into "a" again (a merge whose result is its own input).
    let cyclic = #"""
        {"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false}, "normalizer": null,
         "model": {"type": "BPE", "byte_fallback": false,
           "vocab": {"a": 0, "b": 1, "ab": 2, "ba": 3, "aa": 4, "bb": 5, "aba": 6, "bab": 7, "abab": 8, "aaaa": 9, "": 10},
           "merges": ["a b", "b a", "ab a", "a ba", "ba b", "b ab", "a a", "b b", "ab ab", "aa aa", "ab ab", "a ", " a", " "]}}
        """#

    func testCyclicAndSelfMergesFinish() throws {
        let t = try makeTokenizer(huggingFaceDirectory: try folder(cyclic))
        let text = String(repeating: "ab", count: 5_000) + String(repeating: "a", count: 5_000)
        let start = Date()
        let ids = t.encode(text)
        XCTAssertLessThan(Date().timeIntervalSince(start), 2, "encoding with cyclic merges must not hang")
        XCTAssertEqual(t.decode(ids), text)
        XCTAssertEqual(Array(ids.prefix(2)), [8, 8], "abab merges first, then pairs of it do not")
    }

    /// The same vocabulary through the SentencePiece-style (scalar) path, which refuses a repeated pair.
    func testRepeatedMergeIsRefusedOnTheScalarPath() throws {
        let json = #"""
            {"pre_tokenizer": null, "normalizer": null,
             "model": {"type": "BPE", "byte_fallback": false,
               "vocab": {"a": 0, "b": 1, "ab": 2, "ba": 3, "aba": 4},
               "merges": ["a b", "b a", "ab a", "a ba", "a b"]}}
            """#
        XCTAssertThrowsError(try makeTokenizer(huggingFaceDirectory: try folder(json))) { e in
            XCTAssertTrue("\(e)".contains("merges[4]"), "\(e)")
            XCTAssertTrue("\(e)".contains("each pair merged once"), "\(e)")
        }
    }

    /// ids {-1, 1}: as many distinct ids as 0..<2 holds, so the vocabulary check passed and id 0 was
    /// then read from nowhere (a crash) before negative added-token ids were refused.
    func testNegativeAddedTokenIDIsRefused() throws {
        let json = #"""
            {"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false}, "normalizer": null,
             "added_tokens": [{"id": -1, "content": "<s>", "special": true}],
             "model": {"type": "BPE", "vocab": {"a": 1}, "merges": []}}
            """#
        XCTAssertThrowsError(try makeTokenizer(huggingFaceDirectory: try folder(json))) { e in
            guard let e = e as? ModelFormatError else { return XCTFail("\(e)") }
            XCTAssertEqual(e.field, "added_tokens[0].id")
            XCTAssertEqual(e.expected, "a non-negative id")
            XCTAssertTrue(e.file.hasSuffix("tokenizer.json"))
        }
    }
}
