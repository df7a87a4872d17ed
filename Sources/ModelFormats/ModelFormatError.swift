import Foundation

/// A model file that Locus cannot read, with where and why.
///
/// Every case names the file, the field (metadata key, tensor name or header part) and what was
/// expected, so a user can tell a truncated download from an unsupported architecture.
public struct ModelFormatError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable {
        case fileNotFound, unreadable, badMagic, unsupportedVersion, truncated, malformed
        case missingField, wrongFieldType, unsupportedTensorType, shapeMismatch, unsupportedArchitecture
        /// A tensor or key that would change the computation in a way Locus does not implement.
        case unsupportedFeature
        /// A tensor no part of the model uses (the file holds more than Locus understands).
        case unexpectedTensor
    }
    public let kind: Kind
    public let file: String
    public let field: String
    public let expected: String
    public let found: String

    public init(_ kind: Kind, file: String, field: String, expected: String, found: String) {
        self.kind = kind
        self.file = file
        self.field = field
        self.expected = expected
        self.found = found
    }

    public var description: String {
        "\(file): \(field): expected \(expected), found \(found)"
    }
}
