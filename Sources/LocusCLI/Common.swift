import ArgumentParser
import Foundation
import Linalg
import Locus

/// Options every model command shares.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "A known model name (smollm2, gemma3), a GGUF file, or a Hugging Face folder (config.json, safetensors, tokenizer.json).")
    var model: String = "smollm2"

    @Option(name: .long, help: "Weights: f32 (converted, fastest on small models), file (kept in the file's type: F16, Q8_0, …), or auto (file when Float32 would take over a quarter of memory).")
    var weights: String = "auto"

    @Option(name: .long, help: "BLAS threads (default: all cores).")
    var threads: Int?

    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false

    @Option(name: .customLong("with-edits"), help: "An edit ledger (HDF5) whose edits are applied to the weights before running.")
    var withEdits: String?

    func load() throws -> LanguageModel {
        if let threads { BLAS.threads = threads }
        let path = try ModelCache().resolve(model)
        guard let policy = WeightPolicy(rawValue: weights) else {
            throw ValidationError("--weights must be auto, f32 or file, not \(weights)")
        }
        let m = try LoadedModels.shared.model(at: path, weights: policy)
        guard let withEdits else { return m }
        // A separate model object with the ledger's edits applied; the loaded original stays as it is.
        let ledger = try Ledger.load(withEdits, modelSHA256: try FileHash.sha256(path: path))
        return m.with(transformer: try ledger.apply(to: m.transformer, file: withEdits))
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

    func model(at path: String, weights: WeightPolicy = .automatic) throws -> LanguageModel {
        lock.lock()
        defer { lock.unlock() }
        let key = path + "|" + weights.rawValue
        if let m = models[key] { return m }
        let m = try LanguageModel(path: path, weights: weights)
        models[key] = m
        return m
    }
}
