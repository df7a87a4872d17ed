import Models

/// Bad input to a probe, saying what was asked, what was found and what would work.
public enum ProbingError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The subject's text is not in the prompt; `tokens` are the prompt's tokens as decoded pieces.
    case subjectNotFound(subject: String, prompt: String, tokens: [String])
    /// The target is several tokens and the caller asked for a single one.
    case multiTokenTarget(target: String, tokens: [String])
    /// The target encodes to no token at all.
    case emptyTarget(target: String)
    /// A dataset slice that selects nothing.
    case emptyDatasetSlice(dataset: String, range: String, available: Int)
    /// A hook name that does not exist (with the closest names).
    case hook(HookError)
    /// An option out of its range: which option, what it must be, what was given.
    case invalidOption(name: String, expected: String, found: String)
    /// A file Probing reads that is not what it should be.
    case badFile(path: String, field: String, expected: String, found: String)
    /// No fact in a set could be used (for example none was predicted correctly).
    case noUsableFacts(String)

    public var description: String {
        switch self {
        case .subjectNotFound(let s, let p, let t):
            return "subject '\(s)' is not in the prompt '\(p)'; the prompt's tokens are \(t.map { "'\($0)'" }.joined(separator: " "))"
        case .multiTokenTarget(let t, let toks):
            return "target '\(t)' is \(toks.count) tokens (\(toks.map { "'\($0)'" }.joined(separator: " "))); use its first token '\(toks.first ?? "")' or ask for the sequence probability"
        case .emptyTarget(let t): return "target '\(t)' encodes to no token"
        case .emptyDatasetSlice(let d, let r, let n): return "dataset \(d): slice \(r) selects no record (the dataset has \(n))"
        case .hook(let e): return e.description
        case .invalidOption(let n, let e, let f): return "option \(n): expected \(e), found \(f)"
        case .badFile(let p, let f, let e, let found): return "\(p): \(f): expected \(e), found \(found)"
        case .noUsableFacts(let s): return s
        }
    }
}

/// Something a probe did that the caller should know about but that is not an error.
public enum ProbingNote: Codable, Equatable, Sendable, CustomStringConvertible {
    /// A multi-token target was scored by its first token only.
    case firstTokenOfTarget(target: String, tokens: [String])

    public var description: String {
        switch self {
        case .firstTokenOfTarget(let t, let toks):
            return "target '\(t)' is \(toks.count) tokens (\(toks.map { "'\($0)'" }.joined(separator: " "))); scoring its first token '\(toks[0])' only"
        }
    }
}
