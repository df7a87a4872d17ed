import Foundation
import ModelFormats
import TestSupport
import XCTest

@testable import Models

/// The real models with weights kept in their file's type (Q4_1, Q8_0, Q4_K, Q6_K; converted tile by
/// tile inside the products) compute what the Float32 copy computes: prefill, decoding, and gradients.
final class StoredWeightsTests: XCTestCase {
    func check(_ name: TestModels.Name) throws {
        let gguf = try GGUFFile(path: try TestModels.path(name))
        let dense = try Transformer(gguf: gguf, weights: .float32)
        let stored = try Transformer(gguf: gguf, weights: .fileType)
        XCTAssertTrue(stored.weights.blocks[0].wOut.isStored && stored.weights.embedding.isStored)
        XCTAssertFalse(dense.weights.blocks[0].wOut.isStored)
        XCTAssertEqual(stored.weights.blocks[3].wQ.weight, dense.weights.blocks[3].wQ.weight, "\(name): Q rows in Hugging Face's order")
        let ids = [[1, 504, 414, 46682, 18669, 314, 281], [1, 330, 5000, 17, 9]]
        // Prefill (products on tiles) and the last rows' logits.
        let a = try dense.forward(ids, logits: .all).logits.data
        let b = try stored.forward(ids, logits: .all).logits.data
        assertClose(b, a, absolute: 1e-3, relative: 1e-4, "\(name) prefill logits")
        // Decoding one token at a time (dot products on converted rows).
        let c1 = KVCache(config: dense.config), c2 = KVCache(config: stored.config)
        var x: [Float] = [], y: [Float] = []
        for t in ids[0] {
            x = try dense.forward([[t]], logits: .last, kvCache: c1).logits.data
            y = try stored.forward([[t]], logits: .last, kvCache: c2).logits.data
        }
        assertClose(y, x, absolute: 1e-3, relative: 1e-4, "\(name) decoded logits")
        // Backward through every kind of product: dL/d(resid_pre of block 0) and dL/dW_out.
        let r1 = try dense.forward([ids[0]], logits: .all, recordTape: true)
        let r2 = try stored.forward([ids[0]], logits: .all, recordTape: true)
        let V = dense.config.vocabSize
        var dl = [Float](repeating: 0, count: V)
        dl[7042 % V] = 1
        let want: Set<HookID> = [HookID(.residPre, layer: 0)]
        let g1 = dense.backward(r1.tape!, logitsGradient: [6: dl], hooks: want, parameters: [.block(2, .W_out)])
        let g2 = stored.backward(r2.tape!, logitsGradient: [6: dl], hooks: want, parameters: [.block(2, .W_out)])
        // Gradients pass back through every block, where the two storages' products round in different orders
        // (tiles against whole matrices, threaded): compared normwise, ‖a − b‖ / ‖b‖.
        func relativeError(_ a: [Float], _ b: [Float]) -> Double {
            let num = zip(a, b).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
            return (num / b.reduce(0.0) { $0 + Double($1) * Double($1) }).squareRoot()
        }
        let e1 = relativeError(g2.hooks[HookID(.residPre, layer: 0)]!.data, g1.hooks[HookID(.residPre, layer: 0)]!.data)
        let e2 = relativeError(g2.parameters[.block(2, .W_out)]!, g1.parameters[.block(2, .W_out)]!)
        XCTAssertLessThan(e1, 1e-4, "\(name) gradient at blocks.0.hook_resid_pre: normwise error \(e1)")
        XCTAssertLessThan(e2, 1e-4, "\(name) dW_out of block 2: normwise error \(e2)")
    }

    func testSmolLM2() throws { try check(.smollm2) }
    func testGemma3() throws { try check(.gemma3) }

    /// Writing an edited weight makes that map Float32 and leaves the others in the file.
    func testWritingAWeightMakesItDense() throws {
        let gguf = try GGUFFile(path: try TestModels.path(.smollm2))
        var t = try Transformer(gguf: gguf, weights: .fileType)
        let before = t.weights.blocks[5].wOut.weight
        t.weights.blocks[5].wOut.weight[0] += 1
        XCTAssertFalse(t.weights.blocks[5].wOut.isStored)
        XCTAssertTrue(t.weights.blocks[4].wOut.isStored)
        XCTAssertEqual(t.weights.blocks[5].wOut.weight[0], before[0] + 1)
        XCTAssertEqual(Array(t.weights.blocks[5].wOut.weight[1...]), Array(before[1...]))
    }
}
