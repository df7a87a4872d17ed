/// Why an edit, its statistics or its bookkeeping could not be done.
///
/// Every case says which request, file or field was wrong, what was expected and what was found.
/// An edit that throws leaves the model and every file on disk as they were.
public enum EditError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The prompt template has no `{}` and does not contain the subject either.
    case subjectNotInPrompt(request: String, subject: String, prompt: String)
    /// The subject is empty, or tokenizes to nothing.
    case emptySubject(request: String)
    /// The new target is empty (or only spaces), so there is nothing to teach.
    case emptyTarget(request: String)
    /// The new target is what the model (or the request's own `target_true`) already says.
    case targetEqualsCurrentAnswer(request: String, target: String, currentAnswer: String)
    /// A layer outside `0..<layers`.
    case layerOutOfRange(what: String, layer: Int, layers: Int)
    /// A statistics file does not belong to this model, hook, layer or corpus.
    case statisticsMismatch(file: String, field: String, expected: String, found: String)
    /// A request file that is not valid YAML/JSON or lacks a field; `line` is 1-based.
    case malformedRequestFile(file: String, line: Int, field: String, expected: String, found: String)
    /// A hyperparameter file that cannot be used.
    case malformedHyperparameters(file: String, field: String, expected: String, found: String)
    /// A computed quantity is NaN or infinite.
    case nonFinite(what: String)
    /// A ledger that does not match the model it is applied to, or is damaged.
    case ledgerMismatch(file: String, field: String, expected: String, found: String)
    /// An evaluation checkpoint that belongs to another run (other settings, model or records), or is damaged.
    case checkpointMismatch(file: String, field: String, expected: String, found: String)
    /// The ledger holds no edit to revert, or no edit with that index.
    case nothingToRevert(file: String, requested: String)
    /// The method cannot run on this model family as it stands.
    case unsupported(what: String, reason: String)
    /// A linear solve or factorisation failed.
    case linearAlgebra(what: String, reason: String)
    /// An HDF5 or file operation failed.
    case storage(file: String, reason: String)
    /// The forward pass refused the prompts (too long, token out of range).
    case forward(what: String, reason: String)

    public var description: String {
        switch self {
        case .subjectNotInPrompt(let r, let s, let p):
            return "request \(r): field prompt: expected a template with {} or containing the subject '\(s)', found '\(p)'"
        case .emptySubject(let r):
            return "request \(r): field subject: expected a non-empty subject, found an empty one"
        case .emptyTarget(let r):
            return "request \(r): field target_new: expected a non-empty target, found an empty one"
        case .targetEqualsCurrentAnswer(let r, let t, let a):
            return "request \(r): field target_new: expected a target different from the current answer, found '\(t)' (the model already answers '\(a)')"
        case .layerOutOfRange(let w, let l, let n):
            return "\(w): expected a layer in 0...\(n - 1), found \(l)"
        case .statisticsMismatch(let f, let field, let e, let found):
            return "\(f): attribute \(field): expected \(e), found \(found)"
        case .malformedRequestFile(let f, let line, let field, let e, let found):
            return "\(f):\(line): \(field): expected \(e), found \(found)"
        case .malformedHyperparameters(let f, let field, let e, let found):
            return "\(f): field \(field): expected \(e), found \(found)"
        case .nonFinite(let w):
            return "\(w) is not finite (NaN or infinity)"
        case .ledgerMismatch(let f, let field, let e, let found):
            return "\(f): \(field): expected \(e), found \(found)"
        case .checkpointMismatch(let f, let field, let e, let found):
            return "\(f): \(field): expected \(e), found \(found); use another --resume folder or delete this one to start again"
        case .nothingToRevert(let f, let r):
            return "\(f): no edit to revert (\(r))"
        case .unsupported(let w, let r):
            return "\(w) is not supported: \(r)"
        case .linearAlgebra(let w, let r):
            return "\(w): \(r)"
        case .storage(let f, let r):
            return "\(f): \(r)"
        case .forward(let w, let r):
            return "\(w): \(r)"
        }
    }
}
