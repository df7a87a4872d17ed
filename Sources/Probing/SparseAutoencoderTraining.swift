import ArrayStore
import Foundation
import Linalg
import ModelFormats
import Models
import Tensors

/// Training a sparse autoencoder on cached activations, as SAELens trains its standard and top-k SAEs:
///
///     loss = mean over the batch of ‖x̂ − x‖²  +  λ · Σᵢ fᵢ ‖W_dec,i‖   (the second term for standard only)
///
/// with Adam (β = 0.9, 0.999); W_dec's rows start at unit norm with W_enc = W_decᵀ, b_enc = 0, and
/// b_dec the mean of the activations. The result is saved in SAELens's format (`save(to:)`), so
/// SAELens's `SAE.load_from_disk` reads it.
public struct SAETraining: Sendable {
    public struct Settings: Sendable, Codable {
        public var architecture: SparseAutoencoder.Architecture = .standard
        public var dSAE: Int
        public var l1: Double = 5
        public var k: Int = 32
        public var learningRate: Double = 4e-4
        public var batch: Int = 4096
        public var steps: Int = 1000
        public var seed: UInt64 = 0
        public init(dSAE: Int) { self.dSAE = dSAE }
    }

    /// Loss terms of one batch and their gradients with respect to (W_enc, b_enc, W_dec, b_dec).
    struct Step {
        var mse = 0.0, sparsity = 0.0, l0 = 0.0
        var gWEnc: [Float], gBEnc: [Float], gWDec: [Float], gBDec: [Float]
    }

    /// The loss on `x` (`n` rows) and its gradient, written out by hand (checked against finite differences).
    static func step(_ sae: SparseAutoencoder, _ x: [Float], rows n: Int, l1: Double) -> Step {
        let d = sae.dIn, m = sae.dSAE
        let (pre, f, norms) = sae.encode(x, rows: n)
        let recon = sae.decode(f, rows: n, norms: norms)
        let standard = sae.architecture == .standard
        var s = Step(gWEnc: [Float](repeating: 0, count: d * m), gBEnc: [Float](repeating: 0, count: m),
                     gWDec: [Float](repeating: 0, count: m * d), gBDec: [Float](repeating: 0, count: d))
        let B = Float(n)
        var dRecon = [Float](repeating: 0, count: n * d)
        for i in 0..<(n * d) {
            let e = recon[i] - x[i]
            s.mse += Double(e * e) / Double(n)
            dRecon[i] = 2 * e / B
        }
        // x̂ = f W_dec + b_dec.
        for r in 0..<n { for j in 0..<d { s.gBDec[j] += dRecon[r * d + j] } }
        SparseAutoencoder.multiplyAdd(Tensor(shape: [n, m], data: f).transposed().data, rows: m, dRecon, inner: n, columns: d, into: &s.gWDec)
        // df = dx̂ W_decᵀ (+ λ‖W_dec,i‖/B); the L1 term's own gradient on W_dec.
        var df = [Float](repeating: 0, count: n * m)
        SparseAutoencoder.multiplyAdd(dRecon, rows: n, Tensor(shape: [m, d], data: sae.wDec).transposed().data, inner: d, columns: m, into: &df)
        let norms2 = sae.decoderNorms
        for r in 0..<n {
            for i in 0..<m where f[r * m + i] > 0 {
                s.l0 += 1 / Double(n)
                if standard {
                    s.sparsity += l1 * Double(f[r * m + i] * norms2[i]) / Double(n)
                    df[r * m + i] += Float(l1) * norms2[i] / B
                    let c = Float(l1) * f[r * m + i] / (B * max(norms2[i], 1e-12))
                    for j in 0..<d { s.gWDec[i * d + j] += c * sae.wDec[i * d + j] }
                }
            }
        }
        // f = ReLU(pre) where kept (every unit for standard, the k chosen for top-k).
        var dPre = [Float](repeating: 0, count: n * m)
        for i in 0..<(n * m) where f[i] > 0 && pre[i] > 0 { dPre[i] = df[i] }
        for r in 0..<n { for i in 0..<m { s.gBEnc[i] += dPre[r * m + i] } }
        // pre = (x − b_dec) W_enc + b_enc.
        var xc = x
        for r in 0..<n { for j in 0..<d { xc[r * d + j] -= sae.bDec[j] } }
        SparseAutoencoder.multiplyAdd(Tensor(shape: [n, d], data: xc).transposed().data, rows: d, dPre, inner: n, columns: m, into: &s.gWEnc)
        var dx = [Float](repeating: 0, count: n * d)
        SparseAutoencoder.multiplyAdd(dPre, rows: n, Tensor(shape: [d, m], data: sae.wEnc).transposed().data, inner: m, columns: d, into: &dx)
        for r in 0..<n { for j in 0..<d { s.gBDec[j] -= dx[r * d + j] } }
        return s
    }

    /// The SAE's starting point for activations `x` (`n` rows of `d`).
    static func initial(_ settings: Settings, _ x: [Float], rows n: Int, d: Int, hook: HookID?) -> SparseAutoencoder {
        var rng = SplitMix64(seed: settings.seed)
        let m = settings.dSAE
        var wDec = (0..<(m * d)).map { _ in rng.nextGaussian() }
        for i in 0..<m {
            let norm = (0..<d).reduce(Float(0)) { $0 + wDec[i * d + $1] * wDec[i * d + $1] }.squareRoot()
            for j in 0..<d { wDec[i * d + j] /= norm }
        }
        var wEnc = [Float](repeating: 0, count: d * m)
        for i in 0..<m { for j in 0..<d { wEnc[j * m + i] = wDec[i * d + j] } }
        var mean = [Float](repeating: 0, count: d)
        for r in 0..<n { for j in 0..<d { mean[j] += x[r * d + j] / Float(n) } }
        return SparseAutoencoder(
            architecture: settings.architecture, dIn: d, dSAE: m, hook: hook, k: settings.architecture == .topk ? settings.k : nil,
            wEnc: wEnc, wDec: wDec, bEnc: [Float](repeating: 0, count: m), bDec: mean)
    }

    /// Trains on `x` (`n` rows of `d`), batches drawn in a seeded order; `progress(step, mse, l0)` after each step.
    public static func train(
        _ x: [Float], rows n: Int, d: Int, hook: HookID?, settings: Settings, progress: ((Int, Double, Double) -> Void)? = nil
    ) -> SparseAutoencoder {
        var sae = initial(settings, x, rows: n, d: d, hook: hook)
        var params = [sae.wEnc, sae.bEnc, sae.wDec, sae.bDec]
        var m1 = params.map { [Float](repeating: 0, count: $0.count) }, m2 = m1
        var rng = SplitMix64(seed: settings.seed &+ 1)
        var order = Array(0..<n)
        var cursor = n
        let (b1, b2, eps, lr) = (Float(0.9), Float(0.999), Float(1e-8), Float(settings.learningRate))
        for t in 1...max(settings.steps, 1) {
            let B = min(settings.batch, n)
            var batch = [Float](repeating: 0, count: B * d)
            for r in 0..<B {
                if cursor == n { order.shuffle(using: &rng); cursor = 0 }
                let src = order[cursor]
                cursor += 1
                for j in 0..<d { batch[r * d + j] = x[src * d + j] }
            }
            let s = step(sae, batch, rows: B, l1: settings.l1)
            let grads = [s.gWEnc, s.gBEnc, s.gWDec, s.gBDec]
            let c1 = 1 - pow(b1, Float(t)), c2 = 1 - pow(b2, Float(t))
            for p in 0..<4 {
                for i in params[p].indices {
                    let g = grads[p][i]
                    m1[p][i] = b1 * m1[p][i] + (1 - b1) * g
                    m2[p][i] = b2 * m2[p][i] + (1 - b2) * g * g
                    params[p][i] -= lr * (m1[p][i] / c1) / ((m2[p][i] / c2).squareRoot() + eps)
                }
            }
            sae = SparseAutoencoder(
                architecture: sae.architecture, dIn: d, dSAE: sae.dSAE, hook: hook, k: sae.k,
                wEnc: params[0], wDec: params[2], bEnc: params[1], bDec: params[3])
            progress?(t, s.mse, s.l0)
        }
        return sae
    }
}

extension SparseAutoencoder {
    /// Saves in SAELens's format: `cfg.json` (SAELens 6 fields) and `sae_weights.safetensors`.
    public func save(to folder: String, modelName: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var cfg: [String: Any] = [
            "architecture": architecture.rawValue, "d_in": dIn, "d_sae": dSAE, "dtype": "float32", "device": "cpu",
            "apply_b_dec_to_input": applyDecoderBiasToInput, "normalize_activations": normalisation.rawValue, "reshape_activations": "none",
            "metadata": ["model_name": modelName, "hook_name": hook?.name ?? NSNull(), "sae_lens_training_version": "locus \(LocusVersion.string)"] as [String: Any],
        ]
        if let k { cfg["k"] = k; cfg["rescale_acts_by_decoder_norm"] = rescaleByDecoderNorm }
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: cfg, options: [.prettyPrinted, .sortedKeys]), to: folder + "/cfg.json")
        var tensors: [(name: String, tensor: Tensor)] = [
            ("W_enc", Tensor(shape: [dIn, dSAE], data: wEnc)), ("W_dec", Tensor(shape: [dSAE, dIn], data: wDec)),
            ("b_enc", Tensor(shape: [dSAE], data: bEnc)), ("b_dec", Tensor(shape: [dIn], data: bDec)),
        ]
        if let threshold { tensors.append(("threshold", Tensor(shape: [dSAE], data: threshold))) }
        try SafetensorsWriter.write(tensors, to: folder + "/sae_weights.safetensors")
    }
}
