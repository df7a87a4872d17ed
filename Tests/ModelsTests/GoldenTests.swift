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

    /// Where a fixture's model is read from: llama.cpp's GGUF conversion, or the Hugging Face folder itself.
    enum Source: String { case gguf, folder, storedGGUF, storedFolder }

    static func directory(_ arch: String) -> URL { Bundle.module.url(forResource: "Fixtures/golden/\(arch)", withExtension: nil)! }

    func golden(_ arch: String, from source: Source = .gguf) throws -> Golden {
        let dir = Self.directory(arch)
        let model: Transformer
        switch source {
        case .gguf: model = try Transformer(gguf: try GGUFFile(path: dir.appendingPathComponent("model.gguf").path), weights: .float32)
        case .folder: model = try Transformer(huggingFaceDirectory: dir.path, weights: .float32)
        case .storedGGUF: model = try Transformer(gguf: try GGUFFile(path: dir.appendingPathComponent("model.gguf").path), weights: .fileType)
        case .storedFolder: model = try Transformer(huggingFaceDirectory: dir.path, weights: .fileType)
        }
        let expected = try SafetensorsFile(path: dir.appendingPathComponent("expected.safetensors").path)
        let ids = try expected.tensor("input_ids").data.map { Int($0) }
        return Golden(model: model, expected: expected, ids: ids)
    }

    func checkActivations(_ arch: String, from source: Source = .gguf) throws {
        let g = try golden(arch, from: source)
        let c = g.model.config
        let all = HookID.all(layers: c.nLayers).filter { g.expected.entries[$0.name] != nil }
        XCTAssertGreaterThan(all.count, 15 * c.nLayers, "fixture should cover the hooks of every block")
        let r = try g.model.forward([g.ids], hooks: Hooks(capture: Set(all)), logits: .all)
        for id in all {
            let want = try g.expected.tensor(id.name)
            guard let got = r.cache[id] else { XCTFail("\(arch): \(id) not captured"); continue }
            XCTAssertEqual(got.shape, [1] + want.shape, "\(arch): \(id) shape")
            assertClose(got.data, want.data, "\(arch) (\(source)) \(id)")
        }
        XCTAssertEqual(r.cache.values.count, all.count, "\(arch): captured exactly the requested hooks")
        assertClose(r.logits.data, try g.expected.tensor("logits").data, "\(arch) logits")
    }

    func checkGradients(_ arch: String, from source: Source = .gguf) throws {
        let g = try golden(arch, from: source)
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
    func testLlamaGradients() throws { try checkGradients("llama") }
    func testLlamaActivationsFromFolder() throws { try checkActivations("llama", from: .folder) }
    func testLlamaGradientsFromFolder() throws { try checkGradients("llama", from: .folder) }
    func testGemma3Activations() throws { try checkActivations("gemma3") }
    func testGemma3Gradients() throws { try checkGradients("gemma3") }
    func testGemma3ActivationsFromFolder() throws { try checkActivations("gemma3", from: .folder) }
    func testGemma3GradientsFromFolder() throws { try checkGradients("gemma3", from: .folder) }
    func testGPT2Activations() throws { try checkActivations("gpt2") }
    func testGPT2Gradients() throws { try checkGradients("gpt2") }
    func testGPT2ActivationsFromFolder() throws { try checkActivations("gpt2", from: .folder) }
    func testGPT2GradientsFromFolder() throws { try checkGradients("gpt2", from: .folder) }
    func testLlama3Activations() throws { try checkActivations("llama3") }
    func testLlama3Gradients() throws { try checkGradients("llama3") }
    func testLlama3ActivationsFromFolder() throws { try checkActivations("llama3", from: .folder) }
    func testLlama3GradientsFromFolder() throws { try checkGradients("llama3", from: .folder) }
    func testMistralActivationsFromFolder() throws { try checkActivations("mistral", from: .folder) }
    func testMistralGradientsFromFolder() throws { try checkGradients("mistral", from: .folder) }
    func testQwen2Activations() throws { try checkActivations("qwen2") }
    func testQwen2Gradients() throws { try checkGradients("qwen2") }
    func testQwen2ActivationsFromFolder() throws { try checkActivations("qwen2", from: .folder) }
    func testQwen2GradientsFromFolder() throws { try checkGradients("qwen2", from: .folder) }
    func testQwen3Activations() throws { try checkActivations("qwen3") }
    func testQwen3Gradients() throws { try checkGradients("qwen3") }
    func testQwen3ActivationsFromFolder() throws { try checkActivations("qwen3", from: .folder) }
    func testQwen3GradientsFromFolder() throws { try checkGradients("qwen3", from: .folder) }
    func testPhi3Activations() throws { try checkActivations("phi3") }
    func testPhi3Gradients() throws { try checkGradients("phi3") }
    func testPhi3ActivationsFromFolder() throws { try checkActivations("phi3", from: .folder) }
    func testPhi3GradientsFromFolder() throws { try checkGradients("phi3", from: .folder) }
    func testGPTNeoXActivations() throws { try checkActivations("gptneox") }
    func testGPTNeoXGradients() throws { try checkGradients("gptneox") }
    func testGPTNeoXActivationsFromFolder() throws { try checkActivations("gptneox", from: .folder) }
    func testGPTNeoXGradientsFromFolder() throws { try checkGradients("gptneox", from: .folder) }
    func testGPTJActivationsFromFolder() throws { try checkActivations("gptj", from: .folder) }
    func testGPTJGradientsFromFolder() throws { try checkGradients("gptj", from: .folder) }
    func testGemma2Activations() throws { try checkActivations("gemma2") }
    func testGemma2Gradients() throws { try checkGradients("gemma2") }
    func testGemma2ActivationsFromFolder() throws { try checkActivations("gemma2", from: .folder) }
    func testGemma2GradientsFromFolder() throws { try checkGradients("gemma2", from: .folder) }

    /// Weights kept in the file (read in place, rows = outputs; llama's Q/K row order kept as a permutation).
    func testStoredWeightsMatchOnEveryArchitecture() throws {
        for arch in ["llama", "gemma3", "gpt2", "llama3", "qwen2", "qwen3", "phi3", "gptneox", "gemma2"] {
            try checkActivations(arch, from: .storedGGUF)
            try checkGradients(arch, from: .storedGGUF)
        }
        for arch in ["mistral", "gptj", "qwen2", "phi3", "gptneox", "gemma2", "gpt2"] {
            try checkActivations(arch, from: .storedFolder)
            try checkGradients(arch, from: .storedFolder)
        }
    }

    /// A prompt longer than one attention block (64 query rows) gives the same last-token logits as
    /// decoding it token by token through the KV cache (an independent path: one query row at a time),
    /// including Gemma 3's sliding-window layers.
    func checkLongPromptAgainstIncrementalDecoding(_ arch: String, from source: Source = .gguf) throws {
        let g = try golden(arch, from: source)
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
    func testGemma2LongPrompt() throws { try checkLongPromptAgainstIncrementalDecoding("gemma2") }
    func testMistralLongPrompt() throws { try checkLongPromptAgainstIncrementalDecoding("mistral", from: .folder) }
    func testGPTNeoXLongPrompt() throws { try checkLongPromptAgainstIncrementalDecoding("gptneox") }
    func testGPTJLongPrompt() throws { try checkLongPromptAgainstIncrementalDecoding("gptj", from: .folder) }
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
