/// The places in the forward pass where an activation can be captured or changed, named as in
/// TransformerLens (`blocks.{l}.attn.hook_pattern`, `blocks.{l}.mlp.hook_post`, …).
///
/// Shapes, with B sequences of T positions (Tk = key positions, including any cached ones):
/// - `[B, T, d_model]`: `hook_embed`, `hook_pos_embed`, `hook_resid_pre/mid/post`, `ln1/ln2.hook_normalized`,
///   `hook_attn_out`, `hook_mlp_out`, `ln_final.hook_normalized`
/// - `[B, T, n_heads, d_head]`: `attn.hook_q`, `attn.hook_rot_q`, `attn.hook_z`;
///   `[B, T, n_kv_heads, d_head]`: `attn.hook_k`, `attn.hook_v`, `attn.hook_rot_k`
/// - `[B, n_heads, T, Tk]`: `attn.hook_attn_scores` (scaled, masked with -inf, before softmax), `attn.hook_pattern`
/// - `[B, T, d_mlp]`: `mlp.hook_pre`, `mlp.hook_pre_linear` (gated MLPs), `mlp.hook_post` (the FFN keys)
///
/// Conventions: `ln*.hook_normalized` is the norm's output with its weight (and bias) applied, i.e. exactly
/// what the next projection reads (TransformerLens folds the weight away by default; Locus does not fold).
/// `hook_q/k/v` are the raw projections; `hook_rot_q/k` are after Gemma's q/k norm and rotary, what enters q·k.
/// `hook_attn_out` and `hook_mlp_out` are exactly what is added to the residual stream (after Gemma's post-norms).
public enum HookSite: String, Sendable, CaseIterable, Codable {
    case embed = "hook_embed"
    case posEmbed = "hook_pos_embed"
    case residPre = "hook_resid_pre"
    case ln1Normalized = "ln1.hook_normalized"
    case q = "attn.hook_q"
    case k = "attn.hook_k"
    case v = "attn.hook_v"
    case rotQ = "attn.hook_rot_q"
    case rotK = "attn.hook_rot_k"
    case attnScores = "attn.hook_attn_scores"
    case pattern = "attn.hook_pattern"
    case z = "attn.hook_z"
    case attnOut = "hook_attn_out"
    case residMid = "hook_resid_mid"
    case ln2Normalized = "ln2.hook_normalized"
    case mlpPre = "mlp.hook_pre"
    case mlpPreLinear = "mlp.hook_pre_linear"
    case mlpPost = "mlp.hook_post"
    case mlpOut = "hook_mlp_out"
    case residPost = "hook_resid_post"
    case lnFinalNormalized = "ln_final.hook_normalized"

    /// True for sites that exist once per block.
    public var isPerLayer: Bool {
        switch self {
        case .embed, .posEmbed, .lnFinalNormalized: return false
        default: return true
        }
    }
}

/// One hook point: a site, and the block for per-layer sites.
public struct HookID: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    /// Which activation (`.mlpPost`, `.residPre`, ...).
    public let site: HookSite
    /// The block, for per-layer sites; nil for `hook_embed`, `hook_pos_embed` and `ln_final.hook_normalized`.
    public let layer: Int?

    /// A hook point from its site and block: `HookID(.mlpPost, layer: 5)` is `blocks.5.mlp.hook_post`.
    /// A per-layer site needs a layer and the others take none (a programming error otherwise; parse
    /// user input with `init(name:layers:)`, which throws).
    public init(_ site: HookSite, layer: Int? = nil) {
        precondition(site.isPerLayer == (layer != nil), "HookID: \(site.rawValue) \(site.isPerLayer ? "needs" : "takes no") layer")
        self.site = site
        self.layer = layer
    }

    /// Parses a TransformerLens-style name such as `blocks.5.mlp.hook_post` or `hook_embed`.
    ///
    /// - Parameters:
    ///   - name: the hook's name.
    ///   - layers: the model's block count; when given, a block outside `0..<layers` is an error.
    /// - Throws: `HookError.unknownHook` (with the closest valid names) or `HookError.layerOutOfRange`.
    public init(name: String, layers: Int? = nil) throws(HookError) {
        if let site = HookSite(rawValue: name), !site.isPerLayer {
            self.init(site)
            return
        }
        let parts = name.split(separator: ".", maxSplits: 2).map(String.init)
        if parts.count == 3, parts[0] == "blocks", let l = Int(parts[1]), let site = HookSite(rawValue: parts[2]), site.isPerLayer {
            if let layers, l < 0 || l >= layers {
                throw HookError.layerOutOfRange(name: name, layer: l, layers: layers)
            }
            self.init(site, layer: l)
            return
        }
        throw HookError.unknownHook(name: name, suggestions: HookID.suggestions(for: name, layers: layers ?? 1))
    }

    /// The TransformerLens name, `blocks.5.mlp.hook_post`.
    public var name: String { layer.map { "blocks.\($0).\(site.rawValue)" } ?? site.rawValue }
    public var description: String { name }

    public static func < (a: HookID, b: HookID) -> Bool {
        let la = a.layer ?? (a.site == .lnFinalNormalized ? Int.max : -1)
        let lb = b.layer ?? (b.site == .lnFinalNormalized ? Int.max : -1)
        if la != lb { return la < lb }
        let order = HookSite.allCases
        return order.firstIndex(of: a.site)! < order.firstIndex(of: b.site)!
    }

    /// Every hook name a model with `layers` blocks has (the gated-MLP and position sites included).
    public static func all(layers: Int) -> [HookID] {
        var ids = [HookID(.embed), HookID(.posEmbed)]
        for l in 0..<layers { ids += HookSite.allCases.filter(\.isPerLayer).map { HookID($0, layer: l) } }
        ids.append(HookID(.lnFinalNormalized))
        return ids
    }

    /// Names closest to a mistyped one (edit distance), for error messages.
    static func suggestions(for name: String, layers: Int) -> [String] {
        let candidates = all(layers: max(layers, 1)).map(\.name)
        let scored = candidates.map { ($0, editDistance(Array($0), Array(name))) }
        return scored.sorted { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }.prefix(3).map(\.0)
    }
}

extension ModelConfig {
    /// Refuses a hook point this model does not have, saying why: `hook_resid_mid` in a parallel block,
    /// `mlp.hook_pre_linear` without a gated MLP, `hook_pos_embed` with rotary positions.
    public func check(_ id: HookID) throws(HookError) {
        switch id.site {
        case .residMid where parallelBlock:
            throw .notAvailable(name: id.name, reason: "\(architecture.rawValue) runs attention and MLP in parallel on hook_resid_pre; there is no resid_mid")
        case .mlpPreLinear where !gatedMLP:
            throw .notAvailable(name: id.name, reason: "\(architecture.rawValue)'s MLP is not gated; its input projection is mlp.hook_pre")
        case .posEmbed where rotary:
            throw .notAvailable(name: id.name, reason: "\(architecture.rawValue) encodes positions by rotary embedding, not a learned table")
        default: return
        }
    }

    /// Every hook point this model has.
    public var hookIDs: [HookID] { HookID.all(layers: nLayers).filter { (try? check($0)) != nil } }
}

/// A hook name that does not exist, or names a block the model does not have.
public enum HookError: Error, CustomStringConvertible, Equatable, Sendable {
    case unknownHook(name: String, suggestions: [String])
    case layerOutOfRange(name: String, layer: Int, layers: Int)
    case notAvailable(name: String, reason: String)

    public var description: String {
        switch self {
        case .unknownHook(let name, let s):
            return "unknown hook '\(name)'" + (s.isEmpty ? "" : "; did you mean \(s.map { "'\($0)'" }.joined(separator: ", "))?")
        case .layerOutOfRange(let name, let l, let n):
            return "hook '\(name)': layer \(l) out of range; the model has blocks 0...\(n - 1)"
        case .notAvailable(let name, let reason):
            return "hook '\(name)' is not available: \(reason)"
        }
    }
}

func editDistance(_ a: [Character], _ b: [Character]) -> Int {
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var prev = Array(0...b.count)
    var cur = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        cur[0] = i
        for j in 1...b.count {
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&prev, &cur)
    }
    return prev[b.count]
}
