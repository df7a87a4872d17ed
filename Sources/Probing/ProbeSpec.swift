/// A probe experiment as data (the YAML files in `Probes/`): which model, which prompts or dataset slice, which
/// method with which options, and where results go. The CLI reads the YAML into this and runs it.
public struct ProbeSpec: Codable, Sendable, Equatable {
    public enum Method: String, Codable, Sendable, CaseIterable {
        case trace, lens, memories, neurons
    }

    public struct Prompt: Codable, Sendable, Equatable {
        public var prompt: String
        public var subject: String?
        public var target: String?
    }

    /// A slice of a shipped dataset (only known_1000 for now), e.g. `range: "0..<1209"`, `count: 100`.
    public struct DatasetSlice: Codable, Sendable, Equatable {
        public var name: String
        public var range: String
        /// With `trace`: how many correctly predicted facts to average.
        public var count: Int?
    }

    /// Options of the method; names as the CLI's options.
    public struct Options: Codable, Sendable, Equatable {
        public var samples: Int?
        public var noise: String?
        public var window: Int?
        public var kinds: [String]?
        public var seed: Int?
        public var targetPolicy: String?
        public var top: Int?
        public var keys: Int?
        public var layers: [Int]?
        public var mine: [String]?
        public var mineTokens: Int?
        public var steps: Int?
        public var threshold: Double?
        public var naive: Bool?
        public init() {}
    }

    public var description: String?
    public var model: String?
    public var method: Method
    public var prompts: [Prompt]?
    public var dataset: DatasetSlice?
    public var options: Options?
    /// Output folder (one subfolder per prompt when there are several).
    public var out: String?

    /// Checks what the method needs, naming the file and field that is wrong.
    public func validate(file: String) throws(ProbingError) {
        let hasPrompts = !(prompts ?? []).isEmpty
        switch method {
        case .trace:
            if let d = dataset {
                guard d.name == "known_1000" else { throw .badFile(path: file, field: "dataset.name", expected: "known_1000", found: d.name) }
            } else {
                guard hasPrompts else { throw .badFile(path: file, field: "prompts", expected: "prompts with subjects, or a dataset", found: "none") }
                for (i, p) in prompts!.enumerated() where p.subject == nil {
                    throw .badFile(path: file, field: "prompts[\(i)].subject", expected: "the subject to corrupt", found: "nothing")
                }
            }
        case .lens, .neurons:
            guard hasPrompts else { throw .badFile(path: file, field: "prompts", expected: "at least one prompt", found: "none") }
        case .memories:
            guard hasPrompts || !(options?.mine ?? []).isEmpty else {
                throw .badFile(path: file, field: "prompts", expected: "a prompt or options.mine", found: "neither")
            }
        }
    }
}
