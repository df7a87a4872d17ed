import Foundation
import ModelFormats
import XCTest

@testable import Models

/// Every parameter kind's gradient against central finite differences of the loss, on the tiny models.
final class FiniteDifferenceTests: XCTestCase {
    func load(_ arch: String) throws -> Transformer {
        let url = Bundle.module.url(forResource: "Fixtures/golden/\(arch)/model", withExtension: "gguf")!
        return try Transformer(gguf: try GGUFFile(path: url.path))
    }

    /// Mean next-token cross-entropy in Double, and dL/dlogits.
    func loss(_ m: Transformer, _ ids: [Int], tape: Bool) throws -> (Double, ForwardResult, [Int: [Float]]) {
        let r = try m.forward([ids], logits: .all, recordTape: tape)
        let V = m.config.vocabSize, n = ids.count - 1
        var L: Double = 0
        var grads: [Int: [Float]] = [:]
        for t in 0..<n {
            let lp = Array(r.logits.data[(t * V)..<((t + 1) * V)]).withUnsafeBufferPointer { Softmax.logSoftmax($0.baseAddress!, count: V) }
            L -= Double(lp[ids[t + 1]]) / Double(n)
            var d = lp.map { expf($0) / Float(n) }
            d[ids[t + 1]] -= 1 / Float(n)
            grads[t] = d
        }
        return (L, r, grads)
    }

    func check(_ arch: String) throws {
        let base = try load(arch)
        let ids = [3, 9, 27, 81, 115, 12, 50]
        let (_, r, dl) = try loss(base, ids, tape: true)
        let kinds: [ParameterKind] = base.config.gatedMLP ? [.W_Q, .W_K, .W_V, .W_O, .W_gate, .W_in, .W_out, .ln1, .ln2] : [.W_Q, .W_K, .W_V, .W_O, .W_in, .W_out, .ln1, .ln2]
        let ids1 = Set(kinds.map { ParameterID.block(1, $0) } + kinds.map { ParameterID.block(0, $0) })
        let g = base.backward(r.tape!, logitsGradient: dl, parameters: ids1)
        var rng = SplitMix64(seed: 11)
        for layer in [0, 1] {
            for kind in kinds {
                let analytic = g.parameters[.block(layer, kind)]!
                // The entry with the largest gradient and one random entry.
                let big = analytic.indices.max { abs(analytic[$0]) < abs(analytic[$1]) }!
                for index in [big, Int(rng.next() % UInt64(analytic.count))] {
                    let eps: Float = 1e-2
                    var plus = base, minus = base
                    mutate(&plus, layer, kind) { $0[index] += eps }
                    mutate(&minus, layer, kind) { $0[index] -= eps }
                    let fd = (try loss(plus, ids, tape: false).0 - loss(minus, ids, tape: false).0) / Double(2 * eps)
                    XCTAssertEqual(Double(analytic[index]), fd, accuracy: 2e-3 + 2e-2 * abs(fd), "\(arch) layer \(layer) \(kind)[\(index)]")
                }
            }
        }
    }

    func mutate(_ m: inout Transformer, _ l: Int, _ kind: ParameterKind, _ f: (inout [Float]) -> Void) {
        switch kind {
        case .W_Q: f(&m.weights.blocks[l].wQ.weight)
        case .W_K: f(&m.weights.blocks[l].wK.weight)
        case .W_V: f(&m.weights.blocks[l].wV.weight)
        case .W_O: f(&m.weights.blocks[l].wO.weight)
        case .W_gate: f(&m.weights.blocks[l].wGate!.weight)
        case .W_in: f(&m.weights.blocks[l].wIn.weight)
        case .W_out: f(&m.weights.blocks[l].wOut.weight)
        case .ln1: f(&m.weights.blocks[l].ln1.weight)
        case .ln2: f(&m.weights.blocks[l].ln2.weight)
        }
    }

    func testLlama() throws { try check("llama") }
    func testGemma3() throws { try check("gemma3") }
    func testGPT2() throws { try check("gpt2") }
}
