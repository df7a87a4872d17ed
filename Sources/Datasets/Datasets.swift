import Foundation

/// The data files shipped with Locus (see Resources/SOURCES.md for sources and licences).
public enum Datasets {
    static func url(_ name: String, _ ext: String) throws -> URL {
        guard let u = Bundle.module.url(forResource: name, withExtension: ext) else {
            throw DatasetError(file: "\(name).\(ext)", message: "missing from the Datasets resources")
        }
        return u
    }

    static func decode<T: Decodable>(_ type: T.Type, from url: URL) throws -> T {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw DatasetError(file: url.path, message: "\(error)")
        }
        return try DatasetRecords.decode(T.self, from: data, file: url.path)
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
