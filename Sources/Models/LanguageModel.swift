import Foundation
import ModelFormats
import Tokenization

/// A model read from a file: its transformer, its tokenizer, and where it came from.
///
/// The file is memory-mapped read-only and never modified; weights are dequantized to Float32.
public final class LanguageModel: @unchecked Sendable {
    public let path: String
    public let gguf: GGUFFile
    public var transformer: Transformer
    public let tokenizer: Tokenizer

    public var config: ModelConfig { transformer.config }

    public init(path: String) throws {
        let g = try GGUFFile(path: path)
        self.path = path
        gguf = g
        transformer = try Transformer(gguf: g)
        tokenizer = try makeTokenizer(from: g)
    }

    private init(path: String, gguf: GGUFFile, transformer: Transformer, tokenizer: Tokenizer) {
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
