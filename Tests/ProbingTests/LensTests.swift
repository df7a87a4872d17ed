import Foundation
import Models
import Tensors
import TestSupport
import XCTest

@testable import Probing

final class LensTests: XCTestCase {
    /// The lens row after the last block is the model's own output distribution, exactly.
    func testLastLayerIsTheModelsOutput() throws {
        for arch in TinyModels.all {
            let m = try TinyModels.load(arch)
            let ids = [5, 17, 42, 99, 7, 3]
            let lens = try LogitLens.logProbabilities(m, ids: ids)
            XCTAssertEqual(lens.count, m.config.nLayers + 1)
            let out = try m.forward([ids], logits: .all)
            let want = logSoftmaxRows(out.logits.reshaped([ids.count, m.config.vocabSize]))
            XCTAssertEqual(lens.last!, want, "\(arch): lens at the last layer must equal the output bit for bit")
            XCTAssertEqual(Array(lens.last!.last!), out.lastLogProbabilities(), arch)
            // And an earlier layer reads something else.
            XCTAssertNotEqual(lens[1], want, arch)
        }
    }
}
