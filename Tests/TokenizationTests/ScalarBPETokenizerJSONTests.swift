import Foundation
import ModelFormats
import Models
import TestSupport
import Tokenization
import XCTest

/// SentencePiece-converted (Metaspace / byte-fallback) BPE tokenizer.json files give HF's ids and
/// HF's decoded text: four tiny committed tokenizers in the Hub's styles (Fixtures/spm_bpe, made by
/// Tests/Reference/make_spm_bpe_fixtures.py), and Gemma 3's tokenizer.json, written here from the
/// GGUF's vocabulary and Fixtures/gemma3_tokenizer_layout.json, against gemma3_ids.json.
final class ScalarBPETokenizerJSONTests: XCTestCase {
    struct Case: Decodable { let text: String; let ids: [Int]; let decoded: String? }
    struct Fixture: Decodable { let cases: [Case] }

    func fixtureURL(_ name: String) throws -> URL {
        try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil)).appendingPathComponent(name)
    }

    func checkTinyVariant(_ variant: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let dir = try fixtureURL("spm_bpe/\(variant)")
        let t = try makeTokenizer(huggingFaceDirectory: dir.path)
        let cases = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: dir.appendingPathComponent("ids.json"))).cases
        XCTAssertGreaterThanOrEqual(cases.count, 200, file: file, line: line)
        let wrong = cases.filter { t.encode($0.text) != $0.ids }
        XCTAssert(wrong.isEmpty, "\(variant): \(wrong.count)/\(cases.count) differ, first: \(wrong.first.map { "\($0.text.debugDescription) → \(t.encode($0.text)), expected \($0.ids)" } ?? "")", file: file, line: line)
        // HF's `decode` skips special tokens by default; the fixture's text is that.
        let badDecode = cases.filter { t.decode(t.encode($0.text, addSpecialTokens: false), skipSpecialTokens: true) != $0.decoded }
        XCTAssert(badDecode.isEmpty, "\(variant): \(badDecode.count) decode differently, first: \(badDecode.first.map { "\($0.text.debugDescription) → \(t.decode(t.encode($0.text, addSpecialTokens: false), skipSpecialTokens: true).debugDescription), expected \($0.decoded!.debugDescription)" } ?? "")", file: file, line: line)
    }

    /// Llama 2 / Mistral / Phi-3: normalizer Sequence[Prepend("▁"), Replace(" ", "▁")], no pre-tokenizer,
    /// an rstrip special token, a normalized added token, BOS from the TemplateProcessing post-processor.
    func testLlama2StyleNormalizerMatchesHuggingFace() throws { try checkTinyVariant("llama2") }

    /// transformers' non-legacy Llama/Mistral conversion: Metaspace(prepend_scheme "first", split false).
    func testMetaspaceFirstMatchesHuggingFace() throws { try checkTinyVariant("metaspace_first") }

    /// Metaspace(prepend_scheme "always", split true), ignore_merges, Metaspace decoder.
    func testMetaspaceAlwaysSplitMatchesHuggingFace() throws { try checkTinyVariant("metaspace_always") }

    /// Gemma: Replace(" ", "▁") and a no-op Split(" "); here without byte fallback and fuse_unk false.
    func testGemmaStyleWithUnknownsMatchesHuggingFace() throws { try checkTinyVariant("gemma") }

    // MARK: Gemma 3

    /// Writes Gemma 3's tokenizer.json as HF has it (the tokenizer behind gemma3_ids.json): the GGUF's
    /// tokens with the layout's respellings, merges derived from the vocabulary by the layout's rule, the
    /// added tokens by its rule, each checked against the layout's hash of HF's own list.
    func writeGemma3Folder() throws -> String {
        let gguf = try GGUFFile(path: try TestModels.path(.gemma3))
        var tokens = try XCTUnwrap(gguf.metadata["tokenizer.ggml.tokens"]?.stringArray)
        let types = try XCTUnwrap(gguf.metadata["tokenizer.ggml.token_type"]?.integerArray)
        let layoutData = try Data(contentsOf: fixtureURL("gemma3_tokenizer_layout.json"))
        let layout = try XCTUnwrap(try JSONSerialization.jsonObject(with: layoutData) as? [String: Any])
        for (id, text) in try XCTUnwrap(layout["respelled"] as? [String: String]) { tokens[try XCTUnwrap(Int(id))] = text }
        XCTAssertEqual(fnv1a64(tokens.map { $0 + "\n" }), layout["vocab_fnv1a64"] as? String, "vocabulary")

        // Merges: tokens in id order, each cut at every scalar into two tokens, longer left part first.
        let known = Set(tokens.map(TokenText.init))
        var merges: [(String, String)] = []
        for t in tokens {
            let s = Array(t.unicodeScalars)
            for k in stride(from: s.count - 1, to: 0, by: -1) {
                let l = text(s[..<k]), r = text(s[k...])
                if known.contains(TokenText(l)), known.contains(TokenText(r)) { merges.append((l, r)) }
            }
        }
        let mergeLayout = try XCTUnwrap(layout["merges"] as? [String: Any])
        XCTAssertEqual(merges.count, mergeLayout["count"] as? Int)
        XCTAssertEqual(fnv1a64(merges.map { $0.0 + "\u{0}" + $0.1 + "\n" }), mergeLayout["fnv1a64"] as? String, "merges")

        // Added tokens: control special; user-defined not, normalized only for the respelled space runs.
        let respelled = Set((layout["respelled"] as? [String: String] ?? [:]).keys.compactMap { Int($0) })
        var added: [(id: Int, special: Bool, normalized: Bool)] = []
        for (id, type) in types.enumerated() where type == 3 || type == 4 {
            added.append((id, type == 3, type == 4 && respelled.contains(id)))
        }
        let addedLayout = try XCTUnwrap(layout["added_tokens"] as? [String: Any])
        XCTAssertEqual(
            fnv1a64(added.map { "\($0.id)\u{0}\(tokens[$0.id])\u{0}\($0.special ? 1 : 0)\u{0}\($0.normalized ? 1 : 0)\n" }),
            addedLayout["fnv1a64"] as? String, "added tokens")

        // The file, written by hand: JSONSerialization's dictionary keys would merge canonically
        // equivalent tokens.
        var rest = try XCTUnwrap(layout["tokenizer"] as? [String: Any])
        let modelSettings = try XCTUnwrap(rest.removeValue(forKey: "model") as? [String: Any])
        var out = "{"
        for (key, value) in rest {
            out += quoted(key) + ":" + String(decoding: try JSONSerialization.data(withJSONObject: value, options: .fragmentsAllowed), as: UTF8.self) + ","
        }
        out += "\"added_tokens\":["
        out += added.map { #"{"id":\#($0.id),"content":\#(quoted(tokens[$0.id])),"single_word":false,"lstrip":false,"rstrip":false,"normalized":\#($0.normalized),"special":\#($0.special)}"# }.joined(separator: ",")
        out += "],\"model\":{"
        for (key, value) in modelSettings {
            out += quoted(key) + ":" + String(decoding: try JSONSerialization.data(withJSONObject: value, options: .fragmentsAllowed), as: UTF8.self) + ","
        }
        out += "\"vocab\":{" + tokens.enumerated().map { quoted($1) + ":\($0)" }.joined(separator: ",") + "},"
        out += "\"merges\":[" + merges.map { "[" + quoted($0.0) + "," + quoted($0.1) + "]" }.joined(separator: ",") + "]}}"

        let dir = NSTemporaryDirectory() + "tokjson-gemma3-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        try Data(out.utf8).write(to: URL(fileURLWithPath: dir + "/tokenizer.json"))
        let config = try JSONSerialization.data(withJSONObject: try XCTUnwrap(layout["tokenizer_config"]))
        try config.write(to: URL(fileURLWithPath: dir + "/tokenizer_config.json"))
        return dir
    }

    func testGemma3TokenizerJSONMatchesHuggingFace() throws {
        let t = try makeTokenizer(huggingFaceDirectory: try writeGemma3Folder())
        let cases = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: fixtureURL("gemma3_ids.json"))).cases
        XCTAssertGreaterThanOrEqual(cases.count, 300)
        let wrong = cases.filter { t.encode($0.text) != $0.ids }
        XCTAssert(wrong.isEmpty, "\(wrong.count)/\(cases.count) differ, first: \(wrong.first.map { "\($0.text.debugDescription) → \(t.encode($0.text)), expected \($0.ids)" } ?? "")")
        // gemma3_ids.json's header: HF's decode gives back every text.
        let badDecode = cases.filter { t.decode(t.encode($0.text, addSpecialTokens: false)) != $0.text }
        XCTAssert(badDecode.isEmpty, "\(badDecode.count) do not round-trip, first: \(badDecode.first.map(\.text.debugDescription) ?? "")")
        XCTAssertEqual(t.vocabularySize, 262_144)
        XCTAssertEqual(t.bosID, 2)
        XCTAssertEqual(t.eosID, 1)
    }

    // MARK: refusals

    /// A minimal Metaspace tokenizer.json, with `change` applied to its object.
    func folder(_ change: (inout [String: Any]) -> Void) throws -> String {
        var json: [String: Any] = [
            "normalizer": NSNull(),
            "pre_tokenizer": ["type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false],
            "decoder": ["type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false],
            "added_tokens": [["id": 0, "content": "<unk>", "special": true, "normalized": false, "single_word": false]],
            "model": ["type": "BPE", "vocab": ["<unk>": 0, "▁": 1, "a": 2, "▁a": 3], "merges": [["▁", "a"]],
                      "byte_fallback": true, "unk_token": "<unk>", "dropout": NSNull()] as [String: Any],
        ]
        change(&json)
        let dir = NSTemporaryDirectory() + "tokjson-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: dir + "/tokenizer.json"))
        return dir
    }

    func assertRefused(_ field: String, file: StaticString = #filePath, line: UInt = #line, _ change: (inout [String: Any]) -> Void) throws {
        let dir = try folder(change)
        XCTAssertThrowsError(try makeTokenizer(huggingFaceDirectory: dir), file: file, line: line) { e in
            XCTAssertEqual((e as? ModelFormatError)?.field, field, "\(e)", file: file, line: line)
            XCTAssertTrue("\(e)".contains("tokenizer.json"), "\(e)", file: file, line: line)
        }
    }

    func testMinimalMetaspaceFileIsRead() throws {
        let t = try makeTokenizer(huggingFaceDirectory: try folder { _ in })
        XCTAssertEqual(t.encode("a a"), [3, 3])
        XCTAssertEqual(t.encode("b"), [1, 0], "no byte tokens: the unknown token")
        XCTAssertEqual(t.decode([3, 3]), "a a")
        XCTAssertEqual(t.piece(3), " a")
        XCTAssertEqual(t.id(ofPiece: " a"), 3)
        XCTAssertEqual(t.id(ofPiece: "▁a"), 3)
    }

    func testUnsupportedPartsAreRefusedByName() throws {
        func model(_ j: inout [String: Any], _ key: String, _ value: Any) {
            var m = j["model"] as! [String: Any]
            m[key] = value
            j["model"] = m
        }
        try assertRefused("normalizer") { $0["normalizer"] = ["type": "NFKC"] }
        try assertRefused("normalizer.normalizers[1]") {
            $0["normalizer"] = ["type": "Sequence", "normalizers": [["type": "Prepend", "prepend": "▁"], ["type": "Lowercase"]]]
        }
        try assertRefused("normalizer") { $0["normalizer"] = ["type": "Replace", "pattern": ["Regex": " "], "content": "▁"] }
        try assertRefused("model.type") { model(&$0, "type", "Unigram") }
        try assertRefused("model.type") { model(&$0, "type", "WordPiece") }
        try assertRefused("model.dropout") { model(&$0, "dropout", 0.1) }
        try assertRefused("model.continuing_subword_prefix") { model(&$0, "continuing_subword_prefix", "##") }
        try assertRefused("model.unk_token") { model(&$0, "unk_token", "<missing>") }
        try assertRefused("pre_tokenizer.replacement") {
            $0["pre_tokenizer"] = ["type": "Metaspace", "replacement": "_", "prepend_scheme": "first", "split": false]
        }
        try assertRefused("pre_tokenizer.prepend_scheme") {
            $0["pre_tokenizer"] = ["type": "Metaspace", "replacement": "▁", "prepend_scheme": "sometimes"]
        }
        try assertRefused("pre_tokenizer") { $0["pre_tokenizer"] = ["type": "Split", "pattern": ["String": " "], "behavior": "MergedWithPrevious", "invert": false] }
        try assertRefused("pre_tokenizer") { $0["pre_tokenizer"] = ["type": "Whitespace"] }
        try assertRefused("pre_tokenizer.pretokenizers[1]") {
            $0["pre_tokenizer"] = ["type": "Sequence", "pretokenizers": [["type": "Metaspace", "replacement": "▁"], ["type": "Digits", "individual_digits": true]]]
        }
        try assertRefused("decoder") { $0["decoder"] = ["type": "WordPiece", "prefix": "##"] }
        try assertRefused("decoder.decoders[1]") { $0["decoder"] = ["type": "Sequence", "decoders": [["type": "Fuse"], ["type": "ByteLevel"]]] }
        try assertRefused("added_tokens[0].single_word") {
            $0["added_tokens"] = [["id": 0, "content": "<unk>", "special": true, "normalized": false, "single_word": true]]
        }
        try assertRefused("post_processor.single") {
            $0["post_processor"] = ["type": "TemplateProcessing", "single": [
                ["SpecialToken": ["id": "<unk>"]], ["SpecialToken": ["id": "<unk>"]], ["Sequence": ["id": "A"]]]]
        }
        try assertRefused("merges[1]") { model(&$0, "merges", [["▁", "a"], ["▁", "a"]]) }
    }

    // MARK: helpers

    private func text(_ s: ArraySlice<Unicode.Scalar>) -> String {
        var v = String.UnicodeScalarView()
        v.append(contentsOf: s)
        return String(v)
    }

    private func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }

    private func fnv1a64(_ chunks: [String]) -> String {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for c in chunks { for b in c.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 } }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
