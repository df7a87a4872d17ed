import Foundation
import XCTest

/// Where the tests find the real models that `locus fetch` puts in the cache.
///
/// A test that needs a real model calls `TestModels.path(.smollm2)`. When the model is absent the
/// test is skipped, unless `LOCUS_REQUIRE_MODELS=1` (set by `.ci/run`), where absence is a failure:
/// CI fetches the models first, so a skip there would hide a broken install step.
public enum TestModels {
    public enum Name: String, Sendable {
        case smollm2, gemma3
        public var fileName: String {
            switch self {
            case .smollm2: return "SmolLM2-135M-Instruct.Q4_1.gguf"
            case .gemma3: return "gemma-3-270m-q4_k_m.gguf"
            }
        }
    }

    /// `$LOCUS_HOME`, or `~/.cache/locus` (`$XDG_CACHE_HOME/locus` where that is set).
    public static var home: String {
        let env = ProcessInfo.processInfo.environment
        if let h = env["LOCUS_HOME"], !h.isEmpty { return h }
        if let x = env["XDG_CACHE_HOME"], !x.isEmpty { return x + "/locus" }
        return NSHomeDirectory() + "/.cache/locus"
    }

    public static func path(_ name: Name) throws -> String {
        let p = "\(home)/models/\(name.rawValue)/\(name.fileName)"
        if FileManager.default.fileExists(atPath: p) { return p }
        if ProcessInfo.processInfo.environment["LOCUS_REQUIRE_MODELS"] == "1" {
            XCTFail("real model \(name.rawValue) missing at \(p); run `locus fetch \(name.rawValue)`")
        }
        throw XCTSkip("real model \(name.rawValue) not fetched (expected at \(p))")
    }
}
