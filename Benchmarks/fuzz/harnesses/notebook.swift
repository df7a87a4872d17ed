// libFuzzer harness: markdown notebooks (front matter, ```locus blocks, outputs), parsed and written back.
import Foundation
@testable import Notebooks

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNotebook(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let nb = try? Notebook(markdown: text) else { return 0 }
    // Writing back what was read must read the same notebook again.
    let again = try? Notebook(markdown: nb.markdown)
    precondition(again == nb, "round trip changed the notebook")
    for b in nb.blocks { for line in b.source { _ = try? splitArguments(line) } }
    return 0
}
