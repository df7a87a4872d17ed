import Foundation

/// Adam as torch.optim.Adam computes it (β = 0.9, 0.999, ε = 1e-8; `weight_decay` adds `λ·θ` to the
/// gradient), for one flat parameter vector.
struct Adam: Sendable {
    let learningRate: Float
    let weightDecay: Float
    let beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8
    private(set) var m: [Float]
    private(set) var v: [Float]
    private(set) var t: Int = 0

    init(count: Int, learningRate: Float, weightDecay: Float = 0) {
        self.learningRate = learningRate
        self.weightDecay = weightDecay
        m = [Float](repeating: 0, count: count)
        v = [Float](repeating: 0, count: count)
    }

    /// One step on `x` with gradient `g`.
    mutating func step(_ x: inout [Float], gradient g: [Float]) {
        precondition(x.count == m.count && g.count == m.count, "Adam: \(g.count) gradients for \(x.count) parameters")
        t += 1
        let bc1 = 1 - powf(beta1, Float(t)), bc2 = 1 - powf(beta2, Float(t))
        let stepSize = learningRate / bc1, root = bc2.squareRoot()
        for j in 0..<x.count {
            let gr = weightDecay == 0 ? g[j] : g[j] + weightDecay * x[j]
            m[j] = beta1 * m[j] + (1 - beta1) * gr
            v[j] = beta2 * v[j] + (1 - beta2) * gr * gr
            x[j] -= stepSize * m[j] / (v[j].squareRoot() / root + eps)
        }
    }
}
