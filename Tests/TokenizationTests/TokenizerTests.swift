import Foundation
import ModelFormats
import Models
import TestSupport
@testable import Tokenization
import XCTest

/// Reference ids from HF tokenizers (Tests/Reference/make_tokenizer_fixtures.py).
private struct Fixture: Decodable {
    struct Case: Decodable {
        let text: String
        let ids: [Int]
    }
    let cases: [Case]

    static func load(_ name: String) throws -> Fixture {
        let url = try XCTUnwrap(
            Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures"),
            "fixture \(name).json missing from the test bundle")
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }
}

final class RealModelTokenizerTests: XCTestCase {
    private func check(_ model: TestModels.Name, fixture: String, file: StaticString = #filePath, line: UInt = #line) throws -> Tokenizer {
        let gguf = try GGUFFile(path: try TestModels.path(model))
        let tokenizer = try makeTokenizer(from: gguf)
        let cases = try Fixture.load(fixture).cases
        XCTAssertGreaterThanOrEqual(cases.count, 300, file: file, line: line)
        var idFailures: [String] = []
        var roundTripFailures: [String] = []
        for c in cases {
            let ids = tokenizer.encode(c.text)
            if ids != c.ids {
                idFailures.append("\(c.text.debugDescription): expected \(c.ids), got \(ids)")
            }
            let back = tokenizer.decode(tokenizer.encode(c.text, addSpecialTokens: false))
            if !back.utf8.elementsEqual(c.text.utf8) {  // String == would accept a canonically equivalent text
                roundTripFailures.append("\(c.text.debugDescription) decoded as \(back.debugDescription)")
            }
        }
        XCTAssert(idFailures.isEmpty, "\(model): \(idFailures.count)/\(cases.count) texts differ from HF:\n" + idFailures.prefix(10).joined(separator: "\n"), file: file, line: line)
        XCTAssert(roundTripFailures.isEmpty, "\(model): \(roundTripFailures.count)/\(cases.count) texts do not round-trip:\n" + roundTripFailures.prefix(10).joined(separator: "\n"), file: file, line: line)
        return tokenizer
    }

    func testSmolLM2MatchesHuggingFace() throws {
        let t = try check(.smollm2, fixture: "smollm2_ids")
        XCTAssertEqual(t.vocabularySize, 49152)
        XCTAssertEqual(t.bosID, 1)
        XCTAssertEqual(t.eosID, 2)
        let paris = try XCTUnwrap(t.id(ofPiece: " Paris"))
        XCTAssertEqual(t.piece(paris), " Paris")
        XCTAssertEqual(t.id(ofPiece: "ĠParis"), paris)
        XCTAssertEqual(t.piece(1), "<|im_start|>")
        XCTAssertEqual(t.id(ofPiece: "<|im_start|>"), 1)
        XCTAssertEqual(t.decode([1, 2], skipSpecialTokens: true), "")
        XCTAssertEqual(t.encode("Hi", addSpecialTokens: true), t.encode("Hi", addSpecialTokens: false))
    }

    func testGemma3MatchesHuggingFace() throws {
        let t = try check(.gemma3, fixture: "gemma3_ids")
        XCTAssertEqual(t.vocabularySize, 262144)
        XCTAssertEqual(t.bosID, 2)
        XCTAssertEqual(t.eosID, 1)
        let paris = try XCTUnwrap(t.id(ofPiece: " Paris"))
        XCTAssertEqual(t.piece(paris), " Paris")
        XCTAssertEqual(t.id(ofPiece: "▁Paris"), paris)
        XCTAssertEqual(t.encode("Paris").first, 2)
        XCTAssertEqual(t.decode(t.encode("Paris"), skipSpecialTokens: true), "Paris")
        XCTAssertEqual(t.decode(t.encode("Paris")), "<bos>Paris")
        XCTAssertEqual(t.piece(t.id(ofPiece: "<0x0A>")!), "\n")
        XCTAssertEqual(t.piece(t.id(ofPiece: "<0xE4>")!), "<0xE4>")
    }
}

// MARK: - hand-made vocabularies

/// Byte-level vocabulary: the 256 byte characters, then `extra`, with `merges`.
private func byteLevel(_ extra: [String], merges: [String], pre: String = "gpt2", types: [Int: Int32] = [:]) -> TokenizerVocabulary {
    var tokens = ByteLevelAlphabet.scalarOfByte.map { String($0) }
    tokens += extra
    var tokenTypes = [Int32](repeating: 1, count: tokens.count)
    for (i, t) in types { tokenTypes[i] = t }
    return TokenizerVocabulary(model: "gpt2", pre: pre, tokens: tokens, tokenTypes: tokenTypes, merges: merges)
}

/// SentencePiece vocabulary: <unk> <s> </s>, the 256 byte tokens, then `pieces` with their scores.
private func sentencePiece(_ pieces: [(String, Float)], specials: [(String, Int32)] = [], addBOS: Bool = false) -> TokenizerVocabulary {
    var tokens = ["<unk>", "<s>", "</s>"]
    var types: [Int32] = [2, 3, 3]
    var scores: [Float] = [0, 0, 0]
    for b in 0..<256 {
        tokens.append("<0x" + String(format: "%02X", b) + ">")
        types.append(6)
        scores.append(0)
    }
    for (t, type) in specials {
        tokens.append(t)
        types.append(type)
        scores.append(-1000)
    }
    for (p, s) in pieces {
        tokens.append(p)
        types.append(1)
        scores.append(s)
    }
    return TokenizerVocabulary(
        model: "llama", tokens: tokens, scores: scores, tokenTypes: types, bosID: 1, eosID: 2, unknownID: 0, addBOS: addBOS)
}

final class ByteLevelBPETests: XCTestCase {
    private func texts(_ t: Tokenizer, _ ids: [Int]) -> [String] { ids.map { t.piece($0) } }

    func testMergesApplyInListedOrder() throws {
        let first = try Tokenizer(vocabulary: byteLevel(["ab", "bc"], merges: ["b c", "a b"]))
        XCTAssertEqual(texts(first, first.encode("abc")), ["a", "bc"])
        let second = try Tokenizer(vocabulary: byteLevel(["ab", "bc"], merges: ["a b", "b c"]))
        XCTAssertEqual(texts(second, second.encode("abc")), ["ab", "c"])
        // A later merge applies to the result of an earlier one.
        let chain = try Tokenizer(vocabulary: byteLevel(["ab", "abc", "bc"], merges: ["a b", "ab c", "b c"]))
        XCTAssertEqual(texts(chain, chain.encode("abcabc")), ["abc", "abc"])
        XCTAssertEqual(chain.decode(chain.encode("abcabc")), "abcabc")
    }

    func testSpaceAttachesToTheFollowingWord() throws {
        let t = try Tokenizer(vocabulary: byteLevel(["Ġa", "ĠĠ"], merges: ["Ġ a", "Ġ Ġ"]))
        XCTAssertEqual(texts(t, t.encode(" a a")), [" a", " a"])
        // "\s+(?!\S)" leaves the last space of a run for the word after it.
        XCTAssertEqual(texts(t, t.encode("   a")), ["  ", " a"])
        XCTAssertEqual(t.id(ofPiece: " a"), 256)
    }

    func testUTF8BytesRoundTrip() throws {
        let t = try Tokenizer(vocabulary: byteLevel([], merges: []))
        for s in ["é", "日本", "👨‍👩‍👧", "a\u{0}b", ""] {
            XCTAssertEqual(t.encode(s).count, s.utf8.count)
            XCTAssertEqual(t.decode(t.encode(s)), s)
        }
        XCTAssertEqual(t.piece(Int(0xC3)), "<0xC3>")
        XCTAssertEqual(t.piece(Int(0x41)), "A")
    }

    func testSpecialTokensMatchWholeBeforePreTokenization() throws {
        let v = byteLevel(["<|im_start|>", "<|im_end|>", "<|im", "<think>"], merges: [], types: [256: 3, 257: 3, 258: 3, 259: 4])
        let t = try Tokenizer(vocabulary: v)
        XCTAssertEqual(t.encode("<|im_start|>user\nHi<|im_end|>").filter { $0 >= 256 }, [256, 257])
        XCTAssertEqual(t.encode("a<|im_start|>").last, 256)
        // Longest match wins at a position; a partial special token is plain text.
        XCTAssertEqual(t.encode("<|im"), [258])
        XCTAssertEqual(t.encode("<|im_start").first, 258)
        XCTAssertEqual(t.encode("<think>x"), [259, Int(Character("x").asciiValue!)])
        XCTAssertEqual(t.decode(t.encode("x<|im_end|>y"), skipSpecialTokens: true), "xy")
        XCTAssertEqual(t.decode(t.encode("x<think>y"), skipSpecialTokens: true), "x<think>y")
    }

    func testBOSAndEOSFollowTheVocabulary() throws {
        var v = byteLevel(["<s>", "</s>"], merges: [], types: [256: 3, 257: 3])
        v.bosID = 256
        v.eosID = 257
        v.addBOS = true
        v.addEOS = true
        let t = try Tokenizer(vocabulary: v)
        XCTAssertEqual(t.encode("a"), [256, 97, 257])
        XCTAssertEqual(t.encode("a", addSpecialTokens: false), [97])
        XCTAssertEqual(t.encode(""), [256, 257])
    }
}

final class PreTokenizerTests: XCTestCase {
    private func pieces(_ name: String, _ text: String) -> [String] {
        let pre = PreTokenizer(name: name)!
        let bytes = Array(text.utf8)
        let run = ScalarRun(bytes, 0..<bytes.count)
        var ends: [Int] = []
        pre.split(run.scalars, run.classes, 0, run.scalars.count, into: &ends)
        var out: [String] = []
        var start = 0
        for e in ends {
            out.append(String(String.UnicodeScalarView(run.scalars[start..<e])))
            start = e
        }
        return out
    }

    // Expected pieces are Python `regex.findall` with each pattern.
    func testGPT2() {
        XCTAssertEqual(pieces("gpt2", "  a  b   "), [" ", " a", " ", " b", "   "])
        XCTAssertEqual(pieces("gpt2", "It's 'S they'RE"), ["It", "'s", " '", "S", " they", "'", "RE"])
        XCTAssertEqual(pieces("gpt2", "x=  12345\n\n  y"), ["x", "=", " ", " 12345", "\n\n ", " y"])
        XCTAssertEqual(pieces("gpt2", "$abc ,def\t\tghi"), ["$", "abc", " ,", "def", "\t", "\t", "ghi"])
        XCTAssertEqual(pieces("gpt2", "a \n\n b\r\n\tc"), ["a", " \n\n", " b", "\r\n", "\t", "c"])
        XCTAssertEqual(pieces("gpt2", "中文 123 ١٢٣ ½"), ["中文", " 123", " ١٢٣", " ½"])
        XCTAssertEqual(pieces("gpt2", " 'll'd"), [" '", "ll", "'d"])
    }

    func testSmolLMSplitsDigitsFirst() {
        XCTAssertEqual(pieces("smollm", "x=  12345\n\n  y"), ["x", "=", "  ", "1", "2", "3", "4", "5", "\n\n ", " y"])
        XCTAssertEqual(pieces("smollm", "中文 123 ١٢٣ ½"), ["中文", " ", "1", "2", "3", " ", "١", "٢", "٣", " ", "½"])
    }

    func testLlama3AndQwen2() {
        XCTAssertEqual(pieces("llama-bpe", "It's 'S they'RE"), ["It", "'s", " '", "S", " they", "'RE"])
        XCTAssertEqual(pieces("llama-bpe", "x=  12345\n\n  y"), ["x", "=", " ", " ", "123", "45", "\n\n", " ", " y"])
        XCTAssertEqual(pieces("llama-bpe", "$abc ,def\t\tghi"), ["$abc", " ,", "def", "\t", "\tghi"])
        XCTAssertEqual(pieces("llama-bpe", "a \n\n b\r\n\tc"), ["a", " \n\n", " b", "\r\n", "\tc"])
        XCTAssertEqual(pieces("llama-bpe", "!!! ?? (x)\n"), ["!!!", " ??", " (", "x", ")\n"])
        XCTAssertEqual(pieces("qwen2", "x=  12345\n\n  y"), ["x", "=", " ", " ", "1", "2", "3", "4", "5", "\n\n", " ", " y"])
    }
}

final class SentencePieceBPETests: XCTestCase {
    private func texts(_ t: Tokenizer, _ ids: [Int]) -> [String] { ids.map { t.piece($0) } }

    func testHighestScoreMergesFirst() throws {
        let abFirst = try Tokenizer(vocabulary: sentencePiece([("a", -1), ("b", -1), ("c", -1), ("ab", -2), ("bc", -3)]))
        XCTAssertEqual(texts(abFirst, abFirst.encode("abc")), ["ab", "c"])
        let bcFirst = try Tokenizer(vocabulary: sentencePiece([("a", -1), ("b", -1), ("c", -1), ("ab", -3), ("bc", -2)]))
        XCTAssertEqual(texts(bcFirst, bcFirst.encode("abc")), ["a", "bc"])
    }

    func testSpacesBecomeMarksWithoutADummyPrefix() throws {
        let v = sentencePiece([("▁", -1), ("a", -1), ("▁a", -2), ("b", -1)])
        let t = try Tokenizer(vocabulary: v)
        XCTAssertEqual(texts(t, t.encode("a a  b")), ["a", " a", " ", " ", "b"])
        XCTAssertEqual(t.decode(t.encode("a a  b")), "a a  b")
        var prefixed = v
        prefixed.addSpacePrefix = true
        let p = try Tokenizer(vocabulary: prefixed)
        XCTAssertEqual(texts(p, p.encode("a")), [" a"])
        XCTAssertEqual(p.decode(p.encode("a")), "a")
        prefixed.addBOS = true
        let withBOS = try Tokenizer(vocabulary: prefixed)
        XCTAssertEqual(withBOS.decode(withBOS.encode("a a")), "<s>a a")
        XCTAssertEqual(withBOS.decode(withBOS.encode("a a"), skipSpecialTokens: true), "a a")
    }

    func testUnknownCharactersFallBackToBytes() throws {
        let t = try Tokenizer(vocabulary: sentencePiece([("▁", -1), ("a", -1), ("b", -1), ("ab", -2)]))
        let ids = t.encode("ab é")
        XCTAssertEqual(texts(t, ids), ["ab", " ", "<0xC3>", "<0xA9>"])
        XCTAssertEqual(ids[2], 3 + 0xC3)
        XCTAssertEqual(t.decode(ids), "ab é")
        XCTAssertEqual(t.decode(t.encode("🙂")), "🙂")
    }

    func testSpecialAndUserDefinedTokensSplitFirst() throws {
        let v = sentencePiece(
            [("▁", -1), ("u", -1), ("s", -1), ("e", -1), ("r", -1), ("user", -5), ("us", -2), ("er", -3), ("use", -4)],
            specials: [("<start_of_turn>", 3), ("\n", 4), ("  ", 4)], addBOS: true)
        let t = try Tokenizer(vocabulary: v)
        let ids = t.encode("<start_of_turn>user\nus  er")
        XCTAssertEqual(texts(t, ids), ["<s>", "<start_of_turn>", "user", "\n", "us", "  ", "er"])
        XCTAssertEqual(t.decode(ids, skipSpecialTokens: true), "user\nus  er")
    }

    func testBOSIsAddedWhenAsked() throws {
        let t = try Tokenizer(vocabulary: sentencePiece([("a", -1)], addBOS: true))
        XCTAssertEqual(t.encode("a"), [1, t.id(ofPiece: "a")!])
        XCTAssertEqual(t.encode(""), [1])
        XCTAssertEqual(t.encode("a", addSpecialTokens: false), [t.id(ofPiece: "a")!])
    }
}

final class TokenizerErrorTests: XCTestCase {
    private func error(_ v: TokenizerVocabulary) -> TokenizerError? {
        do {
            _ = try Tokenizer(vocabulary: v)
            return nil
        } catch {
            return error
        }
    }

    func testGPT2WithoutMerges() {
        var v = byteLevel([], merges: [])
        v.merges = nil
        let e = error(v)
        XCTAssertEqual(e?.kind, .missingField)
        XCTAssertEqual(e?.field, "merges")
    }

    func testMergeNamingAnUnknownToken() {
        let e = error(byteLevel(["ab"], merges: ["a b", "x yz"]))
        XCTAssertEqual(e?.kind, .unknownToken)
        XCTAssertEqual(e?.field, "merges[1]")
        XCTAssert(e?.description.contains("yz") == true, "\(String(describing: e))")
        // Both halves are tokens but their concatenation is not.
        XCTAssertEqual(error(byteLevel([], merges: ["a b"]))?.kind, .unknownToken)
    }

    func testMergeWithoutASpace() {
        let e = error(byteLevel([], merges: ["ab"]))
        XCTAssertEqual(e?.kind, .malformed)
        XCTAssertEqual(e?.field, "merges[0]")
    }

    func testUnknownModelAndPreTokenizer() {
        var v = byteLevel([], merges: [])
        v.model = "bert"
        XCTAssertEqual(error(v)?.kind, .unsupportedModel)
        XCTAssertEqual(error(v)?.field, "model")
        let p = byteLevel([], merges: [], pre: "no-such-pre")
        XCTAssertEqual(error(p)?.kind, .unsupportedPreTokenizer)
        XCTAssertEqual(error(p)?.field, "pre")
    }

    func testLlamaWithoutScores() {
        var v = sentencePiece([("a", -1)])
        v.scores = nil
        XCTAssertEqual(error(v)?.kind, .missingField)
        XCTAssertEqual(error(v)?.field, "scores")
        var short = sentencePiece([("a", -1)])
        short.scores?.removeLast()
        XCTAssertEqual(error(short)?.kind, .lengthMismatch)
        XCTAssertEqual(error(short)?.field, "scores")
    }

    func testTypesLengthAndIDs() {
        var types = byteLevel([], merges: [])
        types.tokenTypes = [1]
        XCTAssertEqual(error(types)?.field, "token_type")
        var bos = byteLevel([], merges: [])
        bos.bosID = 1000
        XCTAssertEqual(error(bos)?.kind, .unknownToken)
        XCTAssertEqual(error(bos)?.field, "bos_token_id")
        var noBOS = byteLevel([], merges: [])
        noBOS.addBOS = true
        XCTAssertEqual(error(noBOS)?.kind, .missingField)
        XCTAssertEqual(error(noBOS)?.field, "bos_token_id")
        XCTAssertEqual(error(TokenizerVocabulary(model: "gpt2", tokens: [], merges: []))?.field, "tokens")
    }
}

// MARK: - loading from a GGUF file

final class TokenizerLoadingTests: XCTestCase {
    /// A GGUF v3 file with no tensors and these string / string-array metadata entries.
    private func writeGGUF(_ entries: [(String, Any)]) throws -> String {
        var d = Data()
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        func str(_ s: String) { u64(UInt64(s.utf8.count)); d.append(contentsOf: Array(s.utf8)) }
        d.append(contentsOf: Array("GGUF".utf8))
        u32(3)
        u64(0)
        u64(UInt64(entries.count))
        for (key, value) in entries {
            str(key)
            if let s = value as? String {
                u32(8)
                str(s)
            } else if let a = value as? [String] {
                u32(9)
                u32(8)
                u64(UInt64(a.count))
                a.forEach(str)
            } else {
                XCTFail("unsupported value for \(key)")
            }
        }
        let path = NSTemporaryDirectory() + "locus-tokenizer-\(UUID().uuidString).gguf"
        try d.write(to: URL(fileURLWithPath: path))
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func testVocabularyErrorsNameTheFileAndKey() throws {
        let bytes = ByteLevelAlphabet.scalarOfByte.map { String($0) }
        let path = try writeGGUF([
            ("tokenizer.ggml.model", "gpt2"), ("tokenizer.ggml.pre", "gpt2"),
            ("tokenizer.ggml.tokens", bytes), ("tokenizer.ggml.merges", ["a zz"]),
        ])
        XCTAssertThrowsError(try makeTokenizer(from: GGUFFile(path: path))) { error in
            guard let e = error as? TokenizerLoadingError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.file, path)
            XCTAssertEqual(e.key, "tokenizer.ggml.merges[0]")
            XCTAssertEqual(e.underlying.kind, .unknownToken)
            XCTAssert(e.description.hasPrefix(path + ": tokenizer.ggml.merges[0]: "), e.description)
        }
    }

    func testMissingKeysNameTheFileAndKey() throws {
        let path = try writeGGUF([("tokenizer.ggml.model", "gpt2")])
        XCTAssertThrowsError(try makeTokenizer(from: GGUFFile(path: path))) { error in
            guard let e = error as? ModelFormatError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.file, path)
            XCTAssertEqual(e.field, "metadata.tokenizer.ggml.tokens")
        }
        let good = try writeGGUF([
            ("tokenizer.ggml.model", "gpt2"), ("tokenizer.ggml.tokens", ByteLevelAlphabet.scalarOfByte.map { String($0) }),
            ("tokenizer.ggml.merges", [String]()),
        ])
        let t = try makeTokenizer(from: GGUFFile(path: good))
        XCTAssertEqual(t.decode(t.encode("héllo")), "héllo")
    }
}
