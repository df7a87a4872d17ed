import Foundation
import Models
import Tensors

/// Activation patching with a prompt pair (Wang et al. 2022; Heimersheim & Nanda 2024, "denoising"):
/// run the corrupted prompt, put back one activation from the clean prompt's run, and measure how much
/// of the clean logit difference returns:
///
///     patched effect = (LD_patched − LD_corrupted) / (LD_clean − LD_corrupted),   LD = logit(answer) − logit(versus)
///
/// 1 means the activation carries everything the pair differs in, 0 nothing. Sweeps: every block ×
/// every position for the residual stream (`hook_resid_pre`), the attention output (`hook_attn_out`)
/// and the MLP output (`hook_mlp_out`), as TransformerLens's `get_act_patch_resid_pre` and friends; and
/// every head of every block at all positions (`attn.hook_z` per head, `get_act_patch_attn_head_out_all_pos`).
///
/// The two prompts must have the same number of tokens. The blocks below a patch are the corrupted
/// run's, so each patched run starts at its block from the corrupted residual stream (`Transformer.step`)
/// and runs the blocks above it as one batch, a sequence per patched position or head.
public enum ActivationPatching {
    public enum Site: String, Codable, Sendable, CaseIterable {
        case residPre = "resid_pre", attnOut = "attn_out", mlpOut = "mlp_out"
        var hook: HookSite { switch self { case .residPre: .residPre; case .attnOut: .attnOut; case .mlpOut: .mlpOut } }
    }

    public struct SiteSweep: Codable, Sendable {
        public let site: Site
        /// `effect[position][layer]`.
        public let effect: [[Double]]
    }

    public struct Result: Codable, Sendable {
        public let clean: PromptTokens
        public let corrupted: PromptTokens
        public let answer: Target
        public let versus: Target
        public let cleanDifference: Double
        public let corruptedDifference: Double
        public let sites: [SiteSweep]
        /// `heads[layer][head]`, patched at every position; nil when not asked for.
        public let heads: [[Double]]?
    }

    public static func run(
        _ model: Transformer, clean: PromptTokens, corrupted: PromptTokens, answer: Target, versus: Target,
        sites: [Site] = Site.allCases, heads wantHeads: Bool = true
    ) throws -> Result {
        let c = model.config, L = c.nLayers, d = c.dModel, T = clean.ids.count, V = c.vocabSize
        guard corrupted.ids.count == T else {
            throw ProbingError.invalidOption(
                name: "corrupted", expected: "as many tokens as the clean prompt (\(T): \(clean.pieces))",
                found: "\(corrupted.ids.count): \(corrupted.pieces)")
        }
        let a = answer.ids[0], b = versus.ids[0]
        guard a != b else { throw ProbingError.invalidOption(name: "versus", expected: "a token other than the answer's", found: "'\(versus.text)'") }

        // The clean run gives the activations patched in; the corrupted run, the residual each patched run starts from.
        var cleanCapture: Set<HookID> = []
        for l in 0..<L {
            for s in sites { cleanCapture.insert(HookID(s.hook, layer: l)) }
            if wantHeads { cleanCapture.insert(HookID(.z, layer: l)) }
        }
        let cleanRun = try model.forward([clean.ids], hooks: Hooks(capture: cleanCapture), logits: .last)
        let corruptRun = try model.forward([corrupted.ids], hooks: Hooks(capture: Set((0..<L).map { HookID(.residPre, layer: $0) })), logits: .last)
        func difference(_ logits: ArraySlice<Float>) -> Double { Double(logits[logits.startIndex + a]) - Double(logits[logits.startIndex + b]) }
        let ldClean = difference(cleanRun.logits.data[0..<V]), ldCorrupt = difference(corruptRun.logits.data[0..<V])
        guard ldClean != ldCorrupt else {
            throw ProbingError.invalidOption(name: "prompts", expected: "different logit differences for the clean and corrupted prompts", found: "both \(ldClean)")
        }
        func normalised(_ ld: Double) -> Double { (ld - ldCorrupt) / (ldClean - ldCorrupt) }

        /// Runs blocks `from..<L` on `B` copies of the corrupted residual entering block `from`, with `hooks`
        /// on the first of them, and returns each copy's normalised effect at the last position.
        func patchedRuns(from l: Int, copies B: Int, prepare: (inout Tensor) -> Void = { _ in }, hooks: Hooks = Hooks()) -> [Double] {
            let start = corruptRun.cache[HookID(.residPre, layer: l)]!.data
            var residual = Tensor(shape: [B, T, d], data: Array((0..<B).map { _ in start }.joined()))
            prepare(&residual)
            for layer in l..<L { _ = model.step(layer: layer, residual: &residual, hooks: layer == l ? hooks : Hooks()) }
            var last = [Float](repeating: 0, count: B * d)
            for s in 0..<B { for j in 0..<d { last[s * d + j] = residual.data[(s * T + T - 1) * d + j] } }
            let logits = model.readOut(Tensor(shape: [B, d], data: last))
            return (0..<B).map { normalised(difference(logits.data[($0 * V)..<(($0 + 1) * V)])) }
        }

        var sweeps: [SiteSweep] = []
        for site in sites {
            var effect = [[Double]](repeating: [Double](repeating: 0, count: L), count: T)
            for l in 0..<L {
                let cleanAct = cleanRun.cache[HookID(site.hook, layer: l)]!.data
                // Sequence p takes the clean activation at position p.
                let put: @Sendable (inout Tensor) -> Void = { t in
                    for p in 0..<T { for j in 0..<d { t.data[(p * T + p) * d + j] = cleanAct[p * d + j] } }
                }
                let values: [Double]
                if site == .residPre {
                    values = patchedRuns(from: l, copies: T, prepare: put)
                } else {
                    var hooks = Hooks()
                    hooks.edit(HookID(site.hook, layer: l)) { t, _ in put(&t) }
                    values = patchedRuns(from: l, copies: T, hooks: hooks)
                }
                for p in 0..<T { effect[p][l] = values[p] }
            }
            sweeps.append(SiteSweep(site: site, effect: effect))
        }

        var heads: [[Double]]?
        if wantHeads {
            let nH = c.nHeads, dh = c.dHead, w = nH * dh
            heads = (0..<L).map { l in
                let cleanZ = cleanRun.cache[HookID(.z, layer: l)]!.data
                var hooks = Hooks()
                // Sequence h takes head h's clean output at every position.
                hooks.edit(HookID(.z, layer: l)) { t, _ in
                    for h in 0..<nH { for p in 0..<T { for i in (h * dh)..<((h + 1) * dh) { t.data[(h * T + p) * w + i] = cleanZ[p * w + i] } } }
                }
                return patchedRuns(from: l, copies: nH, hooks: hooks)
            }
        }
        return Result(
            clean: clean, corrupted: corrupted, answer: answer, versus: versus, cleanDifference: ldClean, corruptedDifference: ldCorrupt,
            sites: sweeps, heads: heads)
    }
}
