import Foundation
import Linalg
import Models
import XCTest

@testable import Probing

/// The probes' fits against direct computations: ridge solves its normal equations (checked by the
/// gradient of its objective at the fit), the logistic gradient equals finite differences of its loss,
/// both separate separable data perfectly on held-out rows, and a fit is the same every time.
final class LinearProbeTests: XCTestCase {
    /// Two Gaussian clouds in 12 dimensions whose means differ along one axis.
    func clouds(_ n: Int, seed: UInt64) -> ([[Float]], [Int]) {
        var rng = SplitMix64(seed: seed)
        var x: [[Float]] = [], y: [Int] = []
        for i in 0..<n {
            let label = i % 3
            var row = (0..<12).map { _ in rng.nextGaussian() }
            row[label] += 6
            x.append(row)
            y.append(label)
        }
        return (x, y)
    }

    func testBothKindsSeparateHeldOutClouds() throws {
        let (x, y) = clouds(150, seed: 1), (tx, ty) = clouds(60, seed: 2)
        for kind in LinearProbe.Kind.allCases {
            let p = try LinearProbe.fit(kind, x: x, labels: y, classes: 3)
            XCTAssertEqual(p.accuracy(tx, labels: ty), 1, "\(kind)")
            let q = try LinearProbe.fit(kind, x: x, labels: y, classes: 3)
            XCTAssertEqual(p.weights, q.weights, "a fit is deterministic")
        }
    }

    func testRidgeSolvesItsNormalEquations() throws {
        let (x, y) = clouds(40, seed: 3)
        let lambda = 0.3
        let p = try LinearProbe.fit(.ridge, x: x, labels: y, classes: 3, lambda: lambda)
        // ∂/∂W [‖ZW − Y‖² + λ‖W_features‖²] = 2 Zᵀ(ZW − Y) + 2λW (intercept row unpenalised) must vanish.
        let z = x.map { r in (0..<12).map { (Double(r[$0]) - p.mean[$0]) * p.scale[$0] } + [1] }
        for i in 0..<13 {
            for k in 0..<3 {
                var g = 0.0
                for (r, row) in z.enumerated() {
                    let s = (0..<13).reduce(0.0) { $0 + row[$1] * p.weights[$1 * 3 + k] }
                    g += row[i] * (s - (y[r] == k ? 1 : -1))
                }
                if i < 12 { g += lambda * p.weights[i * 3 + k] }
                XCTAssertEqual(g, 0, accuracy: 1e-6, "row \(i) class \(k)")
            }
        }
    }

    func testLogisticGradientEqualsFiniteDifferences() {
        let (x, y) = clouds(20, seed: 4)
        let z = x.map { r in r.map(Double.init) + [1] }
        var rng = SplitMix64(seed: 9)
        let w = (0..<(13 * 3)).map { _ in Double(rng.nextGaussian()) * 0.1 }
        let g = LinearProbe.logisticGradient(w, z, y, 3, 0.05)
        let h = 1e-5
        for i in stride(from: 0, to: w.count, by: 5) {
            var a = w, b = w
            a[i] += h
            b[i] -= h
            let fd = (LinearProbe.logisticLoss(a, z, y, 3, 0.05) - LinearProbe.logisticLoss(b, z, y, 3, 0.05)) / (2 * h)
            XCTAssertEqual(g[i], fd, accuracy: 1e-6, "weight \(i)")
        }
    }
}
