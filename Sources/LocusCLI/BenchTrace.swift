import ArgumentParser
import Foundation
import Linalg
import Locus

struct BenchTrace: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Time a full causal trace (3 kinds × all layers × every token × 10 samples) of the Eiffel Tower prompt, with peak memory.")

    @OptionGroup var options: ModelOptions
    @Option(help: "The prompt.") var prompt = "The Eiffel Tower is located in the city of"
    @Option(help: "Its subject.") var subject = "Eiffel Tower"
    @Option(help: "The answer.") var target = " Paris"
    @Option(help: "Noise samples.") var samples = 10
    @Flag(help: "Also time the naive algorithm (one forward pass per cell, as the ROME code runs it).") var naive = false

    struct Report: Encodable {
        let model: String
        let prompt: String
        let tokens: Int
        let cells: Int
        let samples: Int
        let threads: Int
        let blasCore: String
        let loadSeconds: Double
        let traceSeconds: Double
        /// The trace's matrix products against this run's sgemm ceiling (measured after the trace).
        let products: ComputeFigures
        let ceiling: Ceiling
        let naiveSeconds: Double?
        let largestDifferenceFromNaive: Double?
        let cleanProbability: Double
        let corruptedProbability: Double
        let tokenLayersComputed: Int
        let tokenLayersNaive: Int
        let peakResidentMiB: Double
        let loadAverage: String
    }

    func run() throws {
        let t0 = Date()
        let ctx = try ProbeContext(options)
        let load = Date().timeIntervalSince(t0)
        let m = ctx.model
        var o = TraceOptions()
        o.samples = samples
        let input = try TraceInput(prompt: PromptTokens(prompt, tokenizer: m.tokenizer), subject: subject, target: try Target(target, tokenizer: m.tokenizer))
        let sigma = try ctx.embeddingNoise().sigma
        let bar = ProgressBar("trace", quiet: options.json)
        let meter = GEMMMeter()
        BLAS.meter = meter
        let r = try TraceEngine.run(m.transformer, input, options: o, sigma: sigma, progress: bar.update)
        BLAS.meter = nil
        let ceiling = Ceiling.measure()
        let products = ComputeFigures(flops: meter.split.flops + meter.serial.flops, seconds: r.seconds, ceiling: ceiling)
        var naiveSeconds: Double?, diff: Double?
        if naive {
            let nb = ProgressBar("naive", quiet: options.json)
            let n = try CausalTrace.naive(m.transformer, input, options: o, sigma: sigma, progress: nb.update)
            naiveSeconds = n.seconds
            diff = zip(r.kinds, n.kinds).flatMap { zip($0.restored.flatMap { $0 }, $1.restored.flatMap { $0 }).map { abs($0 - $1) } }.max()
        }
        // Work done, in (token, block) evaluations per sample: the naive algorithm runs every block on every token
        // for each cell; the reuse engine runs blocks start..<L on tokens i..<T, and skips tokens before the subject.
        let L = m.config.nLayers, T = input.prompt.ids.count
        var reuse = 0
        for k in o.kinds {
            for i in input.subjectRange.lowerBound..<T {
                for l in 0..<L {
                    let start = k == .hidden ? l + 1 : k.restoredLayers(center: l, window: o.window, layers: L).lowerBound
                    reuse += (L - start) * (T - i)
                }
            }
        }
        let loadavg = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
        let report = Report(
            model: (m.path as NSString).lastPathComponent, prompt: prompt, tokens: T, cells: 3 * L * T, samples: samples, threads: BLAS.threads,
            blasCore: BLAS.coreName, loadSeconds: (load * 100).rounded() / 100, traceSeconds: (r.seconds * 100).rounded() / 100,
            products: products, ceiling: ceiling, naiveSeconds: naiveSeconds,
            largestDifferenceFromNaive: diff, cleanProbability: r.cleanProbability, corruptedProbability: r.corruptedProbability,
            tokenLayersComputed: reuse * samples, tokenLayersNaive: 3 * L * T * L * T * samples, peakResidentMiB: (peakResidentMiB() * 10).rounded() / 10,
            loadAverage: loadavg)
        if options.json { return try printJSON(report) }
        print("full trace of '\(prompt)' (\(T) tokens, \(report.cells) cells × \(samples) samples): \(report.traceSeconds) s; peak resident \(report.peakResidentMiB) MiB")
        print("matrix products: \(products.text) (ceiling of this run \(ceiling.sgemmGFLOPs) GFLOP/s)")
        print("token·block evaluations: \(report.tokenLayersComputed) (naive: \(report.tokenLayersNaive)); \(BLAS.threads) threads, OpenBLAS \(BLAS.coreName), load average \(loadavg)")
        if let naiveSeconds { print(String(format: "naive: %.1f s; largest difference %.2e", naiveSeconds, diff ?? .nan)) }
    }
}
