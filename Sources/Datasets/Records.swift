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

/// Dataset records decoded from bytes, with errors naming the file and the field (the shipped files and
/// files in the same formats go through here; no resource bundle is needed).
public enum DatasetRecords {
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data, file: String) throws(DatasetError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let DecodingError.keyNotFound(key, ctx) {
            throw DatasetError(file: file, message: "record \(ctx.codingPath.map(\.stringValue).joined(separator: ".")): missing field '\(key.stringValue)'")
        } catch let DecodingError.typeMismatch(t, ctx) {
            throw DatasetError(file: file, message: "field \(ctx.codingPath.map(\.stringValue).joined(separator: ".")): expected \(t)")
        } catch {
            throw DatasetError(file: file, message: "\(error)")
        }
    }
}
