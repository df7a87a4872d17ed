import Foundation
import Linalg
import Models

/// A change of one layer's down projection `W_out` (`[d_mlp, d_model]`, `y = k · W_out`), kept in
/// factored form `ΔW = left · rightᵀ` with `left` `[d_mlp × rank]` and `right` `[d_model × rank]`
/// (row-major). ROME's update has rank 1; MEMIT's and AlphaEdit's have rank ≤ the batch size.
///
/// Applying is one `gemm` with β = 1 into the weights, the same call every time, so replaying the
/// ledger reproduces the weights bit for bit.
public struct WeightDelta: Sendable, Equatable {
    public let layer: Int
    public let rank: Int
    public var left: [Float]
    public var right: [Float]

    public init(layer: Int, rank: Int, left: [Float], right: [Float]) {
        precondition(rank > 0 && left.count % rank == 0 && right.count % rank == 0)
        self.layer = layer
        self.rank = rank
        self.left = left
        self.right = right
    }

    public var inputs: Int { left.count / rank }
    public var outputs: Int { right.count / rank }

    /// `W += left · rightᵀ`.
    public func apply(to w: inout Linear) {
        precondition(w.inputs == inputs && w.outputs == outputs, "WeightDelta: \(inputs)×\(outputs) for a \(w.inputs)×\(w.outputs) matrix")
        left.withUnsafeBufferPointer { l in
            right.withUnsafeBufferPointer { r in
                w.weight.withUnsafeMutableBufferPointer { c in
                    BLAS.gemm(
                        transposeB: true, m: inputs, n: outputs, k: rank, a: l.baseAddress!, lda: rank, b: r.baseAddress!,
                        ldb: rank, beta: 1, c: c.baseAddress!, ldc: outputs)
                }
            }
        }
    }

    /// The dense `[d_mlp, d_model]` matrix (for norms and tests).
    public func dense() -> [Float] {
        var w = Linear(weight: [Float](repeating: 0, count: inputs * outputs), inputs: inputs, outputs: outputs)
        apply(to: &w)
        return w.weight
    }

    /// Frobenius norm of ΔW from the factors: ‖L Rᵀ‖² = Σ (LᵀL) ⊙ (RᵀR) (Gram matrices by `gemm`).
    public var frobeniusNorm: Double {
        func gram(_ x: [Float], rows: Int) -> [Float] {
            var g = [Float](repeating: 0, count: rank * rank)
            x.withUnsafeBufferPointer { xp in
                g.withUnsafeMutableBufferPointer { gp in
                    BLAS.gemm(
                        transposeA: true, m: rank, n: rank, k: rows, a: xp.baseAddress!, lda: rank, b: xp.baseAddress!, ldb: rank,
                        c: gp.baseAddress!, ldc: rank)
                }
            }
            return g
        }
        let ll = gram(left, rows: inputs), rr = gram(right, rows: outputs)
        var t = 0.0
        for i in 0..<(rank * rank) { t += Double(ll[i]) * Double(rr[i]) }
        return max(t, 0).squareRoot()
    }

    var hasFiniteFactors: Bool { left.allSatisfy(\.isFinite) && right.allSatisfy(\.isFinite) }

    /// Finite factors whose product is finite too (huge factors can overflow in `ΔW` or its norm).
    public var isFinite: Bool { hasFiniteFactors && frobeniusNorm.isFinite }
}

extension Transformer {
    /// A copy with the deltas applied in order (only the edited layers' arrays are copied).
    public func applying(_ deltas: [WeightDelta]) -> Transformer {
        var t = self
        for d in deltas { d.apply(to: &t.weights.blocks[d.layer].wOut) }
        return t
    }
}

/// Frobenius norm of a Float32 array in Float64.
func frobenius(_ x: [Float]) -> Double {
    var s = 0.0
    for v in x { s += Double(v) * Double(v) }
    return s.squareRoot()
}
