import ArgumentParser
import Foundation
import Linalg
import Locus

struct BenchEdit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edit",
        abstract: "Seconds per ROME edit, MEMIT batch, covariance run and CounterFact scoring, with peak memory.")

    @OptionGroup var options: ModelOptions
    @Option(name: .customLong("rome-edits"), help: "CounterFact records to time ROME on (median reported).") var romeEdits = 5
    @Option(name: .customLong("memit"), parsing: .upToNextOption, help: "MEMIT batch sizes to time.") var memit: [Int] = []
    @Option(name: .customLong("covariance-tokens"), help: "Tokens for the covariance timing (0: skip).") var covarianceTokens = 100_000
    @Option(name: .customLong("covariance-layers"), parsing: .upToNextOption, help: "Layers for the covariance timing.") var covarianceLayers = [4, 5, 6, 7, 8]
    @Option(
        name: .customLong("score-records"),
        help: "CounterFact records to time scoring on (ES/PS/NS prompts, both targets: what eval runs before and after each batch; 0: skip).")
    var scoreRecords = 100

    struct Report: Encodable {
        let model: String
        let threads: Int
        let blasCore: String
        let load: String
        let romeMedianSecondsPerEdit: Double?
        let romeSeconds: [Double]
        /// Per ROME edit: the matrix products split across threads, then those run in one call.
        let romeProducts: [GEMMMeter.Tally]
        /// The same products against this run's sgemm ceiling: per ROME edit, the covariance run, per MEMIT batch.
        let ceiling: Ceiling
        let romeFigures: [ComputeFigures]
        let covarianceFigures: ComputeFigures?
        let memitFigures: [String: ComputeFigures]
        let memitSeconds: [String: Double]
        let covarianceSeconds: Double?
        let covarianceTokens: Int
        let covarianceLayers: [Int]
        let scoringSeconds: Double?
        let scoringRecords: Int
        let peakResidentMiB: Double
    }

    func run() throws {
        let m = try options.load()
        let load = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
        let tmp = NSTemporaryDirectory() + "locus-bench-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        // Covariance: a fresh computation into a temporary folder.
        let ceiling = Ceiling.measure()
        if !options.json { log("ceilings of this run: sgemm \(ceiling.sgemmGFLOPs) GFLOP/s, memory read \(ceiling.readGBs) GB/s") }
        var cov: Double?
        var covFigures: ComputeFigures?
        if covarianceTokens > 0 {
            let sha = try FileHash.sha256(path: m.path)
            let store = StatisticsStore(directory: tmp + "/stats", modelPath: m.path, modelSHA256: sha)
            (_, covFigures) = try ComputeFigures.measure(ceiling) {
                try store.statistics(layers: covarianceLayers, tokens: covarianceTokens, model: m, progress: options.json ? nil : ProgressBar.statistics())
            }
            cov = covFigures!.seconds
            if !options.json { log(String(format: "covariance %d tokens, layers %@: %.1f s; ", covarianceTokens, "\(covarianceLayers)", cov!) + covFigures!.text) }
        }
        let e = try Editor(model: m, ledgerPath: nil, statisticsDirectory: nil)
        let records = try Datasets.counterFact().prefix(max(romeEdits, memit.max() ?? 0, scoreRecords)).map { try EditRequest(counterFact: $0) }
        var scoring: Double?
        if scoreRecords > 0, let enc = e.encoder {
            let s = Date()
            _ = try Verifier(encoder: enc).counterFact(e.transformer, Array(records.prefix(scoreRecords)))
            scoring = Date().timeIntervalSince(s)
            if !options.json { log(String(format: "CounterFact scoring, %d records: %.1f s", scoreRecords, scoring!)) }
        }
        // Statistics and context templates are made once per session; time them apart from the edits.
        if romeEdits > 0 {
            _ = try e.statistics(layers: e.hyperparameters[.rome]!.layers, tokens: e.hyperparameters[.rome]!.mom2Tokens)
            _ = try e.contextTemplates(.rome, e.hyperparameters[.rome]!)
        }
        var rome: [Double] = []
        var products: [GEMMMeter.Tally] = []
        var romeFigures: [ComputeFigures] = []
        for r in records.prefix(romeEdits) {
            let meter = GEMMMeter()
            BLAS.meter = meter
            let p = try e.propose([r], method: .rome, log: options.json ? nil : { log($0) })
            BLAS.meter = nil
            rome.append(p.seconds)
            products += [meter.split, meter.serial]
            romeFigures.append(ComputeFigures(flops: meter.split.flops + meter.serial.flops, seconds: p.seconds, ceiling: ceiling))
            if !options.json {
                log(String(
                    format: "ROME %@: %.2f s; matrix products: split %.0f GFLOP in %.2f s (%.0f GFLOP/s, %d calls), unsplit %.1f GFLOP in %.2f s (%d calls)",
                    r.id, p.seconds, Double(meter.split.flops) / 1e9, meter.split.seconds, meter.split.gflopsPerSecond, meter.split.calls,
                    Double(meter.serial.flops) / 1e9, meter.serial.seconds, meter.serial.calls))
            }
        }
        var memitTimes: [String: Double] = [:]
        var memitFigures: [String: ComputeFigures] = [:]
        for n in memit {
            let h = e.hyperparameters[.memit]!
            _ = try e.statistics(layers: h.layers, tokens: h.mom2Tokens)
            _ = try e.contextTemplates(.memit, h)
            let meter = GEMMMeter()
            BLAS.meter = meter
            let p = try e.propose(Array(records.prefix(n)), method: .memit, log: options.json ? nil : { log($0) })
            BLAS.meter = nil
            memitTimes[String(n)] = (p.seconds * 10).rounded() / 10
            memitFigures[String(n)] = ComputeFigures(flops: meter.split.flops + meter.serial.flops, seconds: p.seconds, ceiling: ceiling)
            if !options.json { log(String(format: "MEMIT %d edits: %.1f s; ", n, p.seconds) + memitFigures[String(n)]!.text) }
        }
        let r = Report(
            model: (m.path as NSString).lastPathComponent, threads: BLAS.threads, blasCore: BLAS.coreName, load: load,
            romeMedianSecondsPerEdit: rome.isEmpty ? nil : (median(rome) * 100).rounded() / 100, romeSeconds: rome.map { ($0 * 100).rounded() / 100 }, romeProducts: products,
            ceiling: ceiling, romeFigures: romeFigures, covarianceFigures: covFigures, memitFigures: memitFigures,
            memitSeconds: memitTimes, covarianceSeconds: cov.map { ($0 * 10).rounded() / 10 }, covarianceTokens: covarianceTokens,
            covarianceLayers: covarianceLayers, scoringSeconds: scoring.map { ($0 * 10).rounded() / 10 }, scoringRecords: scoreRecords,
            peakResidentMiB: (peakResidentMiB() * 10).rounded() / 10)
        if options.json { return try printJSON(r) }
        print("model \(r.model), \(r.threads) threads, OpenBLAS core \(r.blasCore), load average \(r.load)")
        print("ceilings of this run: sgemm \(ceiling.sgemmGFLOPs) GFLOP/s, memory read \(ceiling.readGBs) GB/s")
        if let c = r.covarianceSeconds { print("covariance \(covarianceTokens) tokens, layers \(covarianceLayers): \(c) s; \(covFigures!.text)") }
        if let med = r.romeMedianSecondsPerEdit {
            let f = romeFigures.sorted { $0.seconds < $1.seconds }[romeFigures.count / 2]
            print("ROME median \(med) s per edit over \(rome.count) edits \(r.romeSeconds); a median edit: \(f.text)")
        }
        for (k, v) in memitTimes.sorted(by: { Int($0.key)! < Int($1.key)! }) { print("MEMIT \(k) edits: \(v) s; \(memitFigures[k]!.text)") }
        if let s = r.scoringSeconds { print("CounterFact scoring \(scoreRecords) records: \(s) s") }
        print("peak resident \(r.peakResidentMiB) MiB")
    }
}
