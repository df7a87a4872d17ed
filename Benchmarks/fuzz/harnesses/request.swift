// libFuzzer harness: an edit request file (YAML or JSON: Locus requests, CounterFact and zsRE records).
import Foundation
import Editing

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequest(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    // RequestFile.load reads UTF-8 text; bytes that are not UTF-8 are refused before parsing.
    guard let text = String(validating: UnsafeBufferPointer(start: data, count: size), as: UTF8.self) else { return 0 }
    do {
        _ = try RequestFile.parse(text, file: "fuzz.yaml")
    } catch {
        guard case .malformedRequestFile = error else { preconditionFailure("unexpected error \(error)") }
    }
    return 0
}
