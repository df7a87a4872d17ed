import Foundation
import ModelFormats
import Tokenization

/// The tokenizer of a Hugging Face folder: `tokenizer.json` (and `tokenizer_config.json` for the BOS/EOS
/// conventions), turned into the same `TokenizerVocabulary` a GGUF file gives.
///
/// Two kinds of `model.type` BPE are read:
/// - byte-level BPE (a ByteLevel pre-tokenizer, no normalizer): GPT-2's regex, Llama 3's and Qwen 2's
///   `Split` regexes, and SmolLM's `Digits` + ByteLevel, recognised by their exact patterns;
/// - SentencePiece-converted BPE over Unicode scalars (Llama 2, Mistral, Gemma, Phi-3; see
///   `TokenizerJSONScalar.swift`): merges ranked by their order, `byte_fallback` to `<0xXX>` tokens,
///   spaces as "▁" by a `Prepend("▁")` / `Replace(" ", "▁")` normalizer or a `Metaspace` pre-tokenizer
///   (any `prepend_scheme`, `split` or not), Gemma's no-op `Split(" ")`, added tokens matched whole in the
///   raw or the normalized text (`normalized`, `lstrip`, `rstrip`), and the decoder chain
///   (Replace, ByteFallback, Fuse, Strip, Metaspace).
///
/// BOS/EOS come from tokenizer_config.json (`add_bos_token`, `bos_token`, ...), else from a
/// TemplateProcessing post-processor. Any other model (Unigram, WordPiece), normalizer (NFKC,
/// Precompiled, Lowercase...), pre-tokenizer, decoder, template or added-token option (`single_word`)
/// is refused by name, never approximated.
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

/// A refusal naming tokenizer.json and the field at fault.
struct TokenizerJSONRefusal {
    let file: String

    func callAsFunction(_ field: String, _ expected: String, _ found: JSONValue?) -> ModelFormatError {
        ModelFormatError(.unsupportedFeature, file: file, field: field, expected: expected, found: found.map { "\($0)" } ?? "none")
    }
}

/// One entry of `added_tokens`.
struct AddedTokenEntry {
    let index: Int
    let id: Int
    let content: String
    let special: Bool
    let object: [String: JSONValue]
}

func tokenizerVocabulary(huggingFaceTokenizer file: String, config configFile: String) throws -> TokenizerVocabulary {
    guard let data = FileManager.default.contents(atPath: file) else {
        throw ModelFormatError(.fileNotFound, file: file, field: "file", expected: "tokenizer.json beside config.json", found: "no such file")
    }
    guard let root = JSONValue.parse(data)?.object else {
        throw ModelFormatError(.malformed, file: file, field: "tokenizer.json", expected: "a JSON object", found: "unparseable JSON")
    }
    let refuse = TokenizerJSONRefusal(file: file)
    guard let model = root["model"]?.object, model["type"]?.string == "BPE" else {
        throw refuse("model.type", "BPE", root["model"]?.object?["type"])
    }

    // Tokens by id: the BPE vocabulary (read key by key: see JSONMembers), then the added tokens.
    guard model["vocab"]?.object != nil, let vocab = JSONMembers.integers(at: ["model", "vocab"], in: data) else {
        throw refuse("model.vocab", "an object of token → id", model["vocab"])
    }
    var byID: [Int: String] = [:]
    for (text, id) in vocab {
        guard id >= 0 else { throw refuse("model.vocab.\(text)", "a non-negative id", .integer(id)) }
        byID[id] = text
    }
    let modelIDs = Set(byID.keys)
    var added: [AddedTokenEntry] = []
    var types: [Int: Int32] = [:]
    for (i, entry) in (root["added_tokens"]?.array ?? []).enumerated() {
        guard let o = entry.object, let id = o["id"]?.integer, let text = o["content"]?.string else {
            throw refuse("added_tokens", "objects with id and content", entry)
        }
        guard id >= 0 else { throw refuse("added_tokens[\(i)].id", "a non-negative id", .integer(id)) }
        let special = o["special"]?.bool == true
        added.append(AddedTokenEntry(index: i, id: id, content: text, special: special, object: o))
        byID[id] = text
        types[id] = special ? 3 : 4
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
    let index = Dictionary(tokens.enumerated().map { (TokenText($1), $0) }, uniquingKeysWith: { a, _ in a })
    let config = FileManager.default.contents(atPath: configFile).flatMap { JSONValue.parse($0)?.object } ?? [:]
    let conventions = try specialTokenConventions(root: root, config: config, index: index, refuse: refuse)

    var vocabulary = TokenizerVocabulary(
        model: "gpt2", tokens: tokens, tokenTypes: [], merges: merges,
        bosID: conventions.bos, eosID: conventions.eos, unknownID: conventions.named("unk_token"),
        paddingID: conventions.named("pad_token"), addBOS: conventions.addBOS, addEOS: conventions.addEOS)
    if isByteLevel(root["pre_tokenizer"]) {
        if let n = root["normalizer"], !n.isNull { throw refuse("normalizer", "null (byte-level BPE normalises nothing)", n) }
        if model["byte_fallback"]?.bool == true { throw refuse("model.byte_fallback", "false (a byte-level BPE has every byte)", model["byte_fallback"]) }
        vocabulary.pre = try byteLevelPreTokenizer(root["pre_tokenizer"], refuse: refuse)
    } else {
        for (i, m) in merges.enumerated() where m.utf8.filter({ $0 == 0x20 }).count != 1 {
            throw refuse("model.merges[\(i)]", "two tokens without spaces in them", .string(m))
        }
        let settings = try scalarBPESettings(root: root, model: model, added: added, modelIDs: modelIDs, tokens: tokens, refuse: refuse)
        vocabulary.model = "scalar-bpe"
        vocabulary.scalarBPE = settings
    }
    vocabulary.tokenTypes = (0..<count).map { types[$0] ?? 1 }
    return vocabulary
}

/// Whether the pre-tokenizer is, or has as a step, ByteLevel.
private func isByteLevel(_ pre: JSONValue?) -> Bool {
    let o = pre?.object
    if o?["type"]?.string == "Sequence" { return (o?["pretokenizers"]?.array ?? []).contains { isByteLevel($0) } }
    return o?["type"]?.string == "ByteLevel"
}

/// The `tokenizer.ggml.pre` name of a byte-level pre-tokenizer: ByteLevel (GPT-2's regex),
/// Split(regex) + ByteLevel, or Digits + ByteLevel.
private func byteLevelPreTokenizer(_ pre: JSONValue?, refuse: TokenizerJSONRefusal) throws -> String {
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
    return preName
}

/// Who BOS and EOS are and whether `encode` adds them.
struct SpecialTokenConventions {
    var bos: Int?
    var eos: Int?
    var addBOS: Bool
    var addEOS: Bool
    let config: [String: JSONValue]
    let index: [TokenText: Int]

    /// The id of the token tokenizer_config.json names under `key` ("unk_token").
    func named(_ key: String) -> Int? {
        let v = config[key]
        return (v?.string ?? v?.object?["content"]?.string).flatMap { index[TokenText($0)] }
    }
}

/// tokenizer_config.json's `add_bos_token` / `add_eos_token` and token names where it has them, else the
/// TemplateProcessing post-processor's (alone or in a Sequence): one optional special token before the
/// text, one optional after it.
private func specialTokenConventions(
    root: [String: JSONValue], config: [String: JSONValue], index: [TokenText: Int], refuse: TokenizerJSONRefusal
) throws -> SpecialTokenConventions {
    var c = SpecialTokenConventions(bos: nil, eos: nil, addBOS: false, addEOS: false, config: config, index: index)
    var template: [String: JSONValue]?
    let post = root["post_processor"]?.object
    if post?["type"]?.string == "TemplateProcessing" { template = post }
    if post?["type"]?.string == "Sequence" {
        template = (post?["processors"]?.array ?? []).compactMap(\.object).first { $0["type"]?.string == "TemplateProcessing" }
    }
    var before: Int?, after: Int?
    if let template {
        let single = template["single"]?.array ?? []
        guard let a = single.firstIndex(where: { $0.object?["Sequence"] != nil }),
            single.filter({ $0.object?["Sequence"] != nil }).count == 1, a <= 1, single.count - a - 1 <= 1
        else { throw refuse("post_processor.single", "[special token,] the sequence [, special token]", template["single"]) }
        func id(_ item: JSONValue) throws -> Int {
            guard let name = item.object?["SpecialToken"]?.object?["id"]?.string else {
                throw refuse("post_processor.single", "SpecialToken items around the sequence", item)
            }
            let listed = template["special_tokens"]?.object?[name]?.object?["ids"]?.array
            if let ids = listed, ids.count == 1, let i = ids[0].integer { return i }
            guard let i = index[TokenText(name)] else { throw refuse("post_processor.single", "a special token of the vocabulary", item) }
            return i
        }
        if a == 1 { before = try id(single[0]) }
        if a + 1 < single.count { after = try id(single[a + 1]) }
    }
    c.bos = c.named("bos_token") ?? before
    c.eos = c.named("eos_token") ?? after
    c.addBOS = config["add_bos_token"]?.bool ?? (before != nil)
    c.addEOS = config["add_eos_token"]?.bool ?? (after != nil)
    if config["add_bos_token"] == nil, let before { c.bos = before }
    if config["add_eos_token"] == nil, let after { c.eos = after }
    return c
}
