import ArgumentParser
import Foundation
import Locus

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Covariance statistics C = E[k kᵀ] of the MLP keys (blocks.L.mlp.hook_post) over WikiText-2, for ROME and MEMIT.",
        discussion: """
            Runs only blocks 0...max(layers); accumulates Σ k kᵀ in Float64 (BLAS dsyrk); saves one HDF5 file per layer \
            with the model's SHA-256, layer, hook, token count and corpus hash, and reuses it when they match. An \
            interrupted run resumes from its checkpoint.
            """)

    @OptionGroup var options: ModelOptions
    @Option(parsing: .upToNextOption, help: "Layers.") var layers: [Int] = [5]
    @Option(help: "WikiText-2 tokens.") var tokens = 100_000
    @Option(name: .customLong("stats-dir"), help: "Folder of statistics. Default: $LOCUS_HOME/stats.") var statsDir: String?
    @Option(name: .customLong("batch-tokens"), help: "Padded tokens per forward batch.") var batchTokens = 4096
    @Option(name: .customLong("max-length"), help: "Longest sequence (tokens); longer lines are cut.") var maxLength = 1024

    struct Layer: Encodable {
        let layer: Int
        let file: String
        let tokenCount: Int
        let conditionNumber: Double
        let eigenvalueMin: Double
        let eigenvalueMax: Double
        let computed: Bool
    }
    struct Report: Encodable {
        let model: String
        let seconds: Double
        let layers: [Layer]
    }

    func run() throws {
        let m = try options.load()
        let start = Date()
        let sha = try FileHash.sha256(path: m.path)
        let store = StatisticsStore(directory: statsDir, modelPath: m.path, modelSHA256: sha)
        let (stats, computed) = try store.statistics(
            layers: layers, tokens: tokens, model: m, maxSequenceLength: maxLength, batchTokens: batchTokens,
            progress: options.json ? nil : ProgressBar.statistics())
        let seconds = Date().timeIntervalSince(start)
        var rows: [Layer] = []
        for l in layers.sorted() {
            let s = stats[l]!
            let w = try s.eigenvalues()
            rows.append(
                Layer(
                    layer: l, file: store.path(layer: l, tokens: tokens), tokenCount: s.tokenCount,
                    conditionNumber: w[0] > 0 ? w.last! / w[0] : .infinity, eigenvalueMin: w[0], eigenvalueMax: w.last!,
                    computed: computed.contains(l)))
        }
        let r = Report(model: (m.path as NSString).lastPathComponent, seconds: (seconds * 100).rounded() / 100, layers: rows)
        if options.json { return try printJSON(r) }
        print("model \(r.model): \(tokens) WikiText-2 tokens, \(String(format: "%.1f", seconds)) s")
        for x in rows {
            print(String(format: "layer %2d  %@  cond(C) = %.3g  (λ %.3g … %.3g)  %@", x.layer, x.computed ? "computed" : "reused  ", x.conditionNumber, x.eigenvalueMin, x.eigenvalueMax, x.file))
        }
    }
}
