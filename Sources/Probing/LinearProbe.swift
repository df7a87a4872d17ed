import Foundation
import Linalg

/// A linear probe: a classifier from activations to labels, fitted on one split and scored on another.
///
/// Features are standardised with the training split's mean and standard deviation. Two fits:
/// - `ridge`: one-vs-rest least squares with an L2 penalty λ, in closed form, `W = (XᵀX + λI)⁻¹ XᵀY`
///   with Y the ±1 indicator of each class (an intercept column, not penalised); predicts the argmax;
/// - `logistic`: multinomial logistic regression, loss = mean cross-entropy + λ/2 ‖W‖², minimised by
///   full-batch gradient descent (a fixed number of steps and learning rate, so the same data gives the
///   same probe), predicts the argmax of the softmax.
public struct LinearProbe: Sendable {
    public enum Kind: String, Codable, Sendable, CaseIterable { case ridge, logistic }

    public let kind: Kind
    public let classes: Int
    public let dimension: Int
    /// `[dimension + 1, classes]` on standardised features (last row: the intercept).
    public let weights: [Double]
    let mean: [Double]
    let scale: [Double]

    /// Fits a probe on `x` (`n` rows of `dimension`) with labels in `0..<classes`.
    public static func fit(
        _ kind: Kind, x: [[Float]], labels: [Int], classes: Int, lambda: Double = 0.01, steps: Int = 300, learningRate: Double = 0.5
    ) throws -> LinearProbe {
        precondition(!x.isEmpty && x.count == labels.count, "LinearProbe: \(x.count) rows, \(labels.count) labels")
        let n = x.count, d = x[0].count, D = d + 1, K = classes
        var mean = [Double](repeating: 0, count: d), scale = [Double](repeating: 0, count: d)
        for r in x { for j in 0..<d { mean[j] += Double(r[j]) / Double(n) } }
        for r in x { for j in 0..<d { scale[j] += (Double(r[j]) - mean[j]) * (Double(r[j]) - mean[j]) / Double(n) } }
        scale = scale.map { $0 > 1e-12 ? 1 / $0.squareRoot() : 0 }
        let z = x.map { r in (0..<d).map { (Double(r[$0]) - mean[$0]) * scale[$0] } + [1] }  // n × D
        var w = [Double](repeating: 0, count: D * K)
        switch kind {
        case .ridge:
            var a = [Double](repeating: 0, count: D * D), b = [Double](repeating: 0, count: D * K)
            for r in 0..<n {
                for i in 0..<D {
                    let zi = z[r][i]
                    for j in 0..<D { a[i * D + j] += zi * z[r][j] }
                    for k in 0..<K { b[i * K + k] += zi * (labels[r] == k ? 1 : -1) }
                }
            }
            for i in 0..<d { a[i * D + i] += lambda }
            a[D * D - 1] += 1e-9 * Double(n)  // the intercept is not penalised; keep the system definite
            try a.withUnsafeMutableBufferPointer { ap in
                try b.withUnsafeMutableBufferPointer { bp in
                    try LAPACK.solvePositiveDefinite(n: D, rightHandSides: K, a: ap.baseAddress!, b: bp.baseAddress!)
                }
            }
            w = b
        case .logistic:
            for _ in 0..<steps {
                let g = logisticGradient(w, z, labels, K, lambda)
                for i in w.indices { w[i] -= learningRate * g[i] }
            }
        }
        return LinearProbe(kind: kind, classes: K, dimension: d, weights: w, mean: mean, scale: scale)
    }

    /// Gradient of mean cross-entropy + λ/2 ‖W‖² (the intercept row unpenalised).
    static func logisticGradient(_ w: [Double], _ z: [[Double]], _ labels: [Int], _ K: Int, _ lambda: Double) -> [Double] {
        let D = z[0].count, n = Double(z.count)
        var g = [Double](repeating: 0, count: D * K)
        for (r, row) in z.enumerated() {
            let p = softmax(scores(w, row, K))
            for k in 0..<K {
                let e = (p[k] - (labels[r] == k ? 1 : 0)) / n
                for i in 0..<D { g[i * K + k] += e * row[i] }
            }
        }
        for i in 0..<(D - 1) { for k in 0..<K { g[i * K + k] += lambda * w[i * K + k] } }
        return g
    }

    /// The loss the logistic fit minimises (for tests).
    static func logisticLoss(_ w: [Double], _ z: [[Double]], _ labels: [Int], _ K: Int, _ lambda: Double) -> Double {
        let D = z[0].count
        var loss = 0.0
        for (r, row) in z.enumerated() { loss -= log(softmax(scores(w, row, K))[labels[r]]) }
        loss /= Double(z.count)
        for i in 0..<(D - 1) { for k in 0..<K { loss += lambda / 2 * w[i * K + k] * w[i * K + k] } }
        return loss
    }

    static func scores(_ w: [Double], _ row: [Double], _ K: Int) -> [Double] {
        (0..<K).map { k in row.indices.reduce(0.0) { $0 + row[$1] * w[$1 * K + k] } }
    }

    static func softmax(_ s: [Double]) -> [Double] {
        let m = s.max() ?? 0
        let e = s.map { exp($0 - m) }
        let t = e.reduce(0, +)
        return e.map { $0 / t }
    }

    /// The predicted class of each row.
    public func predict(_ x: [[Float]]) -> [Int] {
        x.map { r in
            let z = (0..<dimension).map { (Double(r[$0]) - mean[$0]) * scale[$0] } + [1]
            let s = Self.scores(weights, z, classes)
            return s.indices.max { s[$0] < s[$1] }!
        }
    }

    /// Share of rows predicted right.
    public func accuracy(_ x: [[Float]], labels: [Int]) -> Double {
        let p = predict(x)
        return Double(zip(p, labels).filter { $0 == $1 }.count) / Double(max(labels.count, 1))
    }
}
