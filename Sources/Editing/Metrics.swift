import Foundation
import Models

/// Mean per-token negative log-likelihoods of the new and the true target after one prompt
/// (the reference `test_batch_prediction`: `target_new` and `target_true` fields).
public struct TargetPair: Sendable, Equatable, Codable {
    public var newNLL: Double
    public var trueNLL: Double
    public var newProbability: Double { exp(-newNLL) }
    public var trueProbability: Double { exp(-trueNLL) }
}

/// The CounterFact scores of one record, before or after an edit.
public struct CounterFactScores: Sendable, Equatable, Codable {
    /// One pair per rewrite prompt (the request's own prompt).
    public var rewrite: [TargetPair]
    /// One pair per paraphrase prompt.
    public var paraphrase: [TargetPair]
    /// One pair per neighbourhood prompt.
    public var neighbourhood: [TargetPair]
    /// n-gram entropy of generated text (nil when not computed).
    public var ngramEntropy: Double?

    /// Efficacy success: fraction of rewrite prompts with P(new) > P(true).
    public var efficacySuccess: Double { mean(rewrite.map { $0.trueNLL > $0.newNLL ? 1 : 0 }) }
    /// Efficacy magnitude: mean of P(new) − P(true).
    public var efficacyMagnitude: Double { mean(rewrite.map { $0.newProbability - $0.trueProbability }) }
    /// Paraphrase success: fraction of paraphrase prompts with P(new) > P(true).
    public var paraphraseSuccess: Double { mean(paraphrase.map { $0.trueNLL > $0.newNLL ? 1 : 0 }) }
    /// Paraphrase magnitude: mean of P(new) − P(true).
    public var paraphraseMagnitude: Double { mean(paraphrase.map { $0.newProbability - $0.trueProbability }) }
    /// Neighbourhood success: fraction of neighbour prompts with P(true) > P(new).
    public var neighbourhoodSuccess: Double { mean(neighbourhood.map { $0.trueNLL < $0.newNLL ? 1 : 0 }) }
    /// Neighbourhood magnitude: mean of P(true) − P(new).
    public var neighbourhoodMagnitude: Double { mean(neighbourhood.map { $0.trueProbability - $0.newProbability }) }
}

func mean(_ xs: [Double]) -> Double { xs.isEmpty ? .nan : xs.reduce(0, +) / Double(xs.count) }

/// The median (the mean of the middle two for an even count; 0 for none).
public func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    if s.isEmpty { return 0 }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// The table of the ROME paper (Meng et al. 2022, Table 4 / `experiments/summarize.py`): every
/// figure is the mean over records of the per-record mean over prompts, in percent.
public struct CounterFactSummary: Sendable, Equatable, Codable {
    public var records: Int
    /// Efficacy score and magnitude: % with P(new) > P(true), mean P(new) − P(true).
    public var ES: Double
    public var EM: Double
    /// Paraphrase score and magnitude.
    public var PS: Double
    public var PM: Double
    /// Neighbourhood score and magnitude: % with P(true) > P(new), mean P(true) − P(new).
    public var NS: Double
    public var NM: Double
    /// Harmonic mean of ES, PS, NS.
    public var S: Double
    /// Generation entropy (weighted 2/3-gram entropy, bits), when computed.
    public var GE: Double?

    public init(_ scores: [CounterFactScores]) {
        records = scores.count
        func pct(_ f: (CounterFactScores) -> Double) -> Double { 100 * mean(scores.map(f).filter { !$0.isNaN }) }
        ES = pct(\.efficacySuccess)
        EM = pct(\.efficacyMagnitude)
        PS = pct(\.paraphraseSuccess)
        PM = pct(\.paraphraseMagnitude)
        NS = pct(\.neighbourhoodSuccess)
        NM = pct(\.neighbourhoodMagnitude)
        let parts = [ES, PS, NS]
        S = parts.allSatisfy { $0 > 0 } ? Double(parts.count) / parts.reduce(0) { $0 + 1 / $1 } : 0
        let ge = scores.compactMap(\.ngramEntropy)
        GE = ge.isEmpty ? nil : 100 * mean(ge)
    }
}

/// zsRE accuracies of one record: per prompt, the fraction of target tokens that are the top
/// prediction under teacher forcing (the reference `eval_utils_zsre`).
public struct ZSREScores: Sendable, Equatable, Codable {
    public var rewrite: [Double]
    public var paraphrase: [Double]
    public var neighbourhood: [Double]
}

public struct ZSRESummary: Sendable, Equatable, Codable {
    public var records: Int
    /// Efficacy, generalisation (paraphrase) and specificity (neighbourhood) accuracy, in percent.
    public var efficacy: Double
    public var generalization: Double
    public var specificity: Double

    public init(_ scores: [ZSREScores]) {
        records = scores.count
        efficacy = 100 * mean(scores.map { mean($0.rewrite) })
        generalization = 100 * mean(scores.map { mean($0.paraphrase) }.filter { !$0.isNaN })
        specificity = 100 * mean(scores.map { mean($0.neighbourhood) }.filter { !$0.isNaN })
    }
}

/// Computes the CounterFact and zsRE metrics, the WikiText perplexity canary and the generation
/// entropy for a model.
public struct Verifier: Sendable {
    public let encoder: PromptEncoder

    public init(encoder: PromptEncoder) { self.encoder = encoder }

    /// CounterFact scores of many requests at once (prompts are batched across requests).
    public func counterFact(_ transformer: Transformer, _ requests: [EditRequest]) throws(EditError) -> [CounterFactScores] {
        var prompts: [[Int]] = []
        var continuations: [[[Int]]] = []
        var layout: [(Int, Int, Int)] = []  // (request, group, count)
        for (ri, r) in requests.enumerated() {
            guard let tTrue = r.targetTrue else {
                throw .unsupported(what: "CounterFact metrics for request \(r.id)", reason: "it has no target_true")
            }
            let groups = [[r.filledPrompt], r.paraphrases, r.neighbours]
            let new = encoder.target(r.targetNew), old = encoder.target(tTrue)
            for (g, ps) in groups.enumerated() {
                for p in ps {
                    prompts.append(encoder.prompt(p))
                    continuations.append([new, old])
                }
                layout.append((ri, g, ps.count))
            }
        }
        let scored = try ReadOut.scoreContinuations(transformer, prompts: prompts, continuations: continuations)
        var out = requests.map { _ in CounterFactScores(rewrite: [], paraphrase: [], neighbourhood: []) }
        var k = 0
        for (ri, g, n) in layout {
            for _ in 0..<n {
                let a = scored[k][0], b = scored[k][1]
                let pair = TargetPair(
                    newNLL: -mean(a.map { Double($0.logProbability) }), trueNLL: -mean(b.map { Double($0.logProbability) }))
                switch g {
                case 0: out[ri].rewrite.append(pair)
                case 1: out[ri].paraphrase.append(pair)
                default: out[ri].neighbourhood.append(pair)
                }
                k += 1
            }
        }
        return out
    }

    /// zsRE accuracies: rewrite and paraphrase prompts against `target_new`, neighbours against their answer.
    public func zsRE(_ transformer: Transformer, _ requests: [EditRequest]) throws(EditError) -> [ZSREScores] {
        var sequences: [[Int]] = []
        var starts: [Int] = []
        var layout: [(Int, Int)] = []
        for (ri, r) in requests.enumerated() {
            let new = encoder.target(r.targetNew)
            for (g, p) in [(0, r.filledPrompt)] + r.paraphrases.map({ (1, $0) }) {
                let ids = encoder.prompt(p)
                sequences.append(ids + new)
                starts.append(ids.count)
                layout.append((ri, g))
            }
            if let ans = r.neighbourAnswer {
                let a = encoder.target(ans)
                for p in r.neighbours where !a.isEmpty {
                    let ids = encoder.prompt(p)
                    sequences.append(ids + a)
                    starts.append(ids.count)
                    layout.append((ri, 2))
                }
            }
        }
        let scored = try ReadOut.score(transformer, sequences: sequences, starts: starts)
        var out = requests.map { _ in ZSREScores(rewrite: [], paraphrase: [], neighbourhood: []) }
        for (i, (ri, g)) in layout.enumerated() {
            let acc = mean(scored[i].map { $0.isArgmax ? 1 : 0 })
            switch g {
            case 0: out[ri].rewrite.append(acc)
            case 1: out[ri].paraphrase.append(acc)
            default: out[ri].neighbourhood.append(acc)
            }
        }
        return out
    }

    /// Perplexity over token sequences (every token after the first of each sequence is scored).
    public func perplexity(_ transformer: Transformer, sequences: [[Int]]) throws(EditError) -> Double {
        let usable = sequences.filter { $0.count >= 2 }
        let scored = try ReadOut.score(transformer, sequences: usable, starts: usable.map { _ in 1 }, batchSize: 8)
        var total = 0.0, n = 0
        for s in scored { for t in s { total -= Double(t.logProbability); n += 1 } }
        return exp(total / Double(max(n, 1)))
    }

    /// Generated continuations (top-k 5 sampling, `length` tokens in all, as the reference
    /// `generate_fast(max_out_len=100)`), and their mean n-gram entropy.
    public func generationEntropy(
        _ transformer: Transformer, prompts: [String], length: Int = 100, seed: UInt64 = 0
    ) throws(EditError) -> (texts: [String], entropy: Double) {
        var texts: [String] = []
        for (i, p) in prompts.enumerated() {
            let ids = encoder.prompt(p)
            let n = max(0, length - ids.count)
            var out: [Int] = []
            do {
                out = try transformer.generate(ids, maxNewTokens: n, sampling: Sampling(temperature: 1, topK: 5, seed: seed &+ UInt64(i)))
            } catch {
                throw .forward(what: "generation for '\(p)'", reason: error.description)
            }
            texts.append(encoder.tokenizer.decode(Array(ids.dropFirst(encoder.leading.count)) + out, skipSpecialTokens: true))
        }
        return (texts, mean(texts.map { NGramEntropy.of($0) }))
    }
}

/// The reference `compute_n_gram_entropy`: for n = 2 and 3, the entropy (bits) of the n-gram
/// frequency distribution of the text's words, weighted 2/3 and 4/3, averaged.
///
/// Words come from a simple tokenizer (runs of letters/digits/apostrophes, and single punctuation
/// marks), close to but not identical with `nltk.word_tokenize`.
public enum NGramEntropy {
    public static func words(_ text: String) -> [String] {
        var out: [String] = []
        var cur = ""
        for ch in text {
            if ch.isLetter || ch.isNumber || ch == "'" {
                cur.append(ch)
            } else {
                if !cur.isEmpty { out.append(cur); cur = "" }
                if !ch.isWhitespace { out.append(String(ch)) }
            }
        }
        if !cur.isEmpty { out.append(cur) }
        return out
    }

    public static func of(_ text: String) -> Double {
        let w = words(text)
        var parts: [Double] = []
        for (n, weight) in [(2, 2.0 / 3), (3, 4.0 / 3)] {
            var counts: [String: Int] = [:]
            if w.count >= n {
                for i in 0...(w.count - n) { counts[w[i..<(i + n)].joined(separator: "\u{1}"), default: 0] += 1 }
            }
            let total = Double(counts.values.reduce(0, +))
            var h = 0.0
            for c in counts.values {
                let f = Double(c) / total
                h -= f * log(f) / log(2)
            }
            parts.append(h * weight)
        }
        return mean(parts)
    }
}
