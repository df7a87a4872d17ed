// libFuzzer harness: the GGUF reader (header, metadata, tensor directory, dequantization), on the bytes
// in memory (GGUFFile(bytes:name:) parses exactly as from a mapped file).
import Foundation
import ModelFormats

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGGUF(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    do {
        // Typed throws: every failure is a ModelFormatError naming the file and field.
        let g = try GGUFFile(bytes: UnsafeRawBufferPointer(start: data, count: size), name: "fuzz.gguf")
        for key in g.metadataKeys { _ = g.metadata[key]?.summary }
        for t in g.tensors where t.type.canDequantize { _ = try g.floats(t) }
    } catch {
        precondition(error.file == "fuzz.gguf" && !error.field.isEmpty, "\(error)")
    }
    return 0
}
