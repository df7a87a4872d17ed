import Foundation
import Linalg
import Models
import Tensors

/// What ROME computed for one request.
public struct RomeResult: Sendable {
    /// `ΔW = u · rightᵀ` at the edited layer.
    public var delta: WeightDelta
    /// Mean key over the context prompts at the subject's last token.
    public var kStar: [Float]
    /// Key of the unadorned request prompt (context `"{}"`).
    public var kPrompt: [Float]
    /// The value the MLP should now output for `kPrompt`.
    public var vStar: [Float]
    /// `k_p · u` with `u = C⁻¹k*/‖C⁻¹k*‖`: the denominator of the update.
    public var denominator: Double
    /// `|k_p · u| / ‖k_p‖` (the cosine between the key and u); near zero means an ill-posed update.
    public var relativeDenominator: Double
    public var optimisation: DeltaOptimization
}

/// Rank-One Model Editing (Meng et al. 2022), as the reference code kmeng01/rome computes it.
///
/// In Locus's layout the MLP output is `y = k · W + b` with `W` `[d_mlp, d_model]`. ROME asks for
/// the `W′` closest to `W` in the metric of the key covariance `C` (it keeps `k · W′ ≈ k · W` for
/// the keys `k` the model sees in ordinary text) that maps the request's key to `v*`:
///
///     minimise tr((W′ − W)ᵀ C (W′ − W))  subject to  k · W′ = v*
///
/// Lagrange: `2CΔ = kᵀλᵀ` ⇒ `Δ = C⁻¹kᵀ λᵀ / 2`; the constraint `kΔ = r` (`r = v* − k·W − b`) fixes
/// `λᵀ/2 = r / (k C⁻¹ kᵀ)`, so
///
///     ΔW = (C⁻¹kᵀ) r / (k C⁻¹ kᵀ)      (a column vector times a row vector: rank one)
///
/// which is the paper's `Λ (C⁻¹k*)ᵀ` written for `y = k·W`. The reference code takes the direction
/// `u = C⁻¹k*/‖C⁻¹k*‖` from the mean key `k*` over all context prompts but the residual and the
/// denominator from the key `k_p` of the unadorned prompt: `ΔW = u (v* − k_p·W − b)ᵀ / (k_p·u)`,
/// which makes `k_p · W′ = v*` exact. Locus does the same (with `k_p = k*` it is the formula above).
///
/// **r-ROME** (Gupta et al. 2024, scalable-model-editing/rebuilding-rome with
/// `enable_random_prefix_keys`) uses the prefix-averaged key `k*` in the residual and the denominator
/// too: `ΔW = u (v* − k*·W − b)ᵀ / (k*·u)`, with `v*` still the unadorned prompt's `W_out` output
/// plus δ. The asymmetric `k_p · u` of the reference can come close to zero (the "disabling edits"
/// that wreck a model under sequential editing); `k*·u = ‖C^{-1/2}k*‖² / ‖C⁻¹k*‖ > 0` cannot.
public enum ROME {
    /// The keys (`blocks.L.mlp.hook_post`) at each prompt's subject token, running only blocks `0...L`.
    public static func keys(_ transformer: Transformer, prompts: [SubjectPrompt], layer: Int) throws(EditError) -> [[Float]] {
        let id = HookID(.mlpPost, layer: layer)
        let r: ForwardResult
        do {
            r = try transformer.forward(prompts.map(\.tokens), hooks: Hooks(capture: [id]), logits: .none, stopAfterLayer: layer)
        } catch {
            throw .forward(what: "keys at layer \(layer)", reason: error.description)
        }
        let k = r.cache[id]!
        let T = k.shape[1], F = k.shape[2]
        return prompts.enumerated().map { b, p in Array(k.data[((b * T + p.subjectLast) * F)..<((b * T + p.subjectLast + 1) * F)]) }
    }

    /// The rank-one update of `w` (layer `layer`) that maps `kPrompt` to `vStar`, in the direction
    /// `C⁻¹kStar` (or `kStar` without statistics).
    public static func rankOneUpdate(
        layer: Int, w: Linear, kStar: [Float], kPrompt: [Float], vStar: [Float], covariance: CovarianceFactor?
    ) throws(EditError) -> (delta: WeightDelta, denominator: Double, relativeDenominator: Double) {
        let F = w.inputs, D = w.outputs
        precondition(kStar.count == F && kPrompt.count == F && vStar.count == D)
        var u: [Double]
        if let covariance {
            guard covariance.dimension == F else {
                throw .statisticsMismatch(file: "statistics of layer \(covariance.layer)", field: "mom2.shape", expected: "[\(F), \(F)]", found: "[\(covariance.dimension), \(covariance.dimension)]")
            }
            u = try covariance.solve(kStar)
        } else {
            u = kStar.map(Double.init)
        }
        let un = u.reduce(0) { $0 + $1 * $1 }.squareRoot()
        guard un > 0, un.isFinite else { throw .nonFinite(what: "C⁻¹k* at layer \(layer)") }
        u = u.map { $0 / un }
        // Current output for k_p: k_p · W + b (gemv on the stored [d_mlp, d_model] matrix, transposed).
        var current = [Float](repeating: 0, count: D)
        w.weight.withUnsafeBufferPointer { wp in
            kPrompt.withUnsafeBufferPointer { kp in
                current.withUnsafeMutableBufferPointer { cp in
                    BLAS.gemv(transpose: true, rows: F, cols: D, a: wp.baseAddress!, lda: D, x: kp.baseAddress!, y: cp.baseAddress!)
                }
            }
        }
        if let b = w.bias { for j in 0..<D { current[j] += b[j] } }
        var denominator = 0.0
        for i in 0..<F { denominator += Double(kPrompt[i]) * u[i] }
        let kpNorm = kPrompt.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        let relative = kpNorm > 0 ? abs(denominator) / kpNorm : 0
        let right = (0..<D).map { Float((Double(vStar[$0]) - Double(current[$0])) / denominator) }
        let delta = WeightDelta(layer: layer, rank: 1, left: u.map { Float($0) }, right: right)
        return (delta, denominator, relative)
    }

    /// Refuses a layer the model lacks, and the last layer of a model whose MLP output is normalised
    /// after `W_out` (v* is `W_out`'s output before that norm, reached through the next block's input).
    public static func checkApplicable(_ transformer: Transformer, layer: Int) throws(EditError) {
        guard layer >= 0 && layer < transformer.config.nLayers else {
            throw .layerOutOfRange(what: "ROME layer", layer: layer, layers: transformer.config.nLayers)
        }
        guard !transformer.hasPostMLPNorm(layer: layer) || layer + 1 < transformer.config.nLayers else {
            throw .unsupported(
                what: "ROME at the last layer of \(transformer.config.architecture.rawValue)",
                reason: "its MLP output is normalised after W_out (post_ffw_norm); edit a layer below \(layer)")
        }
    }

    /// Computes the ROME update for one request (the model is not changed).
    public static func compute(
        _ transformer: Transformer, prompts: RewritePrompts, hyperparameters h: EditHyperparameters, covariance: CovarianceFactor?,
        prefixedKey: Bool = false
    ) throws(EditError) -> RomeResult {
        let layer = h.layers[0]
        try checkApplicable(transformer, layer: layer)
        if h.mom2Adjustment && covariance == nil {
            throw .statisticsMismatch(file: "statistics", field: "layer \(layer)", expected: "C for the edited layer (mom2_adjustment is on)", found: "none")
        }
        // k*: mean key over the context prompts (causal: the appended target does not change it).
        let ks = try keys(transformer, prompts: prompts.rewriting, layer: layer)
        let F = transformer.config.dMLP
        var kStar = [Float](repeating: 0, count: F)
        for k in ks { for i in 0..<F { kStar[i] += k[i] / Float(ks.count) } }
        // v*: optimise δ added to hook_mlp_out at the subject token.
        let objective = DeltaObjective(
            transformer: transformer, site: HookID(.mlpOut, layer: layer), prompts: prompts, klFactor: h.klFactor,
            weightDecay: h.weightDecay)
        let opt = try DeltaOptimization.run(objective, steps: h.steps, learningRate: h.learningRate, clampNormFactor: h.clampNormFactor)
        let vStar = opt.target
        // r-ROME: the key of the residual and the denominator is k* itself.
        let kPrompt = prefixedKey ? kStar : ks[0]
        let (delta, den, rel) = try rankOneUpdate(
            layer: layer, w: transformer.weights.blocks[layer].wOut, kStar: kStar, kPrompt: kPrompt, vStar: vStar,
            covariance: h.mom2Adjustment ? covariance : nil)
        guard delta.isFinite else { throw .nonFinite(what: "the ROME update of layer \(layer)") }
        return RomeResult(
            delta: delta, kStar: kStar, kPrompt: kPrompt, vStar: vStar, denominator: den, relativeDenominator: rel, optimisation: opt)
    }
}
