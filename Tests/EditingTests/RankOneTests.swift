import Foundation
import Linalg
import Models
import TestSupport
import XCTest

@testable import Editing

/// ROME's closed form against a direct dense computation: the constrained least-squares problem
///   minimise tr(Δᵀ C Δ) subject to k·(W + Δ) = v
/// solved as one dense KKT system per output column, [[2C, kᵀ], [k, 0]] [δ; μ] = [0; r], with LAPACK's
/// general solver (a different route from the Cholesky solve ROME uses).
final class RankOneTests: XCTestCase {
    func testRankOneMatchesDenseKKTSolve() throws {
        let F = 7, D = 5
        let c = Fixtures.spd(F, seed: 1)
        let w = Linear(weight: Fixtures.gaussian(F * D, seed: 2), bias: Fixtures.gaussian(D, seed: 3), inputs: F, outputs: D)
        let k = Fixtures.gaussian(F, seed: 4)
        let v = Fixtures.gaussian(D, seed: 5)
        let (delta, _, _) = try ROME.rankOneUpdate(layer: 0, w: w, kStar: k, kPrompt: k, vStar: v, covariance: try CovarianceFactor(Fixtures.statistics(c, F)))
        let dense = delta.dense()

        // Dense KKT per output column j: unknowns δ (F) and μ; 2Cδ + kᵀμ = 0, k·δ = r_j.
        for j in 0..<D {
            var r = Double(v[j]) - Double(w.bias![j])
            for i in 0..<F { r -= Double(k[i]) * Double(w.weight[i * D + j]) }
            let n = F + 1
            var a = [Double](repeating: 0, count: n * n)
            var b = [Double](repeating: 0, count: n)
            for p in 0..<F {
                for q in 0..<F { a[p * n + q] = 2 * c[p * F + q] }
                a[p * n + F] = Double(k[p])
                a[F * n + p] = Double(k[p])
            }
            b[F] = r
            try a.withUnsafeMutableBufferPointer { ap in
                try b.withUnsafeMutableBufferPointer { bp in try LAPACK.solve(n: n, rightHandSides: 1, a: ap.baseAddress!, b: bp.baseAddress!) }
            }
            let column = (0..<F).map { Float(b[$0]) }
            let got = (0..<F).map { dense[$0 * D + j] }
            assertClose(got, column, absolute: 1e-5, relative: 1e-4, "ΔW column \(j)")
        }
        // And the edited layer maps k to v.
        var edited = w
        delta.apply(to: &edited)
        let out = (0..<D).map { j in (0..<F).reduce(Float(edited.bias![j])) { $0 + k[$1] * edited.weight[$1 * D + j] } }
        assertClose(out, v, absolute: 1e-4, relative: 1e-4, "k·W′ + b")
    }

    /// The reference's variant: direction from k*, residual and denominator from k_p.
    func testRankOneWithPromptKeyIsExactForThePromptAndAlongCInverseKStar() throws {
        let F = 9, D = 4
        let c = Fixtures.spd(F, seed: 11)
        let w = Linear(weight: Fixtures.gaussian(F * D, seed: 12), inputs: F, outputs: D)
        let kStar = Fixtures.gaussian(F, seed: 13)
        let kP = zip(kStar, Fixtures.gaussian(F, seed: 14, scale: 0.3)).map { $0 + $1 }
        let v = Fixtures.gaussian(D, seed: 15)
        let (delta, den, _) = try ROME.rankOneUpdate(layer: 0, w: w, kStar: kStar, kPrompt: kP, vStar: v, covariance: try CovarianceFactor(Fixtures.statistics(c, F)))
        // Direction: C⁻¹k* by a dense general solve.
        var a = c
        var u = kStar.map(Double.init)
        try a.withUnsafeMutableBufferPointer { ap in
            try u.withUnsafeMutableBufferPointer { up in try LAPACK.solve(n: F, rightHandSides: 1, a: ap.baseAddress!, b: up.baseAddress!) }
        }
        let un = u.reduce(0) { $0 + $1 * $1 }.squareRoot()
        assertClose(delta.left, u.map { Float($0 / un) }, absolute: 1e-6, relative: 1e-5, "u")
        XCTAssertEqual(den, zip(kP, u).reduce(0) { $0 + Double($1.0) * $1.1 } / un, accuracy: 1e-6)
        var edited = w
        delta.apply(to: &edited)
        let out = (0..<D).map { j in (0..<F).reduce(Float(0)) { $0 + kP[$1] * edited.weight[$1 * D + j] } }
        assertClose(out, v, absolute: 1e-4, relative: 1e-4, "k_p·W′")
    }

    func testFrobeniusNormFromFactorsMatchesDense() {
        let d = WeightDelta(layer: 0, rank: 3, left: Fixtures.gaussian(8 * 3, seed: 21), right: Fixtures.gaussian(5 * 3, seed: 22))
        XCTAssertEqual(d.frobeniusNorm, frobenius(d.dense()), accuracy: 1e-4)
    }

    /// C from fewer tokens than its dimension is singular: refused, saying how many tokens are needed;
    /// a factor reused for several right-hand sides gives C⁻¹x each time.
    func testCovarianceFactorRefusesTooFewTokensAndSolves() throws {
        let F = 6
        let c = Fixtures.spd(F, seed: 31)
        let few = KeyStatistics(layer: 2, dimension: F, tokenCount: F - 1, moment: c, modelSHA256: "t", corpus: "t", corpusSHA256: "t")
        XCTAssertThrowsError(try CovarianceFactor(few)) { e in
            XCTAssertTrue("\(e)".contains("at least \(F) tokens"), "\(e)")
            XCTAssertTrue("\(e)".contains("layer 2"), "\(e)")
        }
        let f = try CovarianceFactor(Fixtures.statistics(c, F))
        for seed in [32, 33] as [UInt64] {
            let x = Fixtures.gaussian(F, seed: seed)
            let y = try f.solve(x)
            for i in 0..<F {
                let cy = (0..<F).reduce(0.0) { $0 + c[i * F + $1] * y[$1] }
                XCTAssertEqual(cy, Double(x[i]), accuracy: 1e-9)
            }
        }
    }
}
