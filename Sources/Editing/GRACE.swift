import Foundation
import Models
import Tensors

/// Hyperparameters of GRACE, named as EasyEdit's `GraceHyperParams`.
public struct GRACEHyperparameters: Sendable, Equatable, Codable {
    /// The block whose down projection carries the codebook (EasyEdit's `inner_params`).
    public var layer: Int
    /// The initial deferral radius ε of a new entry (`eps`), in the Euclidean distance of `W_out`'s inputs.
    public var epsilon: Float
    /// Adam steps on the new value (`n_iter`) and their rate (`edit_lr`).
    public var steps: Int
    public var learningRate: Float
    /// Seed of the cold value initialisation (`val_init: cold`, uniform in [0, 1)).
    public var seed: UInt64

    public init(layer: Int, epsilon: Float, steps: Int, learningRate: Float, seed: UInt64 = 0) {
        self.layer = layer
        self.epsilon = epsilon
        self.steps = steps
        self.learningRate = learningRate
        self.seed = seed
    }

    enum CodingKeys: String, CodingKey { case layer, epsilon = "eps", steps = "n_iter", learningRate = "edit_lr", seed }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        layer = try c.decode(Int.self, forKey: .layer)
        epsilon = try c.decode(Float.self, forKey: .epsilon)
        steps = try c.decode(Int.self, forKey: .steps)
        learningRate = try c.decode(Float.self, forKey: .learningRate)
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 0
    }

    public func validate(layerCount: Int, file: String = "hyperparameters") throws(EditError) {
        func bad(_ field: String, _ expected: String, _ found: String) -> EditError {
            .malformedHyperparameters(file: file, field: "grace.\(field)", expected: expected, found: found)
        }
        guard layer >= 0 && layer < layerCount else { throw .layerOutOfRange(what: "\(file): grace.layer", layer: layer, layers: layerCount) }
        guard epsilon > 0, epsilon.isFinite else { throw bad("eps", "a positive radius", "\(epsilon)") }
        guard steps >= 1 else { throw bad("n_iter", "at least 1", "\(steps)") }
        guard learningRate > 0, learningRate.isFinite else { throw bad("edit_lr", "a positive number", "\(learningRate)") }
    }
}

/// One GRACE edit as the ledger keeps it: the query key, the target it was made for, and the value
/// trained. Replaying `Codebook.insert` with these reproduces the codebook exactly.
public struct CodebookEdit: Sendable, Equatable {
    public var layer: Int
    public var query: [Float]
    public var label: [Int]
    public var epsilon: Float
    public var value: [Float]

    public init(layer: Int, query: [Float], label: [Int], epsilon: Float, value: [Float]) {
        self.layer = layer
        self.query = query
        self.label = label
        self.epsilon = epsilon
        self.value = value
    }

    /// Applies the edit to `blocks[layer]`'s codebook.
    public func apply(to blocks: inout [BlockWeights]) {
        var cb = blocks[layer].codebook ?? Codebook()
        let i = cb.insert(query: query, label: label, epsilon: epsilon, initial: value)
        cb.entries[i].value = value
        blocks[layer].codebook = cb
    }

    /// The ledger's name of the codebook it changes (`"L.codebook"`).
    public var target: String { "\(layer).codebook" }
}

extension Codebook {
    /// FNV-1a over every entry's key, value and radius (for the ledger's checksums).
    public var checksum: String { Checksum.fnv1a(entries.flatMap { $0.key + $0.value + [$0.epsilon] }) }
}

/// GRACE (Hartvigsen et al. 2023), as EasyEdit's `GRACE.py` runs it: the key is `W_out`'s input at the
/// prompt's last token; the codebook is updated (`Codebook.insert`) and the chosen entry's value, which
/// replaces `W_out`'s output wherever the key matches, is trained with Adam on the teacher-forced
/// cross-entropy of the target tokens (mean over them), starting from a uniform random vector.
///
/// Differences from the reference, both deliberate: every position's key is checked against the codebook
/// (the reference checks one position per sequence: the last, or, after an edit, that edit's last prompt
/// position for every later input); and entries are compared by their target tokens (the reference
/// compares the mean of the label tensors).
public enum GRACE {
    public static func compute(
        _ transformer: Transformer, example e: FineTuning.Example, hyperparameters h: GRACEHyperparameters
    ) throws(EditError) -> (edit: CodebookEdit, losses: [DeltaLoss]) {
        try h.validate(layerCount: transformer.config.nLayers)
        guard !e.prompt.isEmpty, !e.target.isEmpty else { throw .unsupported(what: "GRACE", reason: "a request has an empty prompt or target") }
        let c = transformer.config, L = h.layer, d = c.dModel, F = c.dMLP, V = c.vocabSize
        let post = HookID(.mlpPost, layer: L)
        // The query: W_out's input at the prompt's last token (unaffected by this layer's codebook).
        let q: [Float]
        do {
            let r = try transformer.forward([e.prompt], hooks: Hooks(capture: [post]), logits: .none, stopAfterLayer: L)
            let p = e.prompt.count - 1
            q = Array(r.cache[post]!.data[(p * F)..<((p + 1) * F)])
        } catch {
            throw .forward(what: "GRACE key", reason: error.description)
        }
        var rng = SplitMix64(seed: h.seed)
        var value = (0..<d).map { _ in Float(Double(rng.next() >> 11) / Double(1 << 53)) }
        var blocks = transformer.weights.blocks
        var cb = blocks[L].codebook ?? Codebook()
        let chosen = cb.insert(query: q, label: e.target, epsilon: h.epsilon, initial: value)
        value = cb.entries[chosen].value
        var adam = Adam(count: d, learningRate: h.learningRate)
        var losses: [DeltaLoss] = []
        let seq = e.prompt + e.target.dropLast()
        let rows = (0..<e.target.count).map { e.prompt.count - 1 + $0 }
        let out = HookID(.mlpOut, layer: L)
        for step in 0...h.steps {
            cb.entries[chosen].value = value
            blocks[L].codebook = cb
            var t = transformer
            t.weights.blocks = blocks
            if step == h.steps { break }
            let r: ForwardResult
            do {
                r = try t.forward([seq], hooks: Hooks(capture: [HookID(.lnFinalNormalized), post]), logits: .none, recordTape: true)
            } catch {
                throw .forward(what: "GRACE value", reason: error.description)
            }
            let lp = ReadOut.logSoftmaxRows(ReadOut.logits(t, normalized: r.cache[HookID(.lnFinalNormalized)]!, rows: rows), columns: V)
            var nll = 0.0
            var dLogits: [Int: [Float]] = [:]
            let s = 1 / Float(rows.count)
            for (i, row) in rows.enumerated() {
                nll -= Double(lp[i][e.target[i]]) / Double(rows.count)
                var g = lp[i].map { expf($0) * s }
                g[e.target[i]] -= s
                dLogits[row] = g
            }
            guard nll.isFinite else { throw .nonFinite(what: "the GRACE loss at step \(step)") }
            losses.append(DeltaLoss(total: nll, nll: nll, kl: 0, weightDecay: 0, targetProbability: exp(-nll)))
            let g = t.backward(r.tape!, logitsGradient: dLogits, hooks: [out], downTo: L)
            // The value's gradient: the sum over every position the chosen entry replaced (the prompt's last, at least).
            let keys = r.cache[post]!.data, dOut = g.hooks[out]!.data
            var grad = [Float](repeating: 0, count: d)
            keys.withUnsafeBufferPointer { kp in
                for row in 0..<seq.count {
                    guard let (i, dist) = cb.nearest(UnsafeBufferPointer(rebasing: kp[(row * F)..<((row + 1) * F)])), i == chosen,
                        dist <= cb.entries[i].epsilon
                    else { continue }
                    var gr = Array(dOut[(row * d)..<((row + 1) * d)])
                    if t.hasPostMLPNorm(layer: L) { gr = t.postMLPNormBackward(layer: L, x: value, dy: gr, rows: 1) }
                    for j in 0..<d { grad[j] += gr[j] }
                }
            }
            adam.step(&value, gradient: grad)
        }
        guard value.allSatisfy(\.isFinite) else { throw .nonFinite(what: "the GRACE value") }
        return (CodebookEdit(layer: L, query: q, label: e.target, epsilon: h.epsilon, value: value), losses)
    }
}
