/// Names of a model's parameter matrices, as TransformerLens calls them.
public enum ParameterKind: String, Sendable, CaseIterable, Codable {
    case W_Q, W_K, W_V, W_O, W_gate, W_in, W_out
    case ln1 = "ln1.w", ln2 = "ln2.w"
}

/// One parameter: a per-block matrix or norm, or the embedding / unembedding.
public enum ParameterID: Hashable, Sendable, CustomStringConvertible {
    case block(Int, ParameterKind)
    case embedding
    case unembedding

    public var description: String {
        switch self {
        case .block(let l, let k): return k == .ln1 || k == .ln2 ? "blocks.\(l).\(k.rawValue)" : "blocks.\(l).\(k.rawValue.hasPrefix("W_") && [.W_Q, .W_K, .W_V, .W_O].contains(k) ? "attn" : "mlp").\(k.rawValue)"
        case .embedding: return "embed.W_E"
        case .unembedding: return "unembed.W_U"
        }
    }
}
