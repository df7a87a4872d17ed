import ModelFormats
import Tokenization

/// The settings of a tokenizer.json's SentencePiece-converted BPE (no ByteLevel pre-tokenizer), as the
/// Hub writes them for Llama 2, Mistral and Phi-3 (normalizer `Sequence[Prepend("▁"), Replace(" ", "▁")]`,
/// no pre-tokenizer), for Gemma (`Replace(" ", "▁")`, `Split(" ")`), and as transformers' non-legacy
/// conversion writes them (`Metaspace`). Each part not listed in `ScalarBPESettings` is refused by name.
func scalarBPESettings(
    root: [String: JSONValue], model: [String: JSONValue], added: [AddedTokenEntry], modelIDs: Set<Int>, tokens: [String],
    refuse: TokenizerJSONRefusal
) throws -> ScalarBPESettings {
    var s = ScalarBPESettings()

    // The normalizer: Prepend("▁") and Replace(" ", "▁"), each at most once, in either order (the
    // result is the same), alone or in a Sequence.
    for (step, field) in steps(root["normalizer"], "normalizer", list: "normalizers") {
        let o = step.object ?? [:]
        switch o["type"]?.string {
        case "Replace" where o["pattern"]?.object?["String"]?.string == " " && o["content"]?.string == "▁" && !s.replacesSpaces:
            s.replacesSpaces = true
        case "Prepend" where o["prepend"]?.string == "▁" && !s.prependsMark:
            s.prependsMark = true
        default:
            throw refuse(field, "Prepend(\"▁\") or Replace(\" \", \"▁\"), or a byte-level pre-tokenizer", step)
        }
    }

    // The pre-tokenizer: Metaspace, or Split(" ") where spaces are already "▁" (so it cuts nothing).
    for (step, field) in steps(root["pre_tokenizer"], "pre_tokenizer", list: "pretokenizers") {
        let o = step.object ?? [:]
        switch o["type"]?.string {
        case "Metaspace" where s.metaspace == nil:
            let split = o["split"] ?? .bool(true)
            guard let splits = split.bool else { throw refuse(field + ".split", "true or false", split) }
            s.metaspace = .init(prependScheme: try prependScheme(o, field, refuse), split: splits)
        case "Split" where o["pattern"]?.object?["String"]?.string == " " && o["invert"]?.bool != true
            && (s.replacesSpaces || s.metaspace != nil):
            break
        default:
            throw refuse(
                field, "ByteLevel (byte-level BPE), Metaspace(\"▁\"), or Split(\" \") after spaces became \"▁\"", step)
        }
    }

    // The model.
    if let d = model["dropout"], !d.isNull, d.number != 0 { throw refuse("model.dropout", "null", d) }
    for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
        if let v = model[key], !v.isNull, v.string != "" { throw refuse("model.\(key)", "null", v) }
    }
    func flag(_ key: String) throws -> Bool {
        guard let v = model[key], !v.isNull else { return false }
        guard let b = v.bool else { throw refuse("model.\(key)", "true or false", v) }
        return b
    }
    s.byteFallback = try flag("byte_fallback")
    s.fuseUnknown = try flag("fuse_unk")
    s.ignoreMerges = try flag("ignore_merges")
    if let unk = model["unk_token"], !unk.isNull {
        guard let name = unk.string, let id = tokens.indices.first(where: { modelIDs.contains($0) && tokens[$0].utf8.elementsEqual(name.utf8) })
        else { throw refuse("model.unk_token", "null or a token of model.vocab", unk) }
        s.unknownID = id
    }

    // Added tokens.
    for a in added {
        let field = "added_tokens[\(a.index)]"
        if a.object["single_word"]?.bool == true { throw refuse(field + ".single_word", "false", a.object["single_word"]) }
        if modelIDs.contains(a.id), !tokens[a.id].utf8.elementsEqual(a.content.utf8) {
            throw refuse(field + ".content", "the text model.vocab gives id \(a.id)", .string(a.content))
        }
        if !modelIDs.contains(a.id) { s.addedOnlyIDs.insert(a.id) }
        if a.object["normalized"]?.bool ?? !a.special { s.normalizedIDs.insert(a.id) }
        if a.object["lstrip"]?.bool == true { s.leftStrippingIDs.insert(a.id) }
        if a.object["rstrip"]?.bool == true { s.rightStrippingIDs.insert(a.id) }
    }

    // The decoder chain.
    if let d = root["decoder"], !d.isNull {
        s.decoder = try steps(d, "decoder", list: "decoders").map { step, field in try decodeStep(step, field, refuse) }
    }
    return s
}

/// A step or Sequence of steps, with the field each is named by.
private func steps(_ value: JSONValue?, _ field: String, list: String) -> [(JSONValue, String)] {
    guard let value, !value.isNull else { return [] }
    guard value.object?["type"]?.string == "Sequence" else { return [(value, field)] }
    return (value.object?[list]?.array ?? []).enumerated().map { ($1, "\(field).\(list)[\($0)]") }
}

/// Metaspace's replacement (which must be "▁") and prepend scheme, read as HF reads them: `prepend_scheme`
/// (default "always"), or an older file's `add_prefix_space: false` for "never".
private func prependScheme(_ o: [String: JSONValue], _ field: String, _ refuse: TokenizerJSONRefusal) throws -> ScalarBPESettings.PrependScheme {
    guard o["replacement"]?.string == "▁" else { throw refuse(field + ".replacement", "\"▁\"", o["replacement"]) }
    var scheme = ScalarBPESettings.PrependScheme.always
    if let p = o["prepend_scheme"] {
        guard let name = p.string, let known = ScalarBPESettings.PrependScheme(rawValue: name) else {
            throw refuse(field + ".prepend_scheme", "\"first\", \"always\" or \"never\"", p)
        }
        scheme = known
    }
    if o["add_prefix_space"]?.bool == false {
        guard o["prepend_scheme"] == nil || scheme == .never else {
            throw refuse(field + ".add_prefix_space", "a prepend_scheme that agrees with it", o["add_prefix_space"])
        }
        scheme = .never
    }
    return scheme
}

private func decodeStep(_ step: JSONValue, _ field: String, _ refuse: TokenizerJSONRefusal) throws -> ScalarBPESettings.DecodeStep {
    let o = step.object ?? [:]
    switch o["type"]?.string {
    case "Replace":
        guard let pattern = o["pattern"]?.object?["String"]?.string, !pattern.isEmpty, let content = o["content"]?.string else {
            throw refuse(field + ".pattern", "a String pattern and content", o["pattern"])
        }
        return .replace(pattern, content)
    case "ByteFallback": return .byteFallback
    case "Fuse": return .fuse
    case "Strip":
        let content = o["content"]?.string.map { Array($0.unicodeScalars) } ?? []
        guard content.count == 1, let start = o["start"]?.integer, let stop = o["stop"]?.integer, start >= 0, stop >= 0 else {
            throw refuse(field, "Strip with one content character and start, stop counts", step)
        }
        return .strip(content[0], start: start, stop: stop)
    case "Metaspace":
        return .metaspace(try prependScheme(o, field, refuse))
    default:
        throw refuse(field, "Replace, ByteFallback, Fuse, Strip or Metaspace (or ByteLevel for byte-level BPE)", step)
    }
}
