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
/// (SplitMix64; sample i of the whole list uses seed `seed + i`, all samples of a group advanced in one batch), so the templates are reproducible,
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
        for p in lengthParams where p[1] > 0 {
            let prompts = [[Int]](repeating: [start], count: p[1])
            let seeds = (0..<UInt64(p[1])).map { seed &+ i &+ $0 }
            i += UInt64(p[1])
            for ids in try sample(transformer, prompts: prompts, length: p[0], seeds: seeds) {
                let text = tokenizer.decode(Array(ids.dropFirst()))
                // The reference would fail on braces in sampled text (str.format); MEMIT's code blanks them, so do we.
                out.append(clean(text).replacingOccurrences(of: "{", with: " ").replacingOccurrences(of: "}", with: " ") + ". {}")
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
            var prompts: [[Int]] = []
            for starter in ["The", "Therefore", "Because", "I", "You"] {
                for _ in 0..<(p[1] / 5) { prompts.append(encoder.prompt(starter)) }
            }
            guard !prompts.isEmpty else { continue }
            let seeds = (0..<UInt64(prompts.count)).map { seed &+ i &+ $0 }
            i += UInt64(prompts.count)
            for ids in try sample(transformer, prompts: prompts, length: p[0], seeds: seeds) {
                let text = tokenizer.decode(Array(ids.dropFirst(encoder.leading.count)))
                out.append(clean(text).replacingOccurrences(of: "{", with: " ").replacingOccurrences(of: "}", with: " ") + ". {}")
            }
        }
        return out
    }

    /// The token the reference starts ROME's samples from: GPT-2's `<|endoftext|>`, which SmolLM2
    /// also has; otherwise the model's BOS (or EOS).
    static func boundaryToken(_ tokenizer: Tokenizer) -> Int {
        tokenizer.id(ofPiece: "<|endoftext|>") ?? tokenizer.bosID ?? tokenizer.eosID ?? 0
    }

    /// Each prompt continued to `length` tokens in all by top-k (k = 5) sampling at temperature 1,
    /// all sequences advanced together (one forward call per step for the whole batch, as the
    /// reference `generate_fast` does); sequence `i` draws from `SplitMix64(seed: seeds[i])`.
    static func sample(_ transformer: Transformer, prompts: [[Int]], length: Int, seeds: [UInt64]) throws(EditError) -> [[Int]] {
        var seqs = prompts
        var rngs = seeds.map { SplitMix64(seed: $0) }
        let V = transformer.config.vocabSize
        while true {
            let active = seqs.indices.filter { seqs[$0].count < length }
            guard !active.isEmpty else { break }
            let r: ForwardResult
            do {
                r = try transformer.forward(active.map { seqs[$0] }, logits: .last)
            } catch {
                throw .forward(what: "context template generation", reason: error.description)
            }
            for (b, i) in active.enumerated() {
                let row = Array(r.logits.data[(b * V)..<((b + 1) * V)])
                seqs[i].append(topK(row, k: 5, rng: &rngs[i]))
            }
        }
        return seqs
    }

    /// Samples from the softmax of the `k` largest logits.
    static func topK(_ logits: [Float], k: Int, rng: inout SplitMix64) -> Int {
        var best: [(Float, Int)] = []
        for (i, v) in logits.enumerated() where best.count < k || v > best[best.count - 1].0 {
            best.append((v, i))
            best.sort { $0.0 > $1.0 }
            if best.count > k { best.removeLast() }
        }
        let m = best[0].0
        let w = best.map { exp(Double($0.0 - m)) }
        let total = w.reduce(0, +)
        let u = Double(rng.next() >> 11) / Double(1 << 53) * total
        var acc = 0.0
        for (j, x) in w.enumerated() {
            acc += x
            if u < acc { return best[j].1 }
        }
        return best[best.count - 1].1
    }

    static func clean(_ text: String) -> String {
        text.decomposedStringWithCompatibilityMapping.replacingOccurrences(of: "\n\n", with: " ")
            .replacingOccurrences(of: "<|endoftext|>", with: "")
    }
}
