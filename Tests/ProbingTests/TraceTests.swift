import Foundation
import Models
import Tensors
import TestSupport
import XCTest

@testable import Probing

/// Causal tracing on the tiny fixtures: the reuse engine against the naive reference, restoration,
/// determinism, and the block step with a prefix against the plain forward pass.
final class TraceTests: XCTestCase {
    /// A fact on a tiny model: token ids stand for words; the "subject" is tokens 2..<4.
    func fact(_ model: Transformer, target: Int? = nil) throws -> TraceInput {
        let ids = [5, 17, 42, 99, 7, 3, 64, 11]
        let pieces = ids.map { "t\($0)" }
        let prompt = PromptTokens(text: pieces.joined(), ids: ids, pieces: pieces)
        let top = try model.forward([ids], logits: .last).lastLogProbabilities()
        // The second most likely token: the tiny Gemma puts almost all mass on its top token.
        let t = target ?? top.indices.sorted { top[$0] > top[$1] }[1]
        return try TraceInput(prompt: prompt, subject: "t42t99", target: Target(ids: [t], pieces: ["t\(t)"], text: "t\(t)"))
    }

    func testSubjectRangeIsFound() throws {
        let m = try TinyModels.load("llama")
        XCTAssertEqual(try fact(m).subjectRange, 2..<4)
    }

    /// Running blocks m..<L on tokens i..<T with the earlier tokens' keys and values as a prefix gives the
    /// forward pass's final residual (every family: RoPE, Gemma's sliding window and q/k norms, GPT-2).
    func testBlockStepWithPrefixEqualsForward() throws {
        for arch in TinyModels.all {
            let m = try TinyModels.load(arch)
            let L = m.config.nLayers, d = m.config.dModel, kvW = m.config.kvWidth
            let batch = [[5, 17, 42, 99, 7, 3, 64, 11, 2, 9, 33, 21], [8, 1, 4, 120, 55, 6, 2, 77, 10, 3, 19, 44]]
            let T = 12
            var capture = Set<HookID>([HookID(.residPost, layer: L - 1)])
            for l in 0..<L { capture.formUnion([HookID(.residPre, layer: l), HookID(.rotK, layer: l), HookID(.v, layer: l)]) }
            let full = try m.forward(batch, hooks: Hooks(capture: capture), logits: .all)
            for (start, i) in [(0, 0), (0, 5), (1, 3), (L - 1, 11)] {
                var resid = Tensor(shape: [2, T - i, d], data: (0..<2).flatMap { b in full.cache[HookID(.residPre, layer: start)]!.data[((b * T + i) * d)..<((b + 1) * T * d)] })
                for l in start..<L {
                    let k = full.cache[HookID(.rotK, layer: l)]!.data, v = full.cache[HookID(.v, layer: l)]!.data
                    let prefix = i == 0 ? nil : PrefixAttention(
                        count: i, keys: (0..<2).flatMap { b in k[(b * T * kvW)..<((b * T + i) * kvW)] },
                        values: (0..<2).flatMap { b in v[(b * T * kvW)..<((b * T + i) * kvW)] })
                    _ = m.step(layer: l, residual: &resid, prefix: prefix, hooks: Hooks())
                }
                let want = (0..<2).flatMap { b in full.cache[HookID(.residPost, layer: L - 1)]!.data[((b * T + i) * d)..<((b + 1) * T * d)] }
                assertClose(resid.data, want, absolute: 1e-5, relative: 1e-5, "\(arch) resume at block \(start), token \(i)")
            }
        }
    }

    /// The reuse engine gives the naive per-cell numbers, for every kind and every family.
    func testReuseEngineEqualsNaive() throws {
        for arch in TinyModels.all {
            let m = try TinyModels.load(arch)
            let input = try fact(m)
            var o = TraceOptions()
            o.noise = .absolute(2 * Double(m.config.embeddingScale))  // Gemma scales embeddings by √d
            o.samples = 3
            o.window = 3
            let fast = try TraceEngine.run(m, input, options: o, maxRows: 40)  // small chunks: several per token
            let naive = try CausalTrace.naive(m, input, options: o)
            XCTAssertEqual(fast.cleanProbability, naive.cleanProbability, accuracy: 1e-9, arch)
            XCTAssertEqual(fast.corruptedProbability, naive.corruptedProbability, accuracy: 1e-9, arch)
            var worst = 0.0
            for k in TraceKind.allCases {
                let a = fast.trace(k)!.restored.flatMap { $0 }, b = naive.trace(k)!.restored.flatMap { $0 }
                XCTAssertEqual(a.count, 8 * m.config.nLayers)
                for (x, y) in zip(a, b) { worst = max(worst, abs(x - y)) }
            }
            XCTAssertLessThan(worst, 1e-6, "\(arch): reuse vs naive, largest difference \(worst)")
            print("reuse vs naive, \(arch): largest difference \(worst)")
            // Not a vacuous comparison: restoring changes the probability somewhere.
            let spread = fast.trace(.hidden)!.restored.flatMap { $0 }.map { abs($0 - fast.corruptedProbability) }.max()!
            XCTAssertGreaterThan(spread / fast.cleanProbability, 0.01, "\(arch): restoration should matter (relative to p)")
        }
    }

    /// A target of two tokens scored as a sequence: the reuse engine still equals the naive reference.
    func testSequenceTargetReuseEqualsNaive() throws {
        let m = try TinyModels.load("llama")
        let base = try fact(m)
        let input = try TraceInput(prompt: base.prompt, subject: base.subject, target: Target(ids: [base.target.ids[0], 9], pieces: ["a", "b"], text: "ab"))
        XCTAssertEqual(input.sequence.count, base.prompt.ids.count + 1)
        var o = TraceOptions()
        o.noise = .absolute(2)
        o.samples = 2
        o.window = 2
        let fast = try TraceEngine.run(m, input, options: o), naive = try CausalTrace.naive(m, input, options: o)
        XCTAssertEqual(fast.cleanProbability, naive.cleanProbability, accuracy: 1e-12)
        for k in TraceKind.allCases {
            for (a, b) in zip(fast.trace(k)!.restored.flatMap { $0 }, naive.trace(k)!.restored.flatMap { $0 }) { XCTAssertEqual(a, b, accuracy: 1e-9) }
        }
        // p(sequence) is the product of the two tokens' probabilities.
        let r = try m.forward([input.sequence], logits: .all)
        let lp = logSoftmaxRows(r.logits.reshaped([input.sequence.count, m.config.vocabSize]))
        let P = base.prompt.ids.count
        XCTAssertEqual(fast.cleanProbability, exp(Double(lp[P - 1][input.target.ids[0]])) * exp(Double(lp[P][9])), accuracy: 1e-9)
    }

    /// Restoring every subject token at blocks.0.hook_resid_pre undoes the corruption: p is the clean p.
    func testRestoringAllSubjectEmbeddingsGivesCleanProbability() throws {
        for arch in TinyModels.all {
            let m = try TinyModels.load(arch)
            let input = try fact(m)
            var o = TraceOptions()
            o.noise = .absolute(2 * Double(m.config.embeddingScale))
            let clean = try m.forward([input.sequence], hooks: Hooks(capture: [HookID(.residPre, layer: 0)]), logits: .last)
            let noise = CausalTrace.noise(input, std: 2 * Double(m.config.embeddingScale), options: o)
            let restore = Intervention(hook: "blocks.0.hook_resid_pre", positions: Array(input.subjectRange), .restore(run: "clean"))
            let batch = Array(repeating: input.sequence, count: o.samples)
            let corrupted = try m.forward(batch, hooks: try Interventions.hooks([noise], config: m.config), logits: .last)
            let restored = try m.forward(batch, hooks: try Interventions.hooks([noise, restore], config: m.config, sources: ["clean": clean.cache]), logits: .last)
            let t = input.target.ids
            let pClean = CausalTrace.meanProbability(clean.logits, rows: [0], target: t, lastOnly: true)
            let pCorrupt = CausalTrace.meanProbability(corrupted.logits, rows: [0], target: t, lastOnly: true)
            let pRestored = CausalTrace.meanProbability(restored.logits, rows: [0], target: t, lastOnly: true)
            XCTAssertEqual(pRestored, pClean, accuracy: 1e-6, arch)
            XCTAssertGreaterThan(abs(pCorrupt - pClean) / pClean, 0.01, "\(arch): the noise should change p (relative)")
        }
    }

    func testSameSeedSameNumbersOtherSeedOtherNumbers() throws {
        let m = try TinyModels.load("gemma3")
        let input = try fact(m)
        var o = TraceOptions()
        o.noise = .absolute(0.5)
        o.kinds = [.hidden]
        let a = try TraceEngine.run(m, input, options: o), b = try TraceEngine.run(m, input, options: o)
        XCTAssertEqual(a.kinds, b.kinds)
        XCTAssertEqual(a.corruptedProbability, b.corruptedProbability)
        o.seed = 2
        let c = try TraceEngine.run(m, input, options: o)
        XCTAssertNotEqual(a.corruptedProbability, c.corruptedProbability)
    }

    /// Cells at tokens before the subject are the corrupted probability (restoring them changes nothing).
    func testTokensBeforeSubjectAreNoOps() throws {
        let m = try TinyModels.load("llama")
        let input = try fact(m)
        var o = TraceOptions()
        o.noise = .absolute(0.5)
        o.samples = 2
        let naive = try CausalTrace.naive(m, input, options: o)
        for k in naive.kinds { for i in 0..<2 { for v in k.restored[i] { XCTAssertEqual(v, naive.corruptedProbability, accuracy: 1e-7) } } }
    }

    /// A trace written to HDF5 reads back with the same numbers; the figure has one panel per kind with the subject marked.
    func testTraceStoreRoundTripAndFigure() throws {
        let m = try TinyModels.load("gpt2")
        var o = TraceOptions()
        o.noise = .absolute(1)
        o.samples = 2
        let r = try TraceEngine.run(m, try fact(m), options: o)
        let dir = NSTemporaryDirectory() + "trace-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try TraceStore.write(r, to: dir, provenance: Provenance(modelFile: "gpt2.gguf", modelSHA256: "abc", createdBy: "test"), sigma: nil)
        let back = try TraceStore.read(dir + "/trace.h5")
        for k in r.kinds { XCTAssertEqual(back.restored[k.kind], k.restored) }
        XCTAssertEqual(back.clean, r.cleanProbability)
        XCTAssertEqual(back.corrupted, r.corruptedProbability)
        XCTAssertEqual(back.subjectRange, 2..<4)
        let fig = TraceStore.figure(r)
        XCTAssertEqual(fig.panels.count, 3)
        XCTAssertEqual(fig.panels[0].markedRows, [2, 3])
        let svg = try String(contentsOfFile: dir + "/trace.svg", encoding: .utf8)
        XCTAssertTrue(svg.contains("'t42'*") && svg.contains("p(t"), "subject marked and colour scale labelled")
        let png = try Data(contentsOf: URL(fileURLWithPath: dir + "/trace.png"))
        XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47])
    }

    func testWindowMatchesReference() {
        // ROME: range(max(0, l - w // 2), min(L, l - (-w // 2)))
        XCTAssertEqual(TraceKind.mlp.restoredLayers(center: 0, window: 10, layers: 30), 0..<5)
        XCTAssertEqual(TraceKind.mlp.restoredLayers(center: 12, window: 10, layers: 30), 7..<17)
        XCTAssertEqual(TraceKind.attn.restoredLayers(center: 29, window: 10, layers: 30), 24..<30)
        XCTAssertEqual(TraceKind.mlp.restoredLayers(center: 4, window: 3, layers: 30), 3..<6)
        XCTAssertEqual(TraceKind.hidden.restoredLayers(center: 4, window: 10, layers: 30), 4..<5)
    }
}
