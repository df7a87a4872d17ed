import Foundation
import ModelFormats
import Models
import XCTest

/// The tiny random models of the golden tests (Tests/ModelsTests/Fixtures/golden), read in place.
enum TinyModels {
    static func load(_ arch: String) throws -> Transformer {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("ModelsTests/Fixtures/golden/\(arch)/model.gguf")
        return try Transformer(gguf: try GGUFFile(path: dir.path))
    }
    static let all = ["llama", "gemma3", "gpt2"]
}
