import Foundation
import Linalg
import Models

/// A change of one linear map of one block, `[inputs, outputs]` in Locus's layout (`y = x · W`):
/// by default the down projection `W_out` (`[d_mlp, d_model]`), which ROME, MEMIT, AlphaEdit, EMMET
/// and FT-L edit; LoRA may change any of `W_Q … W_out`.
///
/// Kept in factored form `ΔW = left · rightᵀ` with `left` `[inputs × rank]` and `right`
/// `[outputs × rank]` (row-major): rank 1 for ROME, ≤ the batch size for MEMIT, the adapter rank
/// for LoRA. Fine-tuning's change has no small rank and is kept dense (`rank == 0`, `left` is ΔW).
///
/// Applying is one `gemm` with β = 1 into the weights (or one elementwise add when dense), the same
/// call every time, so replaying the ledger reproduces the weights bit for bit.
public struct WeightDelta: Sendable, Equatable {
    public let layer: Int
    public let matrix: ParameterKind
    /// 0 for a dense change.
    public let rank: Int
    public let inputs: Int
    public let outputs: Int
    public var left: [Float]
    public var right: [Float]

    /// A factored change of `W_out`.
    public init(layer: Int, rank: Int, left: [Float], right: [Float]) {
        self.init(layer: layer, matrix: .W_out, rank: rank, left: left, right: right)
    }

    /// A factored change of the map `matrix`.
    public init(layer: Int, matrix: ParameterKind, rank: Int, left: [Float], right: [Float]) {
        precondition(rank > 0 && left.count % rank == 0 && right.count % rank == 0)
        precondition(matrix != .ln1 && matrix != .ln2, "WeightDelta: \(matrix.rawValue) is not a linear map")
        self.layer = layer
        self.matrix = matrix
        self.rank = rank
        self.inputs = left.count / rank
        self.outputs = right.count / rank
        self.left = left
        self.right = right
    }

    /// A dense change `ΔW` (`[inputs, outputs]`, row-major) of the map `matrix`.
    public init(layer: Int, matrix: ParameterKind, dense: [Float], inputs: Int, outputs: Int) {
        precondition(dense.count == inputs * outputs && inputs > 0 && outputs > 0)
        precondition(matrix != .ln1 && matrix != .ln2, "WeightDelta: \(matrix.rawValue) is not a linear map")
        self.layer = layer
        self.matrix = matrix
        self.rank = 0
        self.inputs = inputs
        self.outputs = outputs
        self.left = dense
        self.right = []
    }

    public var isDense: Bool { rank == 0 }

    /// The map's name in the ledger and in guard reports: `"5"` for `W_out` of block 5 (as ledgers
    /// have always named it), `"5.W_Q"` for another map.
    public var target: String { matrix == .W_out ? "\(layer)" : "\(layer).\(matrix.rawValue)" }

    /// Parses `target`'s form back (nil when it is not one).
    public static func parseTarget(_ s: Substring) -> (layer: Int, matrix: ParameterKind)? {
        let parts = s.split(separator: ".", maxSplits: 1)
        guard let l = Int(parts[0]), l >= 0 else { return nil }
        if parts.count == 1 { return (l, .W_out) }
        guard let k = ParameterKind(rawValue: String(parts[1])), k != .ln1, k != .ln2 else { return nil }
        return (l, k)
    }

    /// `W += left · rightᵀ` (or `W += ΔW`).
    public func apply(to w: inout Linear) {
        precondition(w.inputs == inputs && w.outputs == outputs, "WeightDelta: \(inputs)×\(outputs) for a \(w.inputs)×\(w.outputs) matrix")
        if isDense {
            var x = w.weight
            x.withUnsafeMutableBufferPointer { c in
                left.withUnsafeBufferPointer { d in for i in 0..<c.count { c[i] += d[i] } }
            }
            w.weight = x
            return
        }
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

    /// Applies the change to its map in `blocks`.
    public func apply(to blocks: inout [BlockWeights]) {
        guard var w = blocks[layer].linear(matrix) else { preconditionFailure("WeightDelta: block \(layer) has no \(matrix.rawValue)") }
        apply(to: &w)
        blocks[layer].setLinear(matrix, w)
    }

    /// The dense `[inputs, outputs]` matrix (for norms and tests).
    public func dense() -> [Float] {
        if isDense { return left }
        var w = Linear(weight: [Float](repeating: 0, count: inputs * outputs), inputs: inputs, outputs: outputs)
        apply(to: &w)
        return w.weight
    }

    /// Frobenius norm of ΔW from the factors: ‖L Rᵀ‖² = Σ (LᵀL) ⊙ (RᵀR) (Gram matrices by `gemm`).
    public var frobeniusNorm: Double {
        if isDense { return frobenius(left) }
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
    /// A copy with the deltas applied in order (only the edited maps' arrays are copied).
    public func applying(_ deltas: [WeightDelta]) -> Transformer {
        var t = self
        for d in deltas { d.apply(to: &t.weights.blocks) }
        return t
    }

    /// The map a delta changes, as the model holds it now.
    func linear(of d: WeightDelta) -> Linear? {
        guard d.layer >= 0 && d.layer < weights.blocks.count else { return nil }
        return weights.blocks[d.layer].linear(d.matrix)
    }
}

/// Frobenius norm of a Float32 array in Float64.
func frobenius(_ x: [Float]) -> Double {
    var s = 0.0
    for v in x { s += Double(v) * Double(v) }
    return s.squareRoot()
}
