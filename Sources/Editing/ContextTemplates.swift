import Foundation
import Models
import Tokenization

/// The context prefixes ROME and MEMIT put before the request prompt so the new fact is written
/// for many contexts, not just one sentence: `"{}"` plus `"<generated text>. {}"` for text the
/// model itself samples.
///
/// Matches the reference `generate_fast`: top-k sampling with k = 5 at temperature 1, no stop at
/// EOS, `length` counting the generation prompt's tokens; the decoded text drops the
/// `<|endoftext|>` marker, is NFKD-normalised and has "\n\n" turned into " ". Sampling is seeded
/// (SplitMix64; sample i of the whole list uses seed `seed + i`), so the templates are reproducible,
/// and they are computed from the unedited model once per editing session (never cached globally).
public enum ContextTemplates {
    /// ROME (`rome_main.get_context_templates`): each `[length, count]` pair gives `count` samples
    /// from the document-boundary token.
    public static func rome(
        _ transformer: Transformer, tokenizer: Tokenizer, lengthParams: [[Int]], seed: UInt64
    ) throws(EditError) -> [String] {
        let start = boundaryToken(tokenizer)
        var out = ["{}"]
        var i: UInt64 = 0
        for p in lengthParams {
            for _ in 0..<p[1] {
                let text = try sample(transformer, tokenizer: tokenizer, prompt: [start], keep: 1, length: p[0], seed: seed &+ i)
                // The reference would fail on braces in sampled text (str.format); MEMIT's code blanks them, so do we.
                out.append(clean(text).replacingOccurrences(of: "{", with: " ").replacingOccurrences(of: "}", with: " ") + ". {}")
                i += 1
            }
        }
        return out
    }

    /// MEMIT (`memit_main.get_context_templates`): `count / 5` samples from each of "The",
    /// "Therefore", "Because", "I", "You", with `{` and `}` replaced by spaces.
    public static func memit(
        _ transformer: Transformer, tokenizer: Tokenizer, lengthParams: [[Int]], seed: UInt64
    ) throws(EditError) -> [String] {
        let encoder = PromptEncoder(tokenizer: tokenizer)
        var out = ["{}"]
        var i: UInt64 = 0
        for p in lengthParams {
            for starter in ["The", "Therefore", "Because", "I", "You"] {
                for _ in 0..<(p[1] / 5) {
                    let ids = encoder.prompt(starter)
                    let text = try sample(
                        transformer, tokenizer: tokenizer, prompt: ids, keep: encoder.leading.count, length: p[0], seed: seed &+ i)
                    let generated = clean(text).replacingOccurrences(of: "{", with: " ").replacingOccurrences(of: "}", with: " ")
                    out.append(generated + ". {}")
                    i += 1
                }
            }
        }
        return out
    }

    /// The token the reference starts ROME's samples from: GPT-2's `<|endoftext|>`, which SmolLM2
    /// also has; otherwise the model's BOS (or EOS).
    static func boundaryToken(_ tokenizer: Tokenizer) -> Int {
        tokenizer.id(ofPiece: "<|endoftext|>") ?? tokenizer.bosID ?? tokenizer.eosID ?? 0
    }

    /// The prompt followed by `length − prompt.count` sampled tokens, decoded without the first
    /// `drop` ids (the boundary or BOS token the sample started from).
    static func sample(
        _ transformer: Transformer, tokenizer: Tokenizer, prompt: [Int], keep drop: Int, length: Int, seed: UInt64
    ) throws(EditError) -> String {
        let n = max(0, length - prompt.count)
        var ids = prompt
        if n > 0 {
            do {
                ids += try transformer.generate(prompt, maxNewTokens: n, sampling: Sampling(temperature: 1, topK: 5, seed: seed))
            } catch {
                throw .forward(what: "context template generation", reason: error.description)
            }
        }
        return tokenizer.decode(Array(ids.dropFirst(drop)))
    }

    static func clean(_ text: String) -> String {
        text.decomposedStringWithCompatibilityMapping.replacingOccurrences(of: "\n\n", with: " ")
            .replacingOccurrences(of: "<|endoftext|>", with: "")
    }
}
