import ModelFormats
import Tensors
import TestSupport
import XCTest

@testable import Models

/// Swift against PyTorch/transformers on tiny random models of each family
/// (fixtures from Tests/Reference/make_golden.py): every hook's activation, the logits, and the
/// gradients of the mean next-token cross-entropy, within 1e-4 absolute + 1e-4 relative.
final class GoldenTests: XCTestCase {
    struct Golden {
        let model: Transformer
        let expected: SafetensorsFile
        let ids: [Int]
    }

    func golden(_ arch: String) throws -> Golden {
        let dir = Bundle.module.url(forResource: "Fixtures/golden/\(arch)", withExtension: nil)!
        let gguf = try GGUFFile(path: dir.appendingPathComponent("model.gguf").path)
        let model = try Transformer(gguf: gguf)
        let expected = try SafetensorsFile(path: dir.appendingPathComponent("expected.safetensors").path)
        let ids = try expected.tensor("input_ids").data.map { Int($0) }
        return Golden(model: model, expected: expected, ids: ids)
    }

    func checkActivations(_ arch: String) throws {
        let g = try golden(arch)
        let c = g.model.config
        let all = HookID.all(layers: c.nLayers).filter { g.expected.entries[$0.name] != nil }
        XCTAssertGreaterThan(all.count, 15 * c.nLayers, "fixture should cover the hooks of every block")
        let r = try g.model.forward([g.ids], hooks: Hooks(capture: Set(all)), logits: .all)
        for id in all {
            let want = try g.expected.tensor(id.name)
            guard let got = r.cache[id] else { XCTFail("\(arch): \(id) not captured"); continue }
            XCTAssertEqual(got.shape, [1] + want.shape, "\(arch): \(id) shape")
            assertClose(got.data, want.data, "\(arch) \(id)")
        }
        XCTAssertEqual(r.cache.values.count, all.count, "\(arch): captured exactly the requested hooks")
        assertClose(r.logits.data, try g.expected.tensor("logits").data, "\(arch) logits")
    }

    func checkGradients(_ arch: String) throws {
        let g = try golden(arch)
        let c = g.model.config
        let r = try g.model.forward([g.ids], logits: .all, recordTape: true)
        // L = mean over t = 0..6 of cross-entropy(logits[t], ids[t+1])
        var loss: Double = 0
        var dLogits: [Int: [Float]] = [:]
        let n = g.ids.count - 1
        for t in 0..<n {
            let row = Array(r.logits.data[(t * c.vocabSize)..<((t + 1) * c.vocabSize)])
            let lp = row.withUnsafeBufferPointer { Softmax.logSoftmax($0.baseAddress!, count: c.vocabSize) }
            loss -= Double(lp[g.ids[t + 1]]) / Double(n)
            var d = lp.map { expf($0) / Float(n) }
            d[g.ids[t + 1]] -= 1 / Float(n)
            dLogits[t] = d
        }
        XCTAssertEqual(Float(loss), try g.expected.tensor("loss").data[0], accuracy: 1e-4, "\(arch) loss")
        let hooks: [HookID] = [
            HookID(.residPost, layer: 0), HookID(.mlpPost, layer: 1), HookID(.attnOut, layer: 1),
            HookID(.pattern, layer: 0), HookID(.embed),
        ]
        let grads = g.model.backward(
            r.tape!, logitsGradient: dLogits, hooks: Set(hooks),
            parameters: [.block(1, .W_out), .block(0, .W_Q), .embedding])
        for id in hooks {
            let want = try g.expected.tensor("grad." + id.name)
            guard var got = grads.hooks[id]?.data else { XCTFail("\(arch): no gradient for \(id)"); continue }
            var expected = want.data
            if id.site == .pattern {
                // Only unmasked entries: the masked pattern entries are constant zeros.
                let T = g.ids.count
                for i in 0..<got.count {
                    let q = (i / T) % T, k = i % T
                    let window = c.isLocal(layer: 0) ? c.slidingWindow! : Int.max
                    if k > q || q - k >= window { got[i] = 0; expected[i] = 0 }
                }
            }
            assertClose(got, expected, "\(arch) grad \(id)")
        }
        let down = try g.expected.tensor("grad.weight.blk.1.ffn_down").transposed()
        assertClose(grads.parameters[.block(1, .W_out)] ?? [], down.data, "\(arch) grad W_out[1]")
        let wq = try g.expected.tensor("grad.weight.blk.0.attn_q").transposed()
        assertClose(grads.parameters[.block(0, .W_Q)] ?? [], wq.data, "\(arch) grad W_Q[0]")
        assertClose(grads.parameters[.embedding] ?? [], try g.expected.tensor("grad.weight.token_embd").data, "\(arch) grad W_E")
    }

    func testLlamaActivations() throws { try checkActivations("llama") }
    func testGemma3Activations() throws { try checkActivations("gemma3") }
    func testGPT2Activations() throws { try checkActivations("gpt2") }
    func testLlamaGradients() throws { try checkGradients("llama") }
    func testGemma3Gradients() throws { try checkGradients("gemma3") }
    func testGPT2Gradients() throws { try checkGradients("gpt2") }

    /// A prompt longer than one attention block (64 query rows) gives the same last-token logits as
    /// decoding it token by token through the KV cache (an independent path: one query row at a time),
    /// including Gemma 3's sliding-window layers.
    func checkLongPromptAgainstIncrementalDecoding(_ arch: String) throws {
        let g = try golden(arch)
        var config = g.model.config
        config.contextLength = 256  // the fixtures declare 32 positions; rotary models have no position table
        let model = Transformer(config: config, weights: g.model.weights)
        var rng = SplitMix64(seed: 3)
        let ids = (0..<150).map { _ in Int(rng.next() % UInt64(config.vocabSize)) }
        let full = try model.forward([ids], logits: .last).logits.data
        let cache = KVCache(config: config)
        var step: [Float] = []
        for t in ids { step = try model.forward([[t]], logits: .last, kvCache: cache).logits.data }
        assertClose(full, step, "\(arch) 150-token prompt vs incremental decoding")
    }

    func testLlamaLongPrompt() throws { try checkLongPromptAgainstIncrementalDecoding("llama") }
    func testGemma3LongPrompt() throws { try checkLongPromptAgainstIncrementalDecoding("gemma3") }
}

/// The same tiny models loaded from their Hugging Face folders (config.json + model.safetensors).
final class HuggingFaceLoadingTests: XCTestCase {
    func check(_ arch: String) throws {
        let dir = Bundle.module.url(forResource: "Fixtures/golden/\(arch)", withExtension: nil)!
        let fromHF = try Transformer(huggingFaceDirectory: dir.path)
        let fromGGUF = try Transformer(gguf: try GGUFFile(path: dir.appendingPathComponent("model.gguf").path))
        XCTAssertEqual(fromHF.config.nLayers, fromGGUF.config.nLayers)
        XCTAssertEqual(fromHF.config.attentionScale, fromGGUF.config.attentionScale)
        let expected = try SafetensorsFile(path: dir.appendingPathComponent("expected.safetensors").path)
        let ids = try expected.tensor("input_ids").data.map { Int($0) }
        let logits = try fromHF.forward([ids], logits: .all).logits.data
        assertClose(logits, try expected.tensor("logits").data, "\(arch) logits from the Hugging Face checkpoint")
    }

    func testLlama() throws { try check("llama") }
    func testGemma3() throws { try check("gemma3") }
    func testGPT2() throws { try check("gpt2") }

    func testUnknownModelTypeIsNamed() throws {
        let dir = NSTemporaryDirectory() + "hf-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(#"{"model_type": "mamba"}"#.utf8).write(to: URL(fileURLWithPath: dir + "/config.json"))
        let src = Bundle.module.url(forResource: "Fixtures/golden/llama/model", withExtension: "safetensors")!
        try FileManager.default.copyItem(atPath: src.path, toPath: dir + "/model.safetensors")
        XCTAssertThrowsError(try Transformer(huggingFaceDirectory: dir)) { e in
            XCTAssertEqual((e as? ModelFormatError)?.kind, .unsupportedArchitecture)
            XCTAssertTrue("\(e)".contains("mamba"))
        }
    }
}
