import Foundation
import Linalg
import Models
import TestSupport
import XCTest

@testable import Editing

/// EMMET's batched equality-constrained update and r-ROME's key, against direct computations.
final class EMMETTests: XCTestCase {
    /// A = C₀⁻¹K (KᵀC₀⁻¹K + ρI)⁻¹ by general (LU) solves, a different route from EMMET's Cholesky solves.
    func direct(_ c: [Double], keys: [[Float]], lambda: Double, ridge: Double) throws -> [Double] {
        let F = keys[0].count, n = keys.count
        var a = c.map { $0 * lambda }
        var x = [Double](repeating: 0, count: F * n)
        for i in 0..<n { for j in 0..<F { x[j * n + i] = Double(keys[i][j]) } }
        try a.withUnsafeMutableBufferPointer { ap in
            try x.withUnsafeMutableBufferPointer { xp in try LAPACK.solve(n: F, rightHandSides: n, a: ap.baseAddress!, b: xp.baseAddress!) }
        }
        var d = [Double](repeating: 0, count: n * n)
        for p in 0..<n { for q in 0..<n { for j in 0..<F { d[p * n + q] += Double(keys[p][j]) * x[j * n + q] } } }
        for p in 0..<n { d[p * n + p] += ridge }
        // A = X D⁻¹: solve Dᵀ Aᵀ = Xᵀ.
        var dt = d
        for p in 0..<n { for q in 0..<n { dt[p * n + q] = d[q * n + p] } }
        var y = [Double](repeating: 0, count: n * F)
        for j in 0..<F { for i in 0..<n { y[i * F + j] = x[j * n + i] } }
        try dt.withUnsafeMutableBufferPointer { dp in
            try y.withUnsafeMutableBufferPointer { yp in try LAPACK.solve(n: n, rightHandSides: F, a: dp.baseAddress!, b: yp.baseAddress!) }
        }
        var out = [Double](repeating: 0, count: F * n)
        for j in 0..<F { for i in 0..<n { out[j * n + i] = y[i * F + j] } }
        return out
    }

    func testAdjustedKeysMatchDirectSolveAndHitTheTargetsExactly() throws {
        let F = 9, n = 3
        let c = Fixtures.spd(F, seed: 11)
        let keys = (0..<n).map { Fixtures.gaussian(F, seed: UInt64(20 + $0)) }
        for (lambda, ridge) in [(1.0, 0.0), (50.0, 0.0), (1.0, 0.1)] {
            let a = try EMMET.adjustedKeys(keys, statistics: Fixtures.statistics(c, F), lambda: lambda, ridge: ridge)
            let want = try direct(c, keys: keys, lambda: lambda, ridge: ridge)
            for i in a.indices { XCTAssertEqual(a[i], want[i], accuracy: 1e-9 * max(1, abs(want[i])), "λ \(lambda) ρ \(ridge) entry \(i)") }
            if ridge == 0 {
                // Kᵀ A = I: every edited key gets exactly its residual (Δ = A Rᵀ ⇒ KᵀΔ = Rᵀ).
                for p in 0..<n {
                    for q in 0..<n {
                        var s = 0.0
                        for j in 0..<F { s += Double(keys[p][j]) * a[j * n + q] }
                        XCTAssertEqual(s, p == q ? 1 : 0, accuracy: 1e-9)
                    }
                }
            }
        }
        // λ cancels without the ridge.
        let a1 = try EMMET.adjustedKeys(keys, statistics: Fixtures.statistics(c, F), lambda: 1, ridge: 0)
        let a2 = try EMMET.adjustedKeys(keys, statistics: Fixtures.statistics(c, F), lambda: 1000, ridge: 0)
        for i in a1.indices { XCTAssertEqual(a1[i], a2[i], accuracy: 1e-9 * max(1, abs(a1[i]))) }
    }

    func testOneRequestIsROMEsUpdate() throws {
        let F = 7, D = 5
        let c = Fixtures.spd(F, seed: 1)
        let w = Linear(weight: Fixtures.gaussian(F * D, seed: 2), inputs: F, outputs: D)
        let k = Fixtures.gaussian(F, seed: 4), v = Fixtures.gaussian(D, seed: 5)
        let (rome, _, _) = try ROME.rankOneUpdate(layer: 0, w: w, kStar: k, kPrompt: k, vStar: v, covariance: try CovarianceFactor(Fixtures.statistics(c, F)))
        let a = try EMMET.adjustedKeys([k], statistics: Fixtures.statistics(c, F), lambda: 3, ridge: 0.1).map { Float($0) }
        var r = [Float](repeating: 0, count: D)
        for j in 0..<D { r[j] = v[j] - (0..<F).reduce(0) { $0 + k[$1] * w.weight[$1 * D + j] } }
        let emmet = WeightDelta(layer: 0, rank: 1, left: a, right: r).dense()
        assertClose(emmet, rome.dense(), absolute: 1e-5, relative: 1e-4, "EMMET with one request (no ridge for n = 1) = ROME")
    }

    func testRROMEMapsTheAveragedKeyToVStar() throws {
        let tf = try Fixtures.transformer("llama")
        let stats = try Fixtures.statistics(tf, layers: [0])
        let h = EditHyperparameters(
            layers: [0], steps: 8, learningRate: 0.5, weightDecay: 1e-3, clampNormFactor: 4, klFactor: 0.0625, contextTemplateLengthParams: [])
        let prompts = RewritePrompts(
            rewriting: [SubjectPrompt(tokens: [10, 11, 20, 21], subjectLast: 1), SubjectPrompt(tokens: [3, 4, 10, 11, 20, 21], subjectLast: 3)],
            kl: [SubjectPrompt(tokens: [10, 11, 30], subjectLast: 1)], target: [50])
        let cov = try CovarianceFactor(stats[0]!)
        let rome = try ROME.compute(tf, prompts: prompts, hyperparameters: h, covariance: cov)
        let rrome = try ROME.compute(tf, prompts: prompts, hyperparameters: h, covariance: cov, prefixedKey: true)
        XCTAssertEqual(rrome.kPrompt, rrome.kStar)
        XCTAssertNotEqual(rome.kPrompt, rome.kStar, "the fixture's prefixed and unprefixed keys differ")
        XCTAssertEqual(rome.delta.left, rrome.delta.left, "the same direction u = C⁻¹k*/‖C⁻¹k*‖")
        var w = tf.weights.blocks[0].wOut
        rrome.delta.apply(to: &w)
        let D = w.outputs, F = w.inputs
        let out = (0..<D).map { j in (0..<F).reduce(Float(w.bias?[j] ?? 0)) { $0 + rrome.kStar[$1] * w.weight[$1 * D + j] } }
        assertClose(out, rrome.vStar, absolute: 1e-4, relative: 1e-4, "k*·W′ + b = v*")
        XCTAssertGreaterThan(rrome.denominator, 0, "k*·u = ‖C^-1/2 k*‖²/‖C⁻¹k*‖ > 0")
    }
}
