import Foundation
import Models

/// Limits an edit must stay within; an edit that crosses one is rolled back.
public struct EditGuards: Sendable, Codable, Equatable {
    /// Largest allowed `‖ΔW‖_F / ‖W‖_F` per edited layer.
    public var maxRelativeNorm: Double
    /// Smallest allowed `|k_p · u| / ‖k_p‖` (ROME's denominator, as a cosine).
    public var minRelativeDenominator: Double
    /// Largest allowed WikiText perplexity after / before (nil: no canary).
    public var maxPerplexityRatio: Double?
    /// Require every request's efficacy on its own prompt after the edit: P(new) > P(true)
    /// (or, without `target_true`, P(new) higher than before).
    public var requireEfficacy: Bool

    public init(maxRelativeNorm: Double = 1.0, minRelativeDenominator: Double = 1e-6, maxPerplexityRatio: Double? = 1.1, requireEfficacy: Bool = true) {
        self.maxRelativeNorm = maxRelativeNorm
        self.minRelativeDenominator = minRelativeDenominator
        self.maxPerplexityRatio = maxPerplexityRatio
        self.requireEfficacy = requireEfficacy
    }
}

/// Checks on proposed deltas before they touch the model.
public enum DeltaChecks {
    /// Failures (empty when the deltas pass), and `‖ΔW‖/‖W‖` per edited map (keyed by
    /// `WeightDelta.target`: `"5"` for block 5's `W_out`, `"5.W_Q"` for another map).
    public static func check(
        _ deltas: [WeightDelta], on transformer: Transformer, denominators: [Double], guards: EditGuards
    ) -> (failures: [String], relativeNorms: [String: Double]) {
        var failures: [String] = []
        var norms: [String: Double] = [:]
        for d in deltas {
            // `isFinite`, with the norm computed once (it is a product of rank × rank Gram matrices).
            let n = d.hasFiniteFactors ? d.frobeniusNorm : .nan
            guard n.isFinite else {
                failures.append("\(WeightDelta.describe(d.target)): the update has non-finite values")
                continue
            }
            guard let map = transformer.linear(of: d), map.inputs == d.inputs, map.outputs == d.outputs else {
                failures.append("\(WeightDelta.describe(d.target)): the model has no \(d.inputs)×\(d.outputs) map there")
                continue
            }
            let w = frobenius(map.weight)
            let r = n / max(w, .leastNonzeroMagnitude)
            norms[d.target, default: 0] += r
        }
        failures += limits(relativeNorms: norms, denominators: denominators, guards: guards)
        return (failures, norms)
    }

    /// The limits on the size of an update that `check` measured: `‖ΔW‖/‖W‖` per layer and ROME's
    /// relative denominators.
    public static func limits(relativeNorms norms: [String: Double], denominators: [Double], guards: EditGuards) -> [String] {
        var failures: [String] = []
        for (t, r) in norms.sorted(by: { WeightDelta.targetOrder($0.key, $1.key) }) where !(r <= guards.maxRelativeNorm) {
            failures.append(String(format: "%@: ‖ΔW‖/‖W‖ = %.4g exceeds %.4g", WeightDelta.describe(t), r, guards.maxRelativeNorm))
        }
        for (i, den) in denominators.enumerated() where !(den >= guards.minRelativeDenominator) {
            failures.append(String(format: "request %d: the rank-one denominator |k·u|/‖k‖ = %.3g is below %.3g", i, den, guards.minRelativeDenominator))
        }
        return failures
    }
}

extension WeightDelta {
    /// `"5"` → "layer 5", `"5.W_Q"` → "layer 5 W_Q" (for messages).
    public static func describe(_ target: String) -> String {
        guard let (l, k) = WeightDelta.parseTarget(Substring(target)) else { return target }
        return k == .W_out ? "layer \(l)" : "layer \(l) \(k.rawValue)"
    }

    /// Orders delta targets by layer, then by map name.
    public static func targetOrder(_ a: String, _ b: String) -> Bool {
        let x = WeightDelta.parseTarget(Substring(a)), y = WeightDelta.parseTarget(Substring(b))
        return (x?.layer ?? -1, x?.matrix.rawValue ?? a) < (y?.layer ?? -1, y?.matrix.rawValue ?? b)
    }
}
