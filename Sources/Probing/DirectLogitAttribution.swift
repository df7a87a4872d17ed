import Foundation
import ArrayStore
import Models
import Tensors

/// Direct logit attribution: the final residual stream at one position split into what wrote it —
/// the embeddings, each attention head of each block, each MLP — and each part's contribution to the
/// difference of two answers' logits, with the final norm's scale held at its value on the whole
/// residual (TransformerLens's `apply_ln_to_stack`), so the parts add up to the logit difference.
///
/// Per part `c`: `c · v`, where `v = s · (g ⊙ (W_U[a] − W_U[b]))`, `s` the final norm's per-row scale
/// (1/rms, or 1/std for LayerNorm, whose centring `v − mean(v)` also applies), `g` its weight. The
/// final norm's bias and the unembedding's bias add constant terms. A head's part is its slice of
/// `attn.hook_z` times its rows of `W_O` (`W_O`'s bias is a part of its own). Models that norm each
/// attention output before adding it (Gemma 2/3's post-attention norm) are split per block, not per
/// head: that norm is not linear in the heads. Logits soft-capped after the unembedding (Gemma 2)
/// are attributed before the cap (`uncappedDifference`).
public struct DirectLogitAttribution: Codable, Sendable {
    /// One part of the residual stream and its contribution to `logit(answer) − logit(versus)`.
    public struct Part: Codable, Sendable, Equatable {
        /// `embed`, `L{l}H{h}` (head h of block l), `L{l} attn` (a whole attention output), `L{l} attn bias`, `L{l} mlp`,
        /// `final norm bias`, `unembedding bias`.
        public let name: String
        public let layer: Int?
        public let head: Int?
        public let contribution: Double
    }

    public let prompt: PromptTokens
    public let position: Int
    public let answer: Target
    /// The other answer, or nil when the attribution is of `logit(answer)` alone.
    public let versus: Target?
    public let parts: [Part]
    /// Σ parts.
    public var total: Double { parts.reduce(0) { $0 + $1.contribution } }
    /// The model's logit difference before any final soft-cap (what the parts add up to).
    public let uncappedDifference: Double
    /// The logit difference the model outputs.
    public let difference: Double
    /// True when the attention parts are whole blocks (a post-attention norm), not heads.
    public let perBlockAttention: Bool

    /// Attributes `logit(answer) − logit(versus)` (first tokens) at `position` (default: the last).
    public static func compute(
        _ model: Transformer, prompt: PromptTokens, answer: Target, versus: Target?, position: Int? = nil
    ) throws -> DirectLogitAttribution {
        let c = model.config, L = c.nLayers, d = c.dModel, T = prompt.ids.count, nH = c.nHeads, dh = c.dHead
        let pos = position ?? T - 1
        guard pos >= 0 && pos < T else { throw ProbingError.invalidOption(name: "position", expected: "0..<\(T)", found: "\(pos)") }
        guard let a = answer.ids.first else { throw ProbingError.invalidOption(name: "answer", expected: "at least one token", found: "none") }
        let b = versus?.ids.first
        let perBlock = model.weights.blocks.contains { $0.postAttentionNorm != nil }

        var capture: Set<HookID> = [HookID(.embed), HookID(.residPost, layer: L - 1)]
        if c.positionEmbeddingPresent { capture.insert(HookID(.posEmbed)) }
        for l in 0..<L { capture.formUnion([HookID(.mlpOut, layer: l), HookID(perBlock ? .attnOut : .z, layer: l)]) }
        let r = try model.forward([prompt.ids], hooks: Hooks(capture: capture), logits: .all)
        func row(_ id: HookID, width: Int = d) -> [Float] { Array(r.cache[id]!.data[(pos * width)..<((pos + 1) * width)]) }

        // v = s · (g ⊙ (W_U[a] − W_U[b])), centred for LayerNorm.
        let final = row(HookID(.residPost, layer: L - 1))
        let mean = c.norm == .layer ? final.reduce(0, +) / Float(d) : 0
        let variance = final.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(d)
        let s = Double(1 / (variance + c.normEpsilon).squareRoot())
        let u = model.weights.unembedding ?? model.weights.embedding
        let ua = u.row(a), ub = b.map { u.row($0) }
        let g = model.weights.finalNorm.weight
        var v = (0..<d).map { j in Double(g[j]) * (Double(ua[j]) - Double(ub?[j] ?? 0)) * s }
        if c.norm == .layer {
            let m = v.reduce(0, +) / Double(d)
            v = v.map { $0 - m }
        }
        func dot(_ x: [Float]) -> Double { zip(x, v).reduce(0) { $0 + Double($1.0) * $1.1 } }

        var parts: [Part] = []
        var embed = row(HookID(.embed))
        if let pe = r.cache[HookID(.posEmbed)] { for j in 0..<d { embed[j] += pe.data[pos * d + j] } }
        parts.append(Part(name: "embed", layer: nil, head: nil, contribution: dot(embed)))
        for l in 0..<L {
            if perBlock {
                parts.append(Part(name: "L\(l) attn", layer: l, head: nil, contribution: dot(row(HookID(.attnOut, layer: l)))))
            } else {
                let z = row(HookID(.z, layer: l), width: nH * dh)
                let wO = model.weights.blocks[l].wO
                let W = wO.weight  // [n_heads·d_head, d_model]
                for h in 0..<nH {
                    var o = [Float](repeating: 0, count: d)
                    for i in (h * dh)..<((h + 1) * dh) where z[i] != 0 {
                        for j in 0..<d { o[j] += z[i] * W[i * d + j] }
                    }
                    parts.append(Part(name: "L\(l)H\(h)", layer: l, head: h, contribution: dot(o)))
                }
                if let bias = wO.bias { parts.append(Part(name: "L\(l) attn bias", layer: l, head: nil, contribution: dot(bias))) }
            }
            parts.append(Part(name: "L\(l) mlp", layer: l, head: nil, contribution: dot(row(HookID(.mlpOut, layer: l)))))
        }
        if let nb = model.weights.finalNorm.bias {
            let t = (0..<d).reduce(0.0) { $0 + Double(nb[$1]) * (Double(ua[$1]) - Double(ub?[$1] ?? 0)) }
            parts.append(Part(name: "final norm bias", layer: nil, head: nil, contribution: t))
        }
        if let ubias = model.weights.unembeddingBias {
            parts.append(Part(name: "unembedding bias", layer: nil, head: nil, contribution: Double(ubias[a]) - Double(b.map { ubias[$0] } ?? 0)))
        }

        // The model's own logits, before and after any final soft-cap.
        let V = c.vocabSize
        let logits = Array(r.logits.data[(pos * V)..<((pos + 1) * V)])
        func uncap(_ x: Float) -> Double { c.finalSoftcap.map { Double($0) * atanh(Double(x) / Double($0)) } ?? Double(x) }
        let difference = Double(logits[a]) - Double(b.map { logits[$0] } ?? 0)
        let uncapped = uncap(logits[a]) - (b.map { uncap(logits[$0]) } ?? 0)
        return DirectLogitAttribution(
            prompt: prompt, position: pos, answer: answer, versus: versus, parts: parts, uncappedDifference: uncapped, difference: difference,
            perBlockAttention: perBlock)
    }
}

extension DirectLogitAttribution {
    /// HDF5: `/contribution` Float64 `[parts]`, `/layer` and `/head` Int64 `[parts]` (−1: none), the parts'
    /// names as the attribute `parts`, the differences and the answers as attributes.
    public func writeHDF5(to path: String, provenance: Provenance) throws {
        try H5File.write(path) { f in
            try f.write(doubles: parts.map(\.contribution), shape: [parts.count], at: "contribution")
            try f.write(integers: parts.map { Int64($0.layer ?? -1) }, shape: [parts.count], at: "layer")
            try f.write(integers: parts.map { Int64($0.head ?? -1) }, shape: [parts.count], at: "head")
            try f.write(integers: prompt.ids.map(Int64.init), shape: [prompt.ids.count], at: "prompt_ids")
            var a = provenance.attributes
            a["parts"] = .strings(parts.map(\.name))
            a["prompt"] = .string(prompt.text)
            a["tokens"] = .strings(prompt.pieces)
            a["position"] = .int(Int64(position))
            a["answer"] = .string(answer.text)
            a["answer_id"] = .int(Int64(answer.ids[0]))
            if let versus { a["versus"] = .string(versus.text); a["versus_id"] = .int(Int64(versus.ids[0])) }
            a["uncapped_difference"] = .double(uncappedDifference)
            a["difference"] = .double(difference)
            a["per_block_attention"] = .int(perBlockAttention ? 1 : 0)
            a["meaning"] = .string("contribution of each part of the final residual stream to logit(answer) - logit(versus), final norm scale held fixed")
            try f.setAttributes(a)
        }
    }
}
