import Foundation
import ModelFormats
import Tokenization

/// A model read from a file: its transformer, its tokenizer, and where it came from.
///
/// The file is memory-mapped read-only and never modified; weights are dequantized to Float32.
public final class LanguageModel: @unchecked Sendable {
    /// The GGUF file, or the Hugging Face folder, the model was read from.
    public let path: String
    /// The parsed GGUF file (metadata and the mapped tensor data); nil for a Hugging Face folder.
    public let gguf: GGUFFile?
    /// The weights and the forward/backward passes; run prompts with `transformer.forward`.
    public var transformer: Transformer
    /// The tokenizer the file's `tokenizer.ggml.*` metadata describes.
    public let tokenizer: Tokenizer

    /// Sizes and architecture options read from the file's metadata.
    public var config: ModelConfig { transformer.config }

    /// Reads a GGUF model file: its weights (dequantized to Float32) and its tokenizer.
    ///
    /// ```swift
    /// let model = try LanguageModel(path: try ModelCache().resolve("smollm2"))
    /// let ids = try model.encode("The Eiffel Tower is located in the city of")
    /// let p = try model.transformer.forward([ids], logits: .last).lastLogProbabilities()
    /// ```
    ///
    /// - Parameter path: a GGUF v2 or v3 file, or a Hugging Face folder (config.json, safetensors, tokenizer.json),
    ///   of a supported architecture (`Architecture`).
    /// - Throws: `ModelFormatError` for a file that is not valid GGUF or lacks a tensor or metadata key
    ///   (naming the file and the field), and `TokenizerLoadingError` for tokenizer metadata that does not
    ///   make a tokenizer.
    public init(path: String, weights: WeightPolicy = .automatic) throws {
        self.path = path
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            gguf = nil
            transformer = try Transformer(huggingFaceDirectory: path, weights: weights)
            tokenizer = try makeTokenizer(huggingFaceDirectory: path)
            return
        }
        let g = try GGUFFile(path: path)
        gguf = g
        transformer = try Transformer(gguf: g, weights: weights)
        tokenizer = try makeTokenizer(from: g)
    }

    private init(path: String, gguf: GGUFFile?, transformer: Transformer, tokenizer: Tokenizer) {
        self.path = path
        self.gguf = gguf
        self.transformer = transformer
        self.tokenizer = tokenizer
    }

    /// The same file and tokenizer with other weights (for example with edits applied).
    public func with(transformer: Transformer) -> LanguageModel {
        LanguageModel(path: path, gguf: gguf, transformer: transformer, tokenizer: tokenizer)
    }

    /// Token ids of a prompt, with the model's own BOS convention. An empty prompt is an error.
    public func encode(_ text: String) throws -> [Int] {
        let ids = tokenizer.encode(text)
        guard !ids.isEmpty else { throw ForwardError.emptyPrompt(index: 0) }
        return ids
    }

    /// Token ids of a continuation (a target such as " Paris"): no BOS/EOS added.
    public func encodeContinuation(_ text: String) -> [Int] { tokenizer.encode(text, addSpecialTokens: false) }

    /// Greedy (or sampled) continuation of a prompt, as text.
    public func complete(_ prompt: String, maxNewTokens: Int, sampling: Sampling = .greedy) throws -> (ids: [Int], text: String) {
        let ids = try encode(prompt)
        let stop = Set([tokenizer.eosID].compactMap { $0 })
        let out = try transformer.generate(ids, maxNewTokens: maxNewTokens, sampling: sampling, stop: stop)
        return (out, tokenizer.decode(out))
    }
}
