import Foundation
import Tokenization

/// A prompt as token ids, with the position of the subject's last token (ROME's `subject_last`
/// fact token: where the key `k*` is read and the value `v*` is written).
public struct SubjectPrompt: Sendable, Equatable {
    public var tokens: [Int]
    public var subjectLast: Int

    public init(tokens: [Int], subjectLast: Int) {
        precondition(subjectLast >= 0 && subjectLast < tokens.count)
        self.tokens = tokens
        self.subjectLast = subjectLast
    }
}

/// Turns templates, subjects and targets into tokens the way the reference code does.
///
/// The subject's position follows `repr_tools.get_words_idxs_in_templates`: the template is cut at
/// `{}`; a space before `{}` moves onto the subject (" Paris"); the pieces are tokenized separately
/// and the subject's last token is at `len(prefix) + len(subject) − 1`. Locus feeds the model the
/// concatenation of those pieces, so the index is exact by construction (the reference tokenizes
/// the joined string for the model, which gives the same ids whenever a piece boundary is also a
/// pre-tokenizer boundary, as it is for the space-led subjects of CounterFact).
public struct PromptEncoder: Sendable {
    public let tokenizer: Tokenizer
    /// The ids the tokenizer puts before any text (BOS for Gemma; nothing for SmolLM2 and GPT-2).
    public let leading: [Int]

    public init(tokenizer: Tokenizer) {
        self.tokenizer = tokenizer
        let with = tokenizer.encode("a", addSpecialTokens: true)
        let without = tokenizer.encode("a", addSpecialTokens: false)
        leading = with.count > without.count && with.last == without.last ? Array(with.prefix(with.count - without.count)) : []
    }

    /// A whole prompt, with the model's BOS convention.
    public func prompt(_ text: String) -> [Int] { leading + tokenizer.encode(text, addSpecialTokens: false) }

    /// Text that continues a prompt (a target): no special tokens.
    public func continuation(_ text: String) -> [Int] { tokenizer.encode(text, addSpecialTokens: false) }

    /// The target as the reference tokenizes it: with a leading space added when it has none.
    public func target(_ text: String) -> [Int] { continuation(text.hasPrefix(" ") ? text : " " + text) }

    /// `template` (one `{}`) with `subject` filled in, and the subject's last token position.
    public func subjectPrompt(template: String, subject: String) throws(EditError) -> SubjectPrompt {
        guard let hole = template.range(of: "{}") else {
            throw .subjectNotInPrompt(request: template, subject: subject, prompt: template)
        }
        var prefix = String(template[..<hole.lowerBound])
        let suffix = String(template[hole.upperBound...])
        var word = subject
        if !prefix.isEmpty, prefix.hasSuffix(" ") {
            prefix.removeLast()
            word = " " + subject.trimmingSpaces
        }
        let p = prefix.isEmpty ? [] : continuation(prefix)
        let w = continuation(word)
        guard !w.isEmpty else { throw .emptySubject(request: template) }
        let s = suffix.isEmpty ? [] : continuation(suffix)
        let tokens = leading + p + w + s
        return SubjectPrompt(tokens: tokens, subjectLast: leading.count + p.count + w.count - 1)
    }
}
