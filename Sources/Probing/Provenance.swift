import ArrayStore
import Foundation

/// What produced a stored result: recorded as attributes on every HDF5 file Probing writes.
public struct Provenance: Codable, Sendable, Equatable {
    /// The model file's name (not its directory).
    public var modelFile: String
    public var modelSHA256: String
    /// The program and version that wrote the file, e.g. `locus 0.1.0`.
    public var createdBy: String

    public init(modelFile: String, modelSHA256: String, createdBy: String) {
        self.modelFile = (modelFile as NSString).lastPathComponent
        self.modelSHA256 = modelSHA256
        self.createdBy = createdBy
    }

    /// Version of the layouts of the files Probing writes.
    public static let formatVersion: Int64 = 1

    public var attributes: [String: AttributeValue] {
        ["model_file": .string(modelFile), "model_sha256": .string(modelSHA256), "created_by": .string(createdBy),
         "probing_format": .int(Self.formatVersion)]
    }
}

extension H5File {
    /// A string attribute that must be present (a typed error naming file and field otherwise).
    func requiredString(_ key: String, on object: String = "/") throws -> String {
        guard case .string(let s)? = try attributes(of: object)[key] else {
            throw ProbingError.badFile(path: path, field: "\(object) attribute \(key)", expected: "a string", found: "nothing")
        }
        return s
    }

    /// A 1-D integer array attribute that must be present.
    func requiredIntegers(_ key: String, on object: String = "/") throws -> [Int] {
        guard case .integers(let v, let shape)? = try attributes(of: object)[key], shape.count == 1 else {
            throw ProbingError.badFile(path: path, field: "\(object) attribute \(key)", expected: "a 1-D integer array", found: "nothing")
        }
        return v.map { Int($0) }
    }
}

/// JSON helpers for values stored as attributes.
enum JSONText {
    static func encode<T: Encodable>(_ v: T) -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return String(decoding: (try? e.encode(v)) ?? Data(), as: UTF8.self)
    }
    static func decode<T: Decodable>(_ t: T.Type, _ s: String, file: String, field: String) throws -> T {
        do { return try JSONDecoder().decode(t, from: Data(s.utf8)) } catch {
            throw ProbingError.badFile(path: file, field: field, expected: "JSON of \(T.self)", found: String(s.prefix(80)))
        }
    }
}
