import Models
import Tokenization

/// How a target made of several tokens is scored.
public enum TargetPolicy: String, Codable, Sendable, CaseIterable {
    /// The first token's probability (what the ROME reference does), with a note saying so.
    case firstToken = "first-token"
    /// The probability of the whole token sequence, `Π p(tₖ | prompt, t₍<ₖ₎)`.
    case sequence
    /// A typed error when the target is more than one token.
    case single
}

/// A prompt as token ids, with the decoded piece of each token (what a person reads on a heatmap).
public struct PromptTokens: Codable, Sendable, Equatable {
    public let text: String
    public let ids: [Int]
    public let pieces: [String]

    public init(text: String, ids: [Int], pieces: [String]) {
        self.text = text
        self.ids = ids
        self.pieces = pieces
    }

    public init(_ text: String, tokenizer: Tokenizer, addSpecialTokens: Bool = true) {
        let ids = tokenizer.encode(text, addSpecialTokens: addSpecialTokens)
        self.init(text: text, ids: ids, pieces: ids.map { tokenizer.decode([$0]) })
    }

    /// The token range covering `subject`, found as the ROME reference does (`find_token_range`): the decoded
    /// pieces are joined, the first occurrence of the subject's text is located, and the range runs from the
    /// token in which it starts to the token in which it ends.
    public func range(of subject: String) throws(ProbingError) -> Range<Int> {
        // Positions count Unicode scalars, as Python's str indices do.
        let whole = Array(pieces.joined().unicodeScalars), sub = Array(subject.unicodeScalars)
        guard !sub.isEmpty, sub.count <= whole.count,
            let start = (0...(whole.count - sub.count)).first(where: { k in whole[k..<(k + sub.count)].elementsEqual(sub) })
        else { throw .subjectNotFound(subject: subject, prompt: text, tokens: pieces) }
        let end = start + sub.count
        var loc = 0
        var first: Int?
        for (i, p) in pieces.enumerated() {
            loc += p.unicodeScalars.count
            if first == nil && loc > start { first = i }
            if loc >= end { return first!..<(i + 1) }
        }
        throw .subjectNotFound(subject: subject, prompt: text, tokens: pieces)
    }
}

/// The answer a probe scores: its token ids (one unless a sequence was asked for) and any note.
public struct Target: Codable, Sendable, Equatable {
    public let text: String
    /// Tokens scored: one for `.firstToken`/`.single`, all of them for `.sequence`.
    public let ids: [Int]
    public let pieces: [String]
    public let notes: [ProbingNote]

    public init(ids: [Int], pieces: [String], text: String, notes: [ProbingNote] = []) {
        self.ids = ids
        self.pieces = pieces
        self.text = text
        self.notes = notes
    }

    /// Encodes a continuation such as " Paris" (no BOS) and applies the policy.
    public init(_ text: String, tokenizer: Tokenizer, policy: TargetPolicy = .firstToken) throws(ProbingError) {
        let all = tokenizer.encode(text, addSpecialTokens: false)
        let pieces = all.map { tokenizer.decode([$0]) }
        guard !all.isEmpty else { throw .emptyTarget(target: text) }
        if all.count == 1 {
            self.init(ids: all, pieces: pieces, text: text)
            return
        }
        switch policy {
        case .firstToken:
            self.init(ids: [all[0]], pieces: [pieces[0]], text: text, notes: [.firstTokenOfTarget(target: text, tokens: pieces)])
        case .sequence:
            self.init(ids: all, pieces: pieces, text: text)
        case .single:
            throw .multiTokenTarget(target: text, tokens: pieces)
        }
    }
}
