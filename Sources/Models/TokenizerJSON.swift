import Foundation
import ModelFormats
import Tokenization

/// The tokenizer of a Hugging Face folder: `tokenizer.json` (and `tokenizer_config.json` for the BOS/EOS
/// conventions), turned into the same `TokenizerVocabulary` a GGUF file gives.
///
/// Byte-level BPE is read (`model.type` BPE with a ByteLevel pre-tokenizer): GPT-2's regex, Llama 3's and
/// Qwen 2's `Split` regexes, and SmolLM's `Digits` + ByteLevel are recognised by their exact patterns;
/// any other pre-tokenizer, normalizer or model is refused by name, never approximated.
public func makeTokenizer(huggingFaceDirectory dir: String) throws -> Tokenizer {
    let file = dir + "/tokenizer.json"
    let vocabulary = try tokenizerVocabulary(huggingFaceTokenizer: file, config: dir + "/tokenizer_config.json")
    do {
        return try Tokenizer(vocabulary: vocabulary)
    } catch {
        throw ModelFormatError(.malformed, file: file, field: error.field, expected: error.expected, found: error.found)
    }
}

/// GPT-2's, Llama 3's and Qwen 2's pre-tokenizer regexes as tokenizer.json writes them, and the
/// `tokenizer.ggml.pre` names Locus's scanners implement them under.
private let knownSplitPatterns: [String: String] = [
    #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#: "gpt2",
    #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#: "llama-bpe",
    #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#: "qwen2",
]

func tokenizerVocabulary(huggingFaceTokenizer file: String, config configFile: String) throws -> TokenizerVocabulary {
    guard let data = FileManager.default.contents(atPath: file) else {
        throw ModelFormatError(.fileNotFound, file: file, field: "file", expected: "tokenizer.json beside config.json", found: "no such file")
    }
    guard let root = JSONValue.parse(data)?.object else {
        throw ModelFormatError(.malformed, file: file, field: "tokenizer.json", expected: "a JSON object", found: "unparseable JSON")
    }
    func refuse(_ field: String, _ expected: String, _ found: JSONValue?) -> ModelFormatError {
        ModelFormatError(.unsupportedFeature, file: file, field: field, expected: expected, found: found.map { "\($0)" } ?? "none")
    }
    guard let model = root["model"]?.object, model["type"]?.string == "BPE" else {
        throw refuse("model.type", "BPE", root["model"]?.object?["type"])
    }
    if let n = root["normalizer"], !n.isNull { throw refuse("normalizer", "null (byte-level BPE normalises nothing)", n) }
    if model["byte_fallback"]?.bool == true { throw refuse("model.byte_fallback", "false (SentencePiece-style vocabularies are read from GGUF only)", model["byte_fallback"]) }

    // The pre-tokenizer: ByteLevel (GPT-2's regex), Split(regex) + ByteLevel, or Digits + ByteLevel.
    let pre = root["pre_tokenizer"]
    let steps = pre?.object?["type"]?.string == "Sequence" ? (pre?.object?["pretokenizers"]?.array ?? []) : [pre ?? .null]
    var preName: String?
    var sawDigits = false, sawByteLevel = false
    for step in steps {
        let o = step.object ?? [:]
        switch o["type"]?.string {
        case "ByteLevel":
            sawByteLevel = true
            if o["add_prefix_space"]?.bool == true { throw refuse("pre_tokenizer.add_prefix_space", "false", o["add_prefix_space"]) }
            if o["use_regex"]?.bool ?? true { preName = preName ?? (sawDigits ? "smollm" : "gpt2") }
        case "Split":
            guard let regex = o["pattern"]?.object?["Regex"]?.string, let name = knownSplitPatterns[regex] else {
                throw refuse("pre_tokenizer.Split.pattern", "GPT-2's, Llama 3's or Qwen 2's regex", o["pattern"])
            }
            preName = name
        case "Digits" where o["individual_digits"]?.bool == true:
            sawDigits = true
        default:
            throw refuse("pre_tokenizer", "ByteLevel, a known Split regex, or Digits(individual_digits) then ByteLevel", step)
        }
    }
    guard sawByteLevel, let preName else { throw refuse("pre_tokenizer", "a byte-level pre-tokenizer", pre) }

    // Tokens by id: the BPE vocabulary, then the added tokens (which may also overwrite).
    guard let vocab = model["vocab"]?.object else { throw refuse("model.vocab", "an object of token → id", nil) }
    var byID: [Int: String] = [:]
    for (text, id) in vocab {
        guard let i = id.integer, i >= 0 else { throw refuse("model.vocab.\(text)", "a non-negative id", id) }
        byID[i] = text
    }
    var types: [Int: Int32] = [:]
    for added in root["added_tokens"]?.array ?? [] {
        guard let o = added.object, let id = o["id"]?.integer, let text = o["content"]?.string else {
            throw refuse("added_tokens", "objects with id and content", added)
        }
        byID[id] = text
        types[id] = o["special"]?.bool == true ? 3 : 4
    }
    let count = (byID.keys.max() ?? -1) + 1
    guard count > 0, byID.count == count else {
        throw ModelFormatError(.malformed, file: file, field: "model.vocab", expected: "ids 0..<\(count) each given once", found: "\(byID.count) distinct ids")
    }
    let tokens = (0..<count).map { byID[$0]! }
    let merges: [String] = try (model["merges"]?.array ?? []).enumerated().map { i, m in
        if let s = m.string { return s }
        if let pair = m.array, pair.count == 2, let a = pair[0].string, let b = pair[1].string { return a + " " + b }
        throw refuse("model.merges[\(i)]", "\"left right\" or [left, right]", m)
    }

    // BOS/EOS: tokenizer_config.json's names and add_bos_token, else the post-processor's template.
    let config = FileManager.default.contents(atPath: configFile).flatMap { JSONValue.parse($0)?.object } ?? [:]
    let index = Dictionary(tokens.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
    func special(_ key: String) -> Int? {
        let v = config[key]
        let name = v?.string ?? v?.object?["content"]?.string
        return name.flatMap { index[$0] }
    }
    var addBOS = config["add_bos_token"]?.bool
    var bos = special("bos_token")
    if addBOS == nil, let single = root["post_processor"]?.object?["single"]?.array,
        let first = single.first?.object?["SpecialToken"]?.object?["id"]?.string {
        addBOS = true
        bos = bos ?? index[first]
    }
    return TokenizerVocabulary(
        model: "gpt2", pre: preName, tokens: tokens, tokenTypes: (0..<count).map { types[$0] ?? 1 }, merges: merges,
        bosID: bos, eosID: special("eos_token"), unknownID: special("unk_token"), paddingID: special("pad_token"),
        addBOS: addBOS ?? false, addEOS: config["add_eos_token"]?.bool ?? false)
}
