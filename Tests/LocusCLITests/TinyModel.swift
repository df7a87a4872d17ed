import Foundation
import Locus

/// A tiny Llama with a working tokenizer, for running real commands in tests.
///
/// The weights are the golden-test Llama (`Tests/ModelsTests/Fixtures/golden/llama`: 2 layers,
/// d_model 64, 128 tokens, random). Its own tokenizer section names its tokens `<t0>`…`<t127>`, which
/// encodes no text; this writes a copy whose 128 tokens are a byte-level BPE vocabulary instead:
/// `<s>`, `</s>`, the 95 printable ASCII characters (space spelled `Ġ`) and 31 merges, so plain
/// English prompts encode, and every id still has an embedding row.
enum TinyModel {
    static let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("ModelsTests/Fixtures/golden/llama/model.gguf").path

    /// Merges in priority order; each result becomes a token.
    static let merges = [
        "Ġ t", "h e", "Ġ i", "Ġt he", "i n", "e r", "Ġ o", "Ġ c", "o w", "Ġ T", "e l", "T he", "Ġ l", "a t", "Ġi n",
        "Ġ E", "f f", "Ġ f", "o f", "Ġ s", "i s", "o c", "Ġc it", "Ġ P", "a r", "Ġl oc", "i t", "Ġ R", "o m", "Ġ M", "a n",
    ]

    static func vocabulary() -> [String] {
        var tokens = ["<s>", "</s>", "Ġ"] + (0x21...0x7E).map { String(UnicodeScalar(UInt8($0))) }
        for m in merges { tokens.append(m.replacingOccurrences(of: " ", with: "")) }
        return tokens
    }

    /// A new temporary folder holding the model as `tiny.gguf` (512 positions), for a test's files.
    static func folder(_ prefix: String) throws -> String {
        let folder = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try write(to: folder + "/tiny.gguf", contextLength: 512)
        return folder
    }

    /// Writes the model to `path`; `contextLength` replaces the golden model's 32 positions (RoPE has
    /// no learned positions, so any length runs) for tests whose prompts are longer.
    static func write(to path: String, contextLength: Int? = nil) throws {
        let source = try GGUFFile(path: golden)
        var w = source.writerCopy()
        let tokens = vocabulary()
        precondition(tokens.count == 128 && Set(tokens).count == 128, "the fixture vocabulary must fill the golden model's 128 rows")
        w.set("tokenizer.ggml.model", .string("gpt2"))
        w.set("tokenizer.ggml.pre", .string("gpt2"))
        w.set("tokenizer.ggml.tokens", .array(.strings(tokens)))
        w.set("tokenizer.ggml.token_type", .array(.integers(tokens.indices.map { $0 < 2 ? 3 : 1 }, .int32)))
        w.set("tokenizer.ggml.merges", .array(.strings(merges)))
        w.set("tokenizer.ggml.add_bos_token", .bool(false))
        if let contextLength { w.set("llama.context_length", .uint(UInt64(contextLength), .uint32)) }
        try withExtendedLifetime(source) { try w.write(to: path) }
    }
}
