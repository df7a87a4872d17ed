import Foundation
import Linalg
import ModelFormats
import Models
import Tensors

/// A sparse autoencoder in SAELens's on-disk format (a folder with `cfg.json` and
/// `sae_weights.safetensors`: `W_enc [d_in, d_sae]`, `W_dec [d_sae, d_in]`, `b_enc`, `b_dec`, and
/// `threshold` for JumpReLU), computed as SAELens 6 computes it:
///
///     x̃ = norm_in(x) − b_dec·[apply_b_dec_to_input]        pre = x̃ W_enc + b_enc      (hook_sae_acts_pre)
///     f = ReLU(pre) (standard) | ReLU(pre)·[pre > θ] (jumprelu) | ReLU of the k largest of pre, 0 elsewhere (topk)
///     x̂ = norm_out(f W_dec + b_dec)                                                    (hook_sae_recons)
///
/// with `norm_in/out` none, `constant_norm_rescale` (x·√d_in/‖x‖, undone on the way out) or `layer_norm`
/// (x − mean over std with Bessel's correction + 1e-5, undone on the way out). Every field of `cfg.json`
/// that changes these numbers is read or refused by name (`expected_average_only_in` needs a scaling
/// factor SAELens folds at load time from elsewhere; `hook_z` reshaping is not supported).
public struct SparseAutoencoder: Sendable {
    public enum Architecture: String, Sendable, Codable { case standard, jumprelu, topk }
    public enum Normalisation: String, Sendable, Codable { case none, constantNormRescale = "constant_norm_rescale", layerNorm = "layer_norm" }

    public let architecture: Architecture
    public let dIn: Int
    public let dSAE: Int
    /// The hook it reads (`metadata.hook_name`, or `hook_name` in older files), as a Locus hook.
    public let hook: HookID?
    public let applyDecoderBiasToInput: Bool
    public let normalisation: Normalisation
    public let k: Int?
    public let rescaleByDecoderNorm: Bool
    public let wEnc: [Float], wDec: [Float], bEnc: [Float], bDec: [Float]
    public let threshold: [Float]?
    let decoderNorms: [Float]

    public init(
        architecture: Architecture, dIn: Int, dSAE: Int, hook: HookID?, applyDecoderBiasToInput: Bool = true, normalisation: Normalisation = .none,
        k: Int? = nil, rescaleByDecoderNorm: Bool = false, wEnc: [Float], wDec: [Float], bEnc: [Float], bDec: [Float], threshold: [Float]? = nil
    ) {
        precondition(wEnc.count == dIn * dSAE && wDec.count == dSAE * dIn && bEnc.count == dSAE && bDec.count == dIn)
        self.architecture = architecture
        self.dIn = dIn
        self.dSAE = dSAE
        self.hook = hook
        self.applyDecoderBiasToInput = applyDecoderBiasToInput
        self.normalisation = normalisation
        self.k = k
        self.rescaleByDecoderNorm = rescaleByDecoderNorm
        self.wEnc = wEnc
        self.wDec = wDec
        self.bEnc = bEnc
        self.bDec = bDec
        self.threshold = threshold
        decoderNorms = (0..<dSAE).map { i in (0..<dIn).reduce(Float(0)) { $0 + wDec[i * dIn + $1] * wDec[i * dIn + $1] }.squareRoot() }
    }

    // MARK: loading

    /// Reads a SAELens folder.
    public static func load(_ folder: String) throws -> SparseAutoencoder {
        let cfgPath = folder + "/cfg.json"
        func bad(_ field: String, _ expected: String, _ found: String) -> ProbingError {
            .badFile(path: cfgPath, field: field, expected: expected, found: found)
        }
        guard let data = FileManager.default.contents(atPath: cfgPath) else { throw bad("file", "a SAELens cfg.json", "no such file") }
        guard let cfg = JSONValue.parse(data)?.object else { throw bad("file", "a JSON object", "not JSON") }
        guard let arch = Architecture(rawValue: cfg["architecture"]?.string ?? "standard") else {
            throw bad("architecture", "standard, jumprelu or topk", cfg["architecture"]?.description ?? "")
        }
        guard let dIn = cfg["d_in"]?.integer, dIn > 0, let dSAE = cfg["d_sae"]?.integer, dSAE > 0 else {
            throw bad("d_in/d_sae", "positive integers", "\(cfg["d_in"]?.description ?? "none")/\(cfg["d_sae"]?.description ?? "none")")
        }
        let normName = cfg["normalize_activations"]?.string ?? "none"
        guard let norm = Normalisation(rawValue: normName) else {
            throw bad("normalize_activations", "none, constant_norm_rescale or layer_norm (expected_average_only_in needs SAELens's load-time scaling factor)", normName)
        }
        if let r = cfg["reshape_activations"]?.string, r != "none" { throw bad("reshape_activations", "none (hook_z reshaping is not supported)", r) }
        if let f = cfg["activation_fn_str"]?.string ?? cfg["activation_fn"]?.string, f != "relu", !(arch == .topk && f == "topk") {
            throw bad("activation_fn", "relu", f)
        }
        if let h = cfg["hook_head_index"], !h.isNull { throw bad("hook_head_index", "null (one head's SAE is not supported)", h.description) }
        if cfg["finetuning_scaling_factor"]?.bool == true { throw bad("finetuning_scaling_factor", "false", "true") }
        var k: Int?
        if arch == .topk {
            guard let kv = cfg["k"]?.integer ?? cfg["activation_fn_kwargs"]?.object?["k"]?.integer, kv > 0, kv <= dSAE else {
                throw bad("k", "a positive integer ≤ d_sae for a topk SAE", cfg["k"]?.description ?? "none")
            }
            k = kv
        }
        let hookName = cfg["metadata"]?.object?["hook_name"]?.string ?? cfg["hook_name"]?.string
        let hook = try hookName.map { name -> HookID in
            do { return try HookID(name: name) } catch { throw bad("hook_name", "a TransformerLens hook name", name) }
        }

        let weightsPath = folder + "/sae_weights.safetensors"
        let st = try SafetensorsFile(path: weightsPath)
        func tensor(_ name: String, _ shape: [Int]) throws -> [Float] {
            guard st.entries[name] != nil else { throw ProbingError.badFile(path: weightsPath, field: name, expected: "a tensor of shape \(shape)", found: "none") }
            let t = try st.tensor(name)
            guard t.shape == shape else { throw ProbingError.badFile(path: weightsPath, field: name, expected: "shape \(shape)", found: "\(t.shape)") }
            return t.data
        }
        let known: Set<String> = ["W_enc", "W_dec", "b_enc", "b_dec", "threshold"]
        if let extra = st.names.first(where: { !known.contains($0) }) {
            throw ProbingError.badFile(path: weightsPath, field: extra, expected: "only W_enc, W_dec, b_enc, b_dec (and threshold)", found: "a tensor Locus does not know how to use")
        }
        return SparseAutoencoder(
            architecture: arch, dIn: dIn, dSAE: dSAE, hook: hook, applyDecoderBiasToInput: cfg["apply_b_dec_to_input"]?.bool ?? true,
            normalisation: norm, k: k, rescaleByDecoderNorm: cfg["rescale_acts_by_decoder_norm"]?.bool ?? false,
            wEnc: try tensor("W_enc", [dIn, dSAE]), wDec: try tensor("W_dec", [dSAE, dIn]), bEnc: try tensor("b_enc", [dSAE]),
            bDec: try tensor("b_dec", [dIn]), threshold: arch == .jumprelu ? try tensor("threshold", [dSAE]) : nil)
    }

    // MARK: computing

    /// What one row's normalisation took away, to undo it on the way out.
    struct RowNorm { var scale: Float = 1; var mean: Float = 0 }

    func normaliseIn(_ x: inout [Float]) -> RowNorm {
        let d = Float(dIn)
        switch normalisation {
        case .none: return RowNorm()
        case .constantNormRescale:
            let c = d.squareRoot() / x.reduce(0) { $0 + $1 * $1 }.squareRoot()
            for j in x.indices { x[j] *= c }
            return RowNorm(scale: 1 / c)
        case .layerNorm:
            let mu = x.reduce(0, +) / d
            let sd = (x.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / (d - 1)).squareRoot()
            for j in x.indices { x[j] = (x[j] - mu) / (sd + 1e-5) }
            return RowNorm(scale: sd, mean: mu)
        }
    }

    /// Pre-activations and feature activations of `n` rows of `d_in` (`[n, d_sae]` each).
    public func encode(_ x: [Float], rows n: Int) -> (pre: [Float], features: [Float], norms: [(scale: Float, mean: Float)]) {
        precondition(x.count == n * dIn)
        var input = x
        var norms: [(scale: Float, mean: Float)] = []
        for r in 0..<n {
            var row = Array(input[(r * dIn)..<((r + 1) * dIn)])
            let rn = normaliseIn(&row)
            norms.append((rn.scale, rn.mean))
            for j in 0..<dIn { input[r * dIn + j] = row[j] - (applyDecoderBiasToInput ? bDec[j] : 0) }
        }
        var pre = [Float](repeating: 0, count: n * dSAE)
        for r in 0..<n { for i in 0..<dSAE { pre[r * dSAE + i] = bEnc[i] } }
        Self.multiplyAdd(input, rows: n, wEnc, inner: dIn, columns: dSAE, into: &pre)
        var f = pre
        switch architecture {
        case .standard:
            for i in f.indices { f[i] = max(f[i], 0) }
        case .jumprelu:
            for r in 0..<n { for i in 0..<dSAE { let p = pre[r * dSAE + i]; f[r * dSAE + i] = p > threshold![i] ? max(p, 0) : 0 } }
        case .topk:
            if rescaleByDecoderNorm { for r in 0..<n { for i in 0..<dSAE { f[r * dSAE + i] *= decoderNorms[i] } } }
            let kk = k!
            for r in 0..<n {
                let row = Array(f[(r * dSAE)..<((r + 1) * dSAE)])
                let keep = Set(row.indices.sorted { row[$0] != row[$1] ? row[$0] > row[$1] : $0 < $1 }.prefix(kk))
                for i in 0..<dSAE { f[r * dSAE + i] = keep.contains(i) ? max(row[i], 0) : 0 }
            }
        }
        return (pre, f, norms)
    }

    /// Reconstructions `[n, d_in]` of feature activations, with each row's input normalisation undone.
    public func decode(_ features: [Float], rows n: Int, norms: [(scale: Float, mean: Float)]) -> [Float] {
        var f = features
        if architecture == .topk && rescaleByDecoderNorm { for r in 0..<n { for i in 0..<dSAE { f[r * dSAE + i] /= decoderNorms[i] } } }
        var out = [Float](repeating: 0, count: n * dIn)
        for r in 0..<n { for j in 0..<dIn { out[r * dIn + j] = bDec[j] } }
        Self.multiplyAdd(f, rows: n, wDec, inner: dSAE, columns: dIn, into: &out)
        if normalisation != .none {
            for r in 0..<n { for j in 0..<dIn { out[r * dIn + j] = out[r * dIn + j] * norms[r].scale + norms[r].mean } }
        }
        return out
    }

    /// `c[rows, columns] += a[rows, inner] · b[inner, columns]` (row-major).
    static func multiplyAdd(_ a: [Float], rows: Int, _ b: [Float], inner: Int, columns: Int, into c: inout [Float]) {
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    BLAS.gemm(m: rows, n: columns, k: inner, a: ap.baseAddress!, lda: inner, b: bp.baseAddress!, ldb: columns, beta: 1, c: cp.baseAddress!, ldc: columns)
                }
            }
        }
    }

    /// Hooks replacing the activation at `hook` by the SAE's reconstruction, with `edit` applied to the
    /// feature activations first (ablate or clamp features); with `keepError`, the SAE's error on the
    /// unedited features is added back, so only the edit changes the run (SAELens's `use_error_term`).
    /// The first position of each sequence (BOS, or the attention sink a model without BOS makes of its
    /// first token, whose activation is tens of times larger than the rest) is left as it is unless
    /// `firstPosition`, as SAEs are trained without it (`locus sae-train`).
    public func splice(
        at hook: HookID, keepError: Bool = false, firstPosition: Bool = false, edit: (@Sendable (inout [Float], Int) -> Void)? = nil
    ) -> Hooks {
        var h = Hooks()
        let sae = self
        h.edit(hook) { t, context in
            let n = t.count / sae.dIn, T = t.shape.count >= 3 ? t.shape[1] : n
            let (_, f, norms) = sae.encode(t.data, rows: n)
            var edited = f
            edit?(&edited, n)
            let recon = sae.decode(edited, rows: n, norms: norms)
            let clean = keepError ? sae.decode(f, rows: n, norms: norms) : []
            for r in 0..<n where firstPosition || context.positionOffset + r % T != 0 {
                for j in 0..<sae.dIn {
                    let i = r * sae.dIn + j
                    t.data[i] = keepError ? recon[i] + (t.data[i] - clean[i]) : recon[i]
                }
            }
        }
        return h
    }
}
