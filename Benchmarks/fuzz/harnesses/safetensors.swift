// libFuzzer harness: the safetensors header (length, JSON directory, offsets, shapes) and tensor reads,
// on the bytes in memory.
import Foundation
import ModelFormats

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    do {
        let f = try SafetensorsFile(bytes: UnsafeRawBufferPointer(start: data, count: size), name: "fuzz.safetensors")
        for name in f.names { _ = try? f.tensor(name) }
    } catch {
        precondition(error.file == "fuzz.safetensors" && !error.field.isEmpty, "\(error)")
    }
    return 0
}
