import Datasets

/// One fact to write into a model: "{subject} ..." should now be completed with `targetNew`.
///
/// The prompt is a template with one `{}` where the subject goes ("{} is located in the city of").
/// Paraphrases and neighbours are full prompts used only to verify the edit: paraphrases should now
/// give `targetNew`, neighbours (other subjects) should keep their answer (`neighbourAnswer`, which
/// is `targetTrue` for CounterFact records).
public struct EditRequest: Sendable, Equatable, Codable {
    /// How the request is named in messages and in the ledger ("case 18", "Edits/eiffel.yaml:1").
    public var id: String
    /// The subject whose fact is rewritten ("Eiffel Tower"); its last token is where ROME reads the key.
    public var subject: String
    /// Template with exactly one `{}` for the subject.
    public var prompt: String
    /// The new answer, with its leading space (" Rome").
    public var targetNew: String
    /// The answer the model gives now (" Paris"), when known; CounterFact scores need it.
    public var targetTrue: String?
    /// Other wordings of the prompt, with the subject written in (generalisation).
    public var paraphrases: [String]
    /// Prompts about other subjects whose answer must not change (specificity).
    public var neighbours: [String]
    /// The answer neighbours should keep (CounterFact: `targetTrue`; zsRE: `loc_ans`).
    public var neighbourAnswer: String?
    /// Prompts for generation checks (n-gram entropy).
    public var generationPrompts: [String]

    /// Builds a request, turning a prompt that contains the subject literally into a template.
    ///
    /// ```swift
    /// let r = try EditRequest(id: "eiffel", subject: "Eiffel Tower",
    ///                         prompt: "The Eiffel Tower is located in the city of",
    ///                         targetNew: " Rome", targetTrue: " Paris")
    /// ```
    ///
    /// - Throws: `EditError.emptySubject`, `.emptyTarget`, or `.subjectNotInPrompt` when the prompt has
    ///   neither the subject nor exactly one `{}`.
    public init(
        id: String, subject: String, prompt: String, targetNew: String, targetTrue: String? = nil,
        paraphrases: [String] = [], neighbours: [String] = [], neighbourAnswer: String? = nil,
        generationPrompts: [String] = []
    ) throws(EditError) {
        guard !subject.trimmingSpaces.isEmpty else { throw .emptySubject(request: id) }
        guard !targetNew.trimmingSpaces.isEmpty else { throw .emptyTarget(request: id) }
        var template = prompt
        let holes = prompt.components(separatedBy: "{}").count - 1
        if holes == 0 {
            guard let range = prompt.range(of: subject) else {
                throw .subjectNotInPrompt(request: id, subject: subject, prompt: prompt)
            }
            template = prompt.replacingCharacters(in: range, with: "{}")
        } else if holes > 1 {
            throw .subjectNotInPrompt(request: id, subject: subject, prompt: prompt + " (more than one {})")
        }
        if let t = targetTrue, t.trimmingSpaces == targetNew.trimmingSpaces {
            throw .targetEqualsCurrentAnswer(request: id, target: targetNew, currentAnswer: t)
        }
        self.id = id
        self.subject = subject
        self.prompt = template
        self.targetNew = targetNew
        self.targetTrue = targetTrue
        self.paraphrases = paraphrases
        self.neighbours = neighbours
        self.neighbourAnswer = neighbourAnswer ?? targetTrue
        self.generationPrompts = generationPrompts
    }

    /// The prompt with the subject filled in.
    public var filledPrompt: String { prompt.replacingOccurrences(of: "{}", with: subject) }

    /// A CounterFact record as ROME's evaluation uses it.
    public init(counterFact r: CounterFactRecord) throws(EditError) {
        let w = r.requestedRewrite
        try self.init(
            id: "case \(r.caseID)", subject: w.subject, prompt: w.prompt, targetNew: w.targetNew.str,
            targetTrue: w.targetTrue.str, paraphrases: r.paraphrasePrompts, neighbours: r.neighborhoodPrompts,
            neighbourAnswer: w.targetTrue.str, generationPrompts: r.generationPrompts ?? [])
    }

    /// A zsRE record as MEND/ROME/EasyEdit use it: the question with the subject as `{}`, the new
    /// answer `alt`, the rephrased question, and an unrelated question with its answer.
    public init(zsRE r: ZSRERecord, index: Int) throws(EditError) {
        try self.init(
            id: "zsre \(index)", subject: r.subject, prompt: r.src, targetNew: r.alt, targetTrue: nil,
            paraphrases: [r.rephrase], neighbours: [r.loc + "?"], neighbourAnswer: r.locAns)
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
