import Foundation
import ModelFormats
import Tensors
import TestSupport
import XCTest

@testable import Models

/// `forward(resuming:)` and its backward against the full forward and backward on the golden tiny
/// models: the recomputed positions must agree, with and without a hook edit, and so must the
/// gradients there.
final class ResumeTests: XCTestCase {
    func model(_ arch: String) throws -> Transformer {
        let dir = Bundle.module.url(forResource: "Fixtures/golden/\(arch)", withExtension: nil)!
        return try Transformer(gguf: GGUFFile(path: dir.appendingPathComponent("model.gguf").path))
    }

    func row(_ x: [Float], _ r: Int, _ d: Int) -> [Float] { Array(x[(r * d)..<((r + 1) * d)]) }

    func check(_ arch: String, firstLayer L: Int) throws {
        let tf = try model(arch)
        let c = tf.config, d = c.dModel, V = c.vocabSize
        var rng = SplitMix64(seed: 7)
        let lengths = [9, 6, 8]
        let batch = lengths.map { n in (0..<n).map { _ in Int(rng.next() % UInt64(V)) } }
        let prefix = [4, 0, 6]
        let delta = (0..<d).map { _ in rng.nextGaussian() }
        let site = HookID(.residPre, layer: L)
        let T = lengths.max()!
        let normID = HookID(.lnFinalNormalized)

        // Full forward, δ added at the first recomputed position of each sequence.
        var fullHooks = Hooks(capture: [normID])
        fullHooks.edit(site) { t, _ in
            for (b, p) in prefix.enumerated() { for j in 0..<d { t.data[(b * T + p) * d + j] += delta[j] } }
        }
        let full = try tf.forward(batch, hooks: fullHooks, logits: .all, recordTape: true)

        let (frozen, _) = try tf.freezePrefix(batch, prefixLengths: prefix, firstLayer: L)
        let Ts = frozen.suffixWidth
        XCTAssertEqual(frozen.suffixLengths, [5, 6, 2])
        var hooks = Hooks(capture: [normID])
        hooks.edit(site) { t, _ in
            for b in 0..<prefix.count { for j in 0..<d { t.data[(b * Ts) * d + j] += delta[j] } }
        }
        let resumed = tf.forward(resuming: frozen, hooks: hooks, recordTape: true)
        let a = full.cache[normID]!.data, r = resumed.cache[normID]!.data
        var got: [Float] = [], want: [Float] = []
        for b in 0..<prefix.count {
            for t in 0..<frozen.suffixLengths[b] {
                got += row(r, b * Ts + t, d)
                want += row(a, b * T + prefix[b] + t, d)
            }
        }
        assertClose(got, want, absolute: 1e-5, relative: 1e-4, "\(arch): ln_final at the recomputed positions")

        // Backward: the same logit gradients on corresponding rows give the same dL/d(resid_pre of L).
        var fullGrad: [Int: [Float]] = [:], resumedGrad: [Int: [Float]] = [:]
        for b in 0..<prefix.count {
            for t in 0..<frozen.suffixLengths[b] where (b + t) % 2 == 0 {
                let g = (0..<V).map { _ in rng.nextGaussian() }
                fullGrad[b * T + prefix[b] + t] = g
                resumedGrad[b * Ts + t] = g
            }
        }
        let gf = tf.backward(full.tape!, logitsGradient: fullGrad, hooks: [site], downTo: L).hooks[site]!.data
        let gr = tf.backward(resumed.tape!, logitsGradient: resumedGrad, hooks: [site], downTo: L).hooks[site]!.data
        got = []
        want = []
        for b in 0..<prefix.count {
            for t in 0..<frozen.suffixLengths[b] {
                got += row(gr, b * Ts + t, d)
                want += row(gf, b * T + prefix[b] + t, d)
            }
        }
        assertClose(got, want, absolute: 1e-5, relative: 1e-4, "\(arch): dL/d resid_pre at the recomputed positions")
        XCTAssertGreaterThan(got.map(abs).max()!, 1e-4, "\(arch): the gradient is not trivially zero")
    }

    func testResumedForwardAndBackwardMatchTheFullCall() throws {
        try check("llama", firstLayer: 1)
        try check("gpt2", firstLayer: 1)
        try check("gemma3", firstLayer: 2)
        try check("gemma3", firstLayer: 0)
    }
}
