import ArgumentParser
import Foundation
import Linalg
import Locus

/// Peak resident memory of the three jobs the real-models issue names, one after another in one process:
/// a `run` of N tokens, a 10-token causal trace, and one ROME edit (statistics from a few WikiText tokens:
/// the memory, not the editing figures, is what is measured).
struct BenchMemory: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memory",
        abstract: "Peak resident memory (and seconds) of run N tokens, a 10-token trace and one ROME edit.")

    @OptionGroup var options: ModelOptions
    @Option(help: "Tokens of the run.") var tokens = 512
    @Option(name: .customLong("trace-samples"), help: "Noise samples of the trace (0: no trace).") var traceSamples = 2
    @Option(name: .customLong("rome-layer"), help: "Layer of the ROME edit (-1: no edit).") var romeLayer = -1
    @Option(name: .customLong("stats-tokens"), help: "WikiText tokens for the edit's covariance.") var statsTokens = 2000
    @Option(name: .customLong("rome-steps"), help: "Optimisation steps of v* (memory is the same at every step).") var romeSteps = 2

    struct Stage: Encodable {
        let name: String
        let seconds: Double
        let peakResidentMiB: Double
    }
    struct Report: Encodable {
        let model: String
        let weightsKept: String
        let fileMiB: Double
        let stages: [Stage]
    }

    func run() throws {
        var stages: [Stage] = []
        func stage(_ name: String, _ body: () throws -> Void) rethrows {
            let s = Date()
            try body()
            let st = Stage(name: name, seconds: (Date().timeIntervalSince(s) * 100).rounded() / 100, peakResidentMiB: (peakResidentMiB() * 10).rounded() / 10)
            stages.append(st)
            if !options.json { log("\(name): \(st.seconds) s, peak resident \(st.peakResidentMiB) MiB") }
        }
        var model: LanguageModel!
        try stage("load") { model = try options.load() }
        let tf = model.transformer
        var rng = SplitMix64(seed: 1)
        try stage("run \(tokens) tokens") {
            let ids = (0..<tokens).map { _ in Int(rng.next() % UInt64(tf.config.vocabSize)) }
            _ = try tf.forward([ids], logits: .last)
        }
        if traceSamples > 0 {
            try stage("trace (10-token prompt, MLP restorations at the last subject token, \(traceSamples) samples)") {
                var prompt = PromptTokens("Rome is in", tokenizer: model.tokenizer)
                if prompt.ids.count > 10 { prompt = PromptTokens(text: prompt.text, ids: Array(prompt.ids.prefix(10)), pieces: Array(prompt.pieces.prefix(10))) }
                let lp = try tf.forward([prompt.ids], logits: .last).lastLogProbabilities()
                let best = lp.indices.max { lp[$0] < lp[$1] }!
                let target = Target(ids: [best], pieces: [model.tokenizer.decode([best])], text: model.tokenizer.decode([best]))
                let input = try TraceInput(prompt: prompt, subject: model.tokenizer.decode(Array(prompt.ids.prefix(4))), target: target)
                var o = TraceOptions()
                o.samples = traceSamples
                o.noise = .absolute(0.1)
                // Memory, not the figure: one kind at one position (every layer), so an 8B model finishes in minutes.
                o.kinds = [.mlp]
                o.positions = [input.subjectRange.upperBound - 1]
                _ = try TraceEngine.run(tf, input, options: o)
            }
        }
        if romeLayer >= 0 {
            try stage("ROME edit at layer \(romeLayer) (\(statsTokens) covariance tokens, \(romeSteps) steps)") {
                var file = try HyperparameterFile.shipped(forModel: ["SmolLM2-135M"]).file
                file.rome?.layers = [romeLayer]
                file.rome?.mom2Tokens = statsTokens
                file.rome?.steps = romeSteps
                file.rome?.contextTemplateLengthParams = [[5, 2]]
                let tmp = NSTemporaryDirectory() + "locus-bench-memory-\(getpid())"
                defer { try? FileManager.default.removeItem(atPath: tmp) }
                let e = try Editor(model: model, ledgerPath: nil, hyperparameters: file, statisticsDirectory: tmp)
                let r = try EditRequest(id: "memory", subject: "Rome", prompt: "Rome is in", targetNew: " Paris")
                _ = try e.propose([r], method: .rome)
            }
        }
        let size = (try? FileHash.sizeOnDisk(model.path)) ?? 0
        let r = Report(
            model: (model.path as NSString).lastPathComponent, weightsKept: tf.weights.blocks[0].wOut.isStored ? "file type" : "float32",
            fileMiB: (Double(size) / 1_048_576 * 10).rounded() / 10, stages: stages)
        if options.json { return try printJSON(r) }
        print("model \(r.model) (\(r.fileMiB) MiB on disk), weights kept as \(r.weightsKept)")
        for s in stages { print(String(format: "%8.2f s  peak %9.1f MiB  ", s.seconds, s.peakResidentMiB) + s.name) }
    }
}
