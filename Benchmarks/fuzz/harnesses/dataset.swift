// libFuzzer harness: CounterFact and zsRE JSON records as Datasets decodes them (known_1000 too).
import Foundation
import Datasets

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDataset(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(bytes: data, count: size)
    _ = try? DatasetRecords.decode([CounterFactRecord].self, from: bytes, file: "counterfact.json")
    _ = try? DatasetRecords.decode([ZSRERecord].self, from: bytes, file: "zsre.json")
    _ = try? DatasetRecords.decode([KnownFact].self, from: bytes, file: "known_1000.json")
    return 0
}
