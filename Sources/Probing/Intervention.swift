import Foundation
import Models
import Tensors

/// One change to one activation, as data: where (hook, sequences, positions) and what (the operation).
///
/// A value that can be printed, compared, saved (`InterventionFile`) and replayed: `Interventions.hooks`
/// turns a list of them into the `Hooks` of a forward call. Positions index the token axis (axis 1 of
/// `[B, T, ...]` activations, the query axis of `attn.hook_pattern`/`hook_attn_scores`); nil means all.
public struct Intervention: Codable, Sendable, Equatable, CustomStringConvertible {
    /// What to do to each selected slice (a slice is the activation of one sequence at one position).
    public enum Operation: Codable, Sendable, Equatable {
        /// Set each slice to `values` (one row per selected position, or one row for all of them).
        case replace(values: [Float])
        /// Add `vector` to each slice.
        case add(vector: [Float])
        /// Multiply each slice by `factor`.
        case scale(factor: Float)
        /// Set each slice to zero.
        case zero
        /// Add Gaussian noise of standard deviation `std`, drawn as `numpy.random.RandomState(seed).randn`
        /// in the order (sequence, position, element); the same noise on every replay.
        case gaussianNoise(std: Double, seed: UInt32)
        /// Copy each slice from the same hook, sequence and position of another run (`sources[run]`;
        /// a one-sequence source serves every sequence).
        case restore(run: String)
    }

    public var hook: String
    public var sequences: [Int]?
    public var positions: [Int]?
    public var operation: Operation

    public init(hook: String, sequences: [Int]? = nil, positions: [Int]? = nil, _ operation: Operation) {
        self.hook = hook
        self.sequences = sequences
        self.positions = positions
        self.operation = operation
    }

    public var description: String {
        let where_ = "\(hook)[seq \(sequences.map { "\($0)" } ?? "all"), pos \(positions.map { "\($0)" } ?? "all")]"
        switch operation {
        case .replace(let v): return "\(where_) := stored value (\(v.count) numbers)"
        case .add(let v): return "\(where_) += vector (\(v.count) numbers)"
        case .scale(let f): return "\(where_) *= \(f)"
        case .zero: return "\(where_) := 0"
        case .gaussianNoise(let s, let seed): return "\(where_) += N(0, \(s)²) seed \(seed)"
        case .restore(let run): return "\(where_) := run '\(run)'"
        }
    }
}

/// Turning interventions into hooks.
public enum Interventions {
    /// The hooks that carry out `interventions` in order, for a model with `layers` blocks.
    /// `sources` holds the activations of other runs that `.restore` copies from.
    public static func hooks(
        _ interventions: [Intervention], config: ModelConfig, sources: [String: ActivationCache] = [:], base: Hooks = Hooks()
    ) throws(ProbingError) -> Hooks {
        var hooks = base
        for iv in interventions {
            let id: HookID
            do {
                id = try HookID(name: iv.hook, layers: config.nLayers)
                try config.check(id)
            } catch { throw .hook(error) }
            try check(iv, site: id.site, config: config)
            var source: Tensor?
            if case .restore(let run) = iv.operation {
                guard let cache = sources[run] else {
                    throw .invalidOption(name: "restore.run", expected: "one of \(sources.keys.sorted())", found: run)
                }
                guard let t = cache[id] else {
                    throw .invalidOption(name: "restore.run", expected: "run '\(run)' to hold \(id.name)", found: "hooks \(cache.ids.map(\.name))")
                }
                source = t
            }
            let iv = iv
            let src = source
            hooks.edit(id) { t, _ in apply(iv, to: &t, source: src) }
        }
        return hooks
    }

    /// The width of one slice (one sequence, one position) at a site; nil for attention scores and patterns,
    /// whose width is the number of keys.
    public static func sliceWidth(_ site: HookSite, config c: ModelConfig) -> Int? {
        switch site {
        case .q, .rotQ, .z: return c.qWidth
        case .k, .v, .rotK: return c.kvWidth
        case .mlpPre, .mlpPreLinear, .mlpPost: return c.dMLP
        case .attnScores, .pattern: return nil
        default: return c.dModel
        }
    }

    /// Checks an intervention's numbers against the slice width of its hook, so no shape error can happen mid-run.
    static func check(_ iv: Intervention, site: HookSite, config: ModelConfig) throws(ProbingError) {
        let W = sliceWidth(site, config: config)
        switch iv.operation {
        case .replace(let v):
            guard let W else { throw .invalidOption(name: "\(iv.hook) replace", expected: "an operation other than replace/add on attention scores or patterns", found: "replace") }
            let n = iv.positions?.count
            guard v.count == W || (n != nil && v.count == n! * W) else {
                throw .invalidOption(name: "\(iv.hook) replace", expected: "\(W) values (one slice) or \(n.map { "\($0 * W)" } ?? "positions × \(W)")", found: "\(v.count)")
            }
        case .add(let v):
            guard let W else { throw .invalidOption(name: "\(iv.hook) add", expected: "an operation other than replace/add on attention scores or patterns", found: "add") }
            guard v.count == W else { throw .invalidOption(name: "\(iv.hook) add", expected: "\(W) values", found: "\(v.count)") }
        case .gaussianNoise(let s, _):
            guard s >= 0 && s.isFinite else { throw .invalidOption(name: "\(iv.hook) noise", expected: "a finite standard deviation ≥ 0", found: "\(s)") }
        default: break
        }
    }

    /// Applies one intervention to an activation tensor (`source`: the other run's tensor for `.restore`).
    public static func apply(_ iv: Intervention, to t: inout Tensor, source: Tensor? = nil) {
        let site = (try? HookID(name: iv.hook))?.site
        let queryAxis = site == .pattern || site == .attnScores
        let B = t.shape[0]
        let heads = queryAxis ? t.shape[1] : 1
        let T = queryAxis ? t.shape[2] : (t.rank > 1 ? t.shape[1] : 1)
        let W = queryAxis ? t.shape[3] : t.shape.dropFirst(2).reduce(1, *)
        let seqs = (iv.sequences ?? Array(0..<B)).filter { $0 >= 0 && $0 < B }
        let poss = (iv.positions ?? Array(0..<T)).filter { $0 >= 0 && $0 < T }
        var rng: NumpyRandomState?
        if case .gaussianNoise(_, let seed) = iv.operation { rng = NumpyRandomState(seed: seed) }
        t.data.withUnsafeMutableBufferPointer { p in
            for b in seqs {
                for (k, pos) in poss.enumerated() {
                    for h in 0..<heads {
                        let o = queryAxis ? ((b * heads + h) * T + pos) * W : (b * T + pos) * W
                        switch iv.operation {
                        case .replace(let v):
                            let row = v.count == W ? 0 : k * W
                            for j in 0..<W { p[o + j] = v[row + j] }
                        case .add(let v):
                            for j in 0..<W { p[o + j] += v[j] }
                        case .scale(let f):
                            for j in 0..<W { p[o + j] *= f }
                        case .zero:
                            for j in 0..<W { p[o + j] = 0 }
                        case .gaussianNoise(let s, _):
                            for j in 0..<W { p[o + j] = Float(Double(p[o + j]) + s * rng!.nextGaussian()) }
                        case .restore:
                            let src = source!
                            let sb = src.shape[0] == 1 ? 0 : b
                            // A source run shorter than this one (or with fewer sequences) leaves the slice as it is.
                            guard sb < src.shape[0], pos < (queryAxis ? src.shape[2] : src.shape[1]) else { continue }
                            let so = queryAxis ? ((sb * heads + h) * src.shape[2] + pos) * W : (sb * src.shape[1] + pos) * W
                            for j in 0..<W { p[o + j] = src.data[so + j] }
                        }
                    }
                }
            }
        }
    }
}
