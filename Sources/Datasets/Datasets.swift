import Foundation

/// A dataset file that could not be read, naming the file and what was wrong.
public struct DatasetError: Error, CustomStringConvertible, Sendable {
    public let file: String
    public let message: String
    public var description: String { "\(file): \(message)" }
}

/// One known fact (ROME's known_1000): a prompt the model completes with `attribute`.
public struct KnownFact: Codable, Sendable, Equatable {
    public let knownID: Int
    public let subject: String
    public let attribute: String
    public let template: String
    public let prediction: String
    public let prompt: String
    public let relationID: String

    enum CodingKeys: String, CodingKey {
        case knownID = "known_id", subject, attribute, template, prediction, prompt, relationID = "relation_id"
    }
}

/// A CounterFact record in the ROME shape.
public struct CounterFactRecord: Codable, Sendable, Equatable {
    public struct Target: Codable, Sendable, Equatable {
        public let str: String
        public let id: String?
    }
    public struct Rewrite: Codable, Sendable, Equatable {
        /// Template with `{}` for the subject.
        public let prompt: String
        public let relationID: String?
        public let targetNew: Target
        public let targetTrue: Target
        public let subject: String
        enum CodingKeys: String, CodingKey {
            case prompt, relationID = "relation_id", targetNew = "target_new", targetTrue = "target_true", subject
        }
    }
    public let caseID: Int
    public let requestedRewrite: Rewrite
    public let paraphrasePrompts: [String]
    public let neighborhoodPrompts: [String]
    public let attributePrompts: [String]?
    public let generationPrompts: [String]?

    enum CodingKeys: String, CodingKey {
        case caseID = "case_id", requestedRewrite = "requested_rewrite", paraphrasePrompts = "paraphrase_prompts"
        case neighborhoodPrompts = "neighborhood_prompts", attributePrompts = "attribute_prompts"
        case generationPrompts = "generation_prompts"
    }
}

/// A zsRE record (MEND/EasyEdit shape).
public struct ZSRERecord: Codable, Sendable, Equatable {
    public let subject: String
    /// The question.
    public let src: String
    /// The new answer.
    public let alt: String
    public let answers: [String]
    public let rephrase: String
    /// An unrelated question (locality) and its answer.
    public let loc: String
    public let locAns: String

    enum CodingKeys: String, CodingKey {
        case subject, src, alt, answers, rephrase, loc, locAns = "loc_ans"
    }
}

/// The data files shipped with Locus (see Resources/SOURCES.md for sources and licences).
public enum Datasets {
    static func url(_ name: String, _ ext: String) throws -> URL {
        guard let u = Bundle.module.url(forResource: name, withExtension: ext) else {
            throw DatasetError(file: "\(name).\(ext)", message: "missing from the Datasets resources")
        }
        return u
    }

    static func decode<T: Decodable>(_ type: T.Type, from url: URL) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(contentsOf: url))
        } catch let DecodingError.keyNotFound(key, ctx) {
            throw DatasetError(file: url.path, message: "record \(ctx.codingPath.map(\.stringValue).joined(separator: ".")): missing field '\(key.stringValue)'")
        } catch let DecodingError.typeMismatch(t, ctx) {
            throw DatasetError(file: url.path, message: "field \(ctx.codingPath.map(\.stringValue).joined(separator: ".")): expected \(t)")
        } catch {
            throw DatasetError(file: url.path, message: "\(error)")
        }
    }

    public static func knownFacts() throws -> [KnownFact] { try decode([KnownFact].self, from: url("known_1000", "json")) }

    /// CounterFact records from the shipped file, or from a file in the ROME format.
    public static func counterFact(path: String? = nil) throws -> [CounterFactRecord] {
        try decode([CounterFactRecord].self, from: path.map { URL(fileURLWithPath: $0) } ?? url("counterfact", "json"))
    }

    public static func zsRE(path: String? = nil) throws -> [ZSRERecord] {
        try decode([ZSRERecord].self, from: path.map { URL(fileURLWithPath: $0) } ?? url("zsre_eval", "json"))
    }

    /// WikiText-2 raw (test split) as text.
    public static func wikiText() throws -> String {
        try String(contentsOf: url("wikitext-2-raw-test", "txt"), encoding: .utf8)
    }

    /// A stable hash of the WikiText file's bytes, recorded with statistics computed from it.
    public static func wikiTextURL() throws -> URL { try url("wikitext-2-raw-test", "txt") }
}
