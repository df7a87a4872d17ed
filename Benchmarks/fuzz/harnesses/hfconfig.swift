// libFuzzer harness: a Hugging Face config.json read into a ModelConfig (every field check).
import Foundation
import ModelFormats
@testable import Models

let path = NSTemporaryDirectory() + "locus-fuzz-config-\(getpid()).json"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FileManager.default.createFile(atPath: path, contents: Data(bytes: data, count: size))
    do {
        let c = try ModelConfig(huggingFace: try ConfigJSON(file: path))
        for layer in 0..<c.nLayers { _ = c.ropeBase(layer: layer) }
    } catch {
        precondition(error is ModelFormatError, "untyped error \(error)")
    }
    return 0
}
