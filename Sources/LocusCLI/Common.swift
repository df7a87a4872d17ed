import ArgumentParser
import Foundation
import Linalg
import Locus

/// Options every model command shares.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "A known model name (smollm2, gemma3) or a path to a GGUF file.")
    var model: String = "smollm2"

    @Option(name: .long, help: "BLAS threads (default: all cores).")
    var threads: Int?

    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false

    func load() throws -> LanguageModel {
        if let threads { BLAS.threads = threads }
        let path = try ModelCache().resolve(model)
        return try LoadedModels.shared.model(at: path)
    }
}

/// Writes a value as pretty JSON on stdout.
func printJSON<T: Encodable>(_ value: T) throws {
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try e.encode(value), as: UTF8.self))
}

/// A log line on stderr (stdout stays clean for results and JSON).
func log(_ s: String) {
    FileHandle.standardError.write(Data((s + "\n").utf8))
}

/// Escapes control characters so a token is visible on one line.
func visible(_ s: String) -> String {
    s.replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\t", with: "\\t")
}

/// Models loaded by this process, so a notebook loads each model once.
final class LoadedModels: @unchecked Sendable {
    static let shared = LoadedModels()
    private var models: [String: LanguageModel] = [:]
    private let lock = NSLock()

    func model(at path: String) throws -> LanguageModel {
        lock.lock()
        defer { lock.unlock() }
        if let m = models[path] { return m }
        let m = try LanguageModel(path: path)
        models[path] = m
        return m
    }
}
