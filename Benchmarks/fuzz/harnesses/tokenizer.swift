// libFuzzer harness: a tokenizer.json (and its BPE merges) made into a Tokenizer, then a round trip.
import Foundation
import ModelFormats
import Models

let dir = NSTemporaryDirectory() + "locus-fuzz-tokenizer-\(getpid())"
let created: Void = { try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizer(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    _ = created
    FileManager.default.createFile(atPath: dir + "/tokenizer.json", contents: Data(bytes: data, count: size))
    do {
        let t = try makeTokenizer(huggingFaceDirectory: dir)
        let ids = t.encode("Hello wörld  123 <s>ab\n\t▁x")
        _ = t.decode(ids)
    } catch {
        precondition(error is ModelFormatError, "untyped error \(error)")
    }
    return 0
}
