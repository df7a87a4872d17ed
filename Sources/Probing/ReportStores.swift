import ArrayStore
import Foundation

extension AttributionPatching.Result {
    /// HDF5: `/estimate/<kind>` Float64 `[tokens, layers]` (estimated restored probability, as `TraceStore` writes
    /// the exact one), with the correlation with the exact trace as an attribute when given.
    public func writeHDF5(to path: String, provenance: Provenance, correlations: [TraceKind: Double] = [:]) throws {
        try H5File.write(path) { f in
            for k in kinds {
                let T = k.restored.count, L = k.restored.first?.count ?? 0
                var attrs: [String: AttributeValue] = ["meaning": .string("corrupted p + first-order estimate of the indirect effect (attribution patching)")]
                if let c = correlations[k.kind] { attrs["pearson_r_with_exact"] = .double(c) }
                try f.write(doubles: k.restored.flatMap { $0 }, shape: [T, L], at: "estimate/\(k.kind.rawValue)", attributes: attrs)
            }
            var a = provenance.attributes
            a["corrupted_probability"] = .double(corruptedProbability)
            a["seconds"] = .double(seconds)
            try f.setAttributes(a)
        }
    }
}

extension FFNMemories.Report {
    /// HDF5: per block `/mlp_contribution`, `/attention_contribution` Float64 `[layers]` (with a target), and
    /// `/keys_by_coefficient`, `/keys_by_weighted_norm` Int64 with `/coefficients_*` Float64 `[layers, k]`.
    public func writeHDF5(to path: String, provenance: Provenance) throws {
        try H5File.write(path) { f in
            let n = layers.count, k = layers.first?.byCoefficient.count ?? 0
            try f.write(integers: layers.map { Int64($0.layer) }, shape: [n], at: "layers")
            if target != nil {
                try f.write(doubles: layers.map { $0.mlpContribution ?? .nan }, shape: [n], at: "mlp_contribution")
                try f.write(doubles: layers.map { $0.attentionContribution ?? .nan }, shape: [n], at: "attention_contribution")
            }
            try f.write(integers: layers.flatMap { $0.byCoefficient.map { Int64($0.index) } }, shape: [n, k], at: "keys_by_coefficient")
            try f.write(doubles: layers.flatMap { $0.byCoefficient.map(\.coefficient) }, shape: [n, k], at: "coefficients_by_coefficient")
            try f.write(integers: layers.flatMap { $0.byWeightedNorm.map { Int64($0.index) } }, shape: [n, k], at: "keys_by_weighted_norm")
            try f.write(doubles: layers.flatMap { $0.byWeightedNorm.map { $0.coefficient * $0.valueNorm } }, shape: [n, k], at: "weighted_by_weighted_norm")
            var a = provenance.attributes
            a["prompt"] = .string(prompt.text)
            a["position"] = .int(Int64(position))
            a["hook"] = .string("blocks.{l}.mlp.hook_post (coefficients), rows of W_out (values)")
            if let target { a["target"] = .string(target.text) }
            if let t = targetLogit { a["target_logit"] = .double(t) }
            if let e = embeddingContribution { a["embedding_contribution"] = .double(e) }
            try f.setAttributes(a)
        }
    }
}
