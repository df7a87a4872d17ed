import ArgumentParser
import Foundation
import Linalg
import Locus

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Speed and memory benchmarks (figures, never asserted by tests).",
        subcommands: [BenchForward.self, BenchBLAS.self, BenchTrace.self, BenchEdit.self, BenchMemory.self])
}

/// Peak resident memory of this process so far (VmHWM), in MiB.
func peakResidentMiB() -> Double {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return -1 }
    for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        // "VmHWM:\t  318660 kB" (a tab, then spaces only when the number is short)
        let kb = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { Double($0) }.first ?? -1
        return kb / 1024
    }
    return -1
}

struct BenchForward: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "Prefill tok/s at 16/128/512 tokens and decode tok/s (like llama-bench pp/tg), with peak memory.")

    @OptionGroup var options: ModelOptions
    @Option(help: "Repetitions per figure (the median is reported).") var repetitions = 3
    @Option(parsing: .upToNextOption, help: "Prompt lengths for prefill.") var prefill: [Int] = [16, 128, 512]
    @Option(help: "Tokens to decode.") var decode = 32

    struct Report: Encodable {
        let model: String
        let threads: Int
        let blasCore: String
        let loadSeconds: Double
        let prefillTokensPerSecond: [String: Double]
        let decodeTokensPerSecond: Double
        /// This machine's sgemm and memory-read ceilings, measured in this run.
        let ceiling: Ceiling
        /// Per prefill length: the GFLOP of its matrix products, the rate at the median time, its share of sgemm.
        let prefillProducts: [String: ComputeFigures]
        /// Weights streamed per decoded token (every matrix, as held) and the rate at which decoding reads them.
        let decodeMiBPerToken: Double
        let decodeGBs: Double
        let decodeShareOfRead: Double
        /// Share of decoding time spent inside the matrix–vector products (the rest: norms, attention,
        /// rotary, dispatch between them).
        let decodeShareInProducts: Double
        let peakResidentMiB: Double
        let weightsMiB: Double
        /// Weights kept in the file's type (read in place) or converted to Float32.
        let weightsKept: String
    }

    func run() throws {
        let t0 = Date()
        let m = try options.load()
        let load = Date().timeIntervalSince(t0)
        let tf = m.transformer
        let ceiling = Ceiling.measure()
        if !options.json { log("ceilings of this run: sgemm \(ceiling.sgemmGFLOPs) GFLOP/s, memory read \(ceiling.readGBs) GB/s") }
        var rng = SplitMix64(seed: 1)
        func tokens(_ n: Int) -> [Int] { (0..<n).map { _ in Int(rng.next() % UInt64(tf.config.vocabSize)) } }
        var pp: [String: Double] = [:]
        var products: [String: ComputeFigures] = [:]
        for n in prefill {
            let ids = tokens(n)
            let (_, warm) = try ComputeFigures.measure(ceiling) { try tf.forward([ids], logits: .last) }
            var times: [Double] = []
            for _ in 0..<repetitions {
                let s = Date()
                _ = try tf.forward([ids], logits: .last)
                times.append(Date().timeIntervalSince(s))
            }
            pp["pp\(n)"] = (Double(n) / median(times) * 10).rounded() / 10
            products["pp\(n)"] = ComputeFigures(flops: warm.flops, seconds: median(times), ceiling: ceiling)
            if !options.json { log("pp\(n): \(pp["pp\(n)"]!) tok/s; \(products["pp\(n)"]!.text)") }
        }
        var rates: [Double] = []
        var inProducts: [Double] = []
        for _ in 0..<repetitions {
            let cache = KVCache(config: tf.config)
            _ = try tf.forward([tokens(1)], logits: .last, kvCache: cache)
            let meter = GEMMMeter()
            BLAS.meter = meter
            let s = Date()
            for _ in 0..<decode { _ = try tf.forward([tokens(1)], logits: .last, kvCache: cache) }
            let seconds = Date().timeIntervalSince(s)
            BLAS.meter = nil
            rates.append(Double(decode) / seconds)
            inProducts.append(meter.vector.tally.seconds / seconds)
        }
        let tg = (median(rates) * 10).rounded() / 10
        let bytes = Double(tf.weights.matrixBytesPerToken)
        let gbs = bytes * median(rates) / 1e9
        let r = Report(
            model: (m.path as NSString).lastPathComponent, threads: BLAS.threads, blasCore: BLAS.coreName,
            loadSeconds: (load * 100).rounded() / 100, prefillTokensPerSecond: pp, decodeTokensPerSecond: tg,
            ceiling: ceiling, prefillProducts: products, decodeMiBPerToken: (bytes / 1_048_576 * 10).rounded() / 10,
            decodeGBs: (gbs * 10).rounded() / 10, decodeShareOfRead: (gbs / ceiling.readGBs * 1000).rounded() / 1000,
            decodeShareInProducts: (median(inProducts) * 1000).rounded() / 1000,
            peakResidentMiB: (peakResidentMiB() * 10).rounded() / 10,
            weightsMiB: (Double(tf.weights.parameterCount) * 4 / 1_048_576 * 10).rounded() / 10,
            weightsKept: tf.weights.blocks[0].wOut.isStored ? "file type" : "float32")
        if options.json { return try printJSON(r) }
        print("model \(r.model), \(r.threads) threads, OpenBLAS core \(r.blasCore), load \(r.loadSeconds) s")
        print("ceilings of this run: sgemm \(ceiling.sgemmGFLOPs) GFLOP/s on \(BLAS.threads) threads, memory read \(ceiling.readGBs) GB/s")
        for k in pp.keys.sorted(by: { Int($0.dropFirst(2))! < Int($1.dropFirst(2))! }) { print("prefill \(k): \(pp[k]!) tok/s; \(products[k]!.text)") }
        print(String(
            format: "decode tg%d: %.1f tok/s; %.1f MiB of weights per token: %.1f GB/s, %.0f %% of memory read; %.0f %% of the time in the matrix–vector products",
            decode, tg, r.decodeMiBPerToken, r.decodeGBs, r.decodeShareOfRead * 100, r.decodeShareInProducts * 100))
        print("peak resident \(r.peakResidentMiB) MiB (weights \(r.weightsMiB) MiB in Float32; kept as \(r.weightsKept))")
    }
}
