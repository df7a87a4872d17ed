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

extension BlockWeights {
    /// The linear map `kind` names (nil for the norms and for `W_gate` in an ungated MLP).
    public func linear(_ kind: ParameterKind) -> Linear? {
        switch kind {
        case .W_Q: return wQ
        case .W_K: return wK
        case .W_V: return wV
        case .W_O: return wO
        case .W_gate: return wGate
        case .W_in: return wIn
        case .W_out: return wOut
        case .ln1, .ln2: return nil
        }
    }

    /// Replaces the linear map `kind` names (which must exist: see `linear(_:)`).
    public mutating func setLinear(_ kind: ParameterKind, _ value: Linear) {
        switch kind {
        case .W_Q: wQ = value
        case .W_K: wK = value
        case .W_V: wV = value
        case .W_O: wO = value
        case .W_gate:
            precondition(wGate != nil, "setLinear: this block has no W_gate")
            wGate = value
        case .W_in: wIn = value
        case .W_out: wOut = value
        case .ln1, .ln2: preconditionFailure("setLinear: \(kind.rawValue) is a norm, not a linear map")
        }
    }
}
