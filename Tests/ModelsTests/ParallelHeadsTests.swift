import Foundation
import Linalg
import ModelFormats
import Tensors
import TestSupport
import XCTest

@testable import Models

/// Attention's heads spread over the cores (many sequences of small heads: causal tracing, ROME's prompts)
/// against the same sequences one at a time, which stay on one thread: logits, the resumed call of a frozen
/// prefix and the gradients of both.
final class ParallelHeadsTests: XCTestCase {
    func testHeadsOnEveryCoreEqualOneSequenceAtATime() throws {
        let dir = Bundle.module.url(forResource: "Fixtures/golden/llama", withExtension: nil)!
        let tf = try Transformer(gguf: GGUFFile(path: dir.appendingPathComponent("model.gguf").path))
        let c = tf.config, V = c.vocabSize, d = c.dModel
        let B = 48, T = 12, prefix = 5
        // The batch is large enough to be spread, one sequence is not (else this test shows nothing).
        XCTAssertLessThan(tf.headsPerThread(T: T, Tk: T, heads: B * c.nHeads), B * c.nHeads / 2)
        XCTAssertGreaterThanOrEqual(tf.headsPerThread(T: T, Tk: T, heads: c.nHeads), c.nHeads)
        let saved = BLAS.threads
        defer { BLAS.threads = saved }
        BLAS.threads = 2

        var rng = SplitMix64(seed: 11)
        let batch = (0..<B).map { _ in (0..<T).map { _ in Int(rng.next() % UInt64(V)) } }
        let grads = (0..<B).map { _ in (0..<V).map { _ in rng.nextGaussian() } }
        let site = HookID(.residPre, layer: 1)

        let all = try tf.forward(batch, logits: .all, recordTape: true)
        let gAll = tf.backward(all.tape!, logitsGradient: Dictionary(uniqueKeysWithValues: (0..<B).map { ($0 * T + T - 1, grads[$0]) }), hooks: [site], downTo: 1)
        let (frozen, _) = try tf.freezePrefix(batch, prefixLengths: Array(repeating: prefix, count: B), firstLayer: 1)
        let resumed = tf.forward(resuming: frozen, hooks: Hooks(capture: [HookID(.lnFinalNormalized)]), recordTape: true)
        let Ts = T - prefix
        let gResumed = tf.backward(
            resumed.tape!, logitsGradient: Dictionary(uniqueKeysWithValues: (0..<B).map { ($0 * Ts + Ts - 1, grads[$0]) }), hooks: [site], downTo: 1)

        for b in stride(from: 0, to: B, by: 7) {
            let one = try tf.forward([batch[b]], logits: .all, recordTape: true)
            assertClose(Array(all.logits.data[(b * T * V)..<((b + 1) * T * V)]), one.logits.data, absolute: 1e-5, relative: 1e-4, "logits of sequence \(b)")
            let g = tf.backward(one.tape!, logitsGradient: [T - 1: grads[b]], hooks: [site], downTo: 1).hooks[site]!.data
            assertClose(Array(gAll.hooks[site]!.data[(b * T * d)..<((b + 1) * T * d)]), g, absolute: 1e-5, relative: 1e-4, "gradient of sequence \(b)")

            let (f1, _) = try tf.freezePrefix([batch[b]], prefixLengths: [prefix], firstLayer: 1)
            let r1 = tf.forward(resuming: f1, hooks: Hooks(capture: [HookID(.lnFinalNormalized)]), recordTape: true)
            let n = resumed.cache[HookID(.lnFinalNormalized)]!.data
            assertClose(Array(n[(b * Ts * d)..<((b + 1) * Ts * d)]), r1.cache[HookID(.lnFinalNormalized)]!.data, absolute: 1e-5, relative: 1e-4, "resumed sequence \(b)")
            let g1 = tf.backward(r1.tape!, logitsGradient: [Ts - 1: grads[b]], hooks: [site], downTo: 1).hooks[site]!.data
            assertClose(Array(gResumed.hooks[site]!.data[(b * Ts * d)..<((b + 1) * Ts * d)]), g1, absolute: 1e-5, relative: 1e-4, "resumed gradient of sequence \(b)")
            XCTAssertGreaterThan(g1.map(abs).max()!, 1e-4)
        }
    }

    /// Attention fused per head (no hook on the scores or pattern, no tape) against the unfused path (the
    /// pattern captured) on the models with sliding windows and soft-capping, past their windows, with many
    /// sequences and with one.
    func testFusedAttentionEqualsScoresThenValues() throws {
        for arch in ["llama", "gemma2", "gemma3", "mistral", "qwen2"] {
            let dir = Bundle.module.url(forResource: "Fixtures/golden/\(arch)", withExtension: nil)!
            let gguf = dir.appendingPathComponent("model.gguf").path
            let tf = FileManager.default.fileExists(atPath: gguf)
                ? try Transformer(gguf: GGUFFile(path: gguf)) : try Transformer(huggingFaceDirectory: dir.path)
            let c = tf.config
            var rng = SplitMix64(seed: 5)
            for (B, T) in [(1, 30), (40, 9)] {
                let batch = (0..<B).map { _ in (0..<T).map { _ in Int(rng.next() % UInt64(c.vocabSize)) } }
                let fused = try tf.forward(batch, logits: .all)
                let patterns = Hooks(capture: Set((0..<c.nLayers).map { HookID(.pattern, layer: $0) }))
                let unfused = try tf.forward(batch, hooks: patterns, logits: .all)
                assertClose(fused.logits.data, unfused.logits.data, absolute: 1e-5, relative: 1e-5, "\(arch) B \(B) T \(T)")
            }
        }
    }
}
