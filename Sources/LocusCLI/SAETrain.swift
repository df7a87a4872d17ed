import ArgumentParser
import Foundation
import Locus

struct SAETrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sae-train",
        abstract: "Train a sparse autoencoder (ReLU + L1, or top-k) on a hook's activations over WikiText-2, saved in SAELens's format.",
        discussion: "Activations are read in windows of --context tokens (the first position left out: BOS, or the attention sink a model without BOS makes of its first token); the last tenth of the windows is held out for the report: reconstruction MSE, L0, and the next-token loss with the SAE spliced in.")

    @OptionGroup var options: ModelOptions
    @Option(help: "Hook point (d_model wide).") var hook = "blocks.15.hook_resid_post"
    @Option(help: "WikiText-2 tokens to read.") var tokens = 100_000
    @Option(help: "Tokens per window.") var context = 128
    @Option(help: "standard (ReLU + L1) or topk.") var architecture = "topk"
    @Option(name: .customLong("d-sae"), help: "Features.") var dSAE = 4608
    @Option(help: "Top-k: active features per token.") var k = 32
    @Option(help: "Standard: L1 coefficient.") var l1 = 5.0
    @Option(help: "Adam steps.") var steps = 2000
    @Option(help: "Tokens per step.") var batch = 4096
    @Option(help: "Adam learning rate.") var learningRate = 4e-4
    @Option(help: "Output folder (cfg.json + sae_weights.safetensors).") var out: String

    func run() throws {
        guard let arch = SparseAutoencoder.Architecture(rawValue: architecture), arch != .jumprelu else {
            throw ValidationError("--architecture must be standard or topk, not \(architecture)")
        }
        let m = try options.load()
        let c = m.transformer.config
        let id = try HookID(name: hook, layers: c.nLayers)
        guard let layer = id.layer, [.residPre, .residMid, .residPost, .attnOut, .mlpOut].contains(id.site) else {
            throw ValidationError("--hook: \(hook) is not a d_model-wide block hook")
        }
        let d = c.dModel
        // Windows of WikiText-2 (non-empty lines joined), each with the model's BOS when it uses one.
        var stream: [Int] = []
        for line in try Datasets.wikiText().split(separator: "\n") where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            stream += m.tokenizer.encode(String(line), addSpecialTokens: false)
            if stream.count >= tokens { break }
        }
        stream = Array(stream.prefix(tokens))
        // The model's BOS when its tokenizer adds one; the first position of a window is left out either way.
        let bos = m.tokenizer.encode("a").count > m.tokenizer.encode("a", addSpecialTokens: false).count ? m.tokenizer.bosID : nil
        let body = context - (bos == nil ? 0 : 1)
        let windows = stride(from: 0, to: stream.count - body + 1, by: body).map { (bos.map { [$0] } ?? []) + Array(stream[$0..<($0 + body)]) }
        guard windows.count >= 10 else { throw ValidationError("--tokens \(tokens): too few for 10 windows of \(context)") }
        let heldOut = max(1, windows.count / 10)
        var x: [Float] = []
        let start = Date()
        for (w, ids) in windows.dropLast(heldOut).enumerated() {
            let a = try m.transformer.forward([ids], hooks: Hooks(capture: [id]), logits: .last, stopAfterLayer: layer).cache[id]!.data
            x += a[d...]
            if (w + 1) % 50 == 0 { log("activations: \(w + 1)/\(windows.count - heldOut) windows (\(Int(Date().timeIntervalSince(start))) s)") }
        }
        let n = x.count / d
        var settings = SAETraining.Settings(dSAE: dSAE)
        settings.architecture = arch
        settings.k = k
        settings.l1 = l1
        settings.steps = steps
        settings.batch = batch
        settings.learningRate = learningRate
        log("training on \(n) activations of \(id.name): \(steps) steps of \(batch)")
        let sae = SAETraining.train(x, rows: n, d: d, hook: id, settings: settings) { step, mse, l0 in
            if step % 100 == 0 { log(String(format: "step %d: mse %.4g, L0 %.1f", step, mse, l0)) }
        }
        try sae.save(to: out, modelName: (m.path as NSString).lastPathComponent)

        // The held-out windows: reconstruction, L0 and the loss with the SAE spliced in.
        var mse = 0.0, l0 = 0.0, rows = 0, loss = 0.0, spliced = 0.0, predicted = 0
        for ids in windows.suffix(heldOut) {
            let plain = try m.transformer.forward([ids], hooks: Hooks(capture: [id]), logits: .all)
            let a = plain.cache[id]!.data, T = ids.count
            let (_, f, norms) = sae.encode(a, rows: T)
            let r = sae.decode(f, rows: T, norms: norms)
            for t in 1..<T {
                for j in 0..<d { mse += Double((a[t * d + j] - r[t * d + j]) * (a[t * d + j] - r[t * d + j])) / Double(d) }
                l0 += Double(f[(t * sae.dSAE)..<((t + 1) * sae.dSAE)].filter { $0 > 0 }.count)
                rows += 1
            }
            let withSAE = try m.transformer.forward([ids], hooks: sae.splice(at: id), logits: .all)
            for t in 0..<(T - 1) {
                loss += crossEntropy(plain.logits.data, row: t, vocab: c.vocabSize, target: ids[t + 1])
                spliced += crossEntropy(withSAE.logits.data, row: t, vocab: c.vocabSize, target: ids[t + 1])
                predicted += 1
            }
        }
        struct R: Encodable { let hook: String; let trainTokens: Int; let heldOutTokens: Int; let mse: Double; let l0: Double; let loss: Double; let lossWithSAE: Double; let folder: String }
        let report = R(hook: id.name, trainTokens: n, heldOutTokens: rows, mse: mse / Double(rows), l0: l0 / Double(rows),
                       loss: loss / Double(predicted), lossWithSAE: spliced / Double(predicted), folder: out)
        if options.json { return try printJSON(report) }
        print(String(format: "%@: trained on %d tokens; held out %d: MSE %.4g per element, L0 %.1f, next-token loss %.4f → %.4f with the SAE; wrote %@",
                     id.name, n, rows, report.mse, report.l0, report.loss, report.lossWithSAE, out))
    }
}

/// −log softmax(logits[row])[target].
func crossEntropy(_ logits: [Float], row: Int, vocab V: Int, target: Int) -> Double {
    let r = logits[(row * V)..<((row + 1) * V)]
    let mx = Double(r.max()!)
    return mx + log(r.reduce(0.0) { $0 + exp(Double($1) - mx) }) - Double(r[r.startIndex + target])
}
