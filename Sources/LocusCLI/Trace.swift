import ArgumentParser
import Foundation
import Locus

struct TraceOptionsGroup: ParsableArguments {
    @Option(help: "Noise samples per cell.") var samples = 10
    @Option(help: "Noise: a multiple of σ of the token embeddings (3s, ROME's default) or an absolute level (0.35).")
    var noise = "3s"
    @Option(help: "Blocks restored around each layer for mlp and attn.") var window = 10
    @Option(parsing: .upToNextOption, help: "Kinds to trace: hidden, mlp, attn.") var kinds: [String] = ["hidden", "mlp", "attn"]
    @Option(help: "Seed of the (NumPy-compatible) noise generator; ROME uses 1.") var seed: UInt32 = 1
    @Option(name: .customLong("target-policy"), help: "Multi-token targets: first-token (noted), sequence, or single (an error).")
    var targetPolicy = "first-token"
    @Option(parsing: .upToNextOption, help: "Token positions to restore (default: every token).") var positions: [Int] = []

    func traceOptions() throws -> TraceOptions {
        var o = TraceOptions()
        o.samples = samples
        o.noise = try parseNoise(noise)
        o.window = window
        o.kinds = try parseKinds(kinds)
        o.seed = seed
        guard let p = TargetPolicy(rawValue: targetPolicy) else {
            throw ValidationError("--target-policy: expected first-token, sequence or single, found '\(targetPolicy)'")
        }
        o.targetPolicy = p
        if !positions.isEmpty { o.positions = positions }
        return o
    }
}

struct Trace: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Causal tracing (Meng et al. 2022): corrupt the subject, restore states, and see where p(answer) comes back.",
        discussion: "Writes trace.h5, trace.json and heatmaps (SVG and PNG, one panel per kind) to --out; with --known, aie.h5, aie.json, aie.svg/png (heatmaps) and aie-lines.svg/png (the effect over layers at the last subject token and the last token, with 95% bands).")

    @OptionGroup var options: ModelOptions
    @OptionGroup var trace: TraceOptionsGroup
    @Argument(help: "The prompt (omit with --known).") var prompt: String?
    @Option(help: "The subject (its tokens are corrupted); must occur in the prompt.") var subject: String?
    @Option(help: "Average indirect effect over known_1000 facts START..<END (e.g. 0..<400), tracing the first --count the model predicts correctly.")
    var known: String?
    @Option(help: "With --known: how many correctly predicted facts to average.") var count = 100
    @Option(help: "The answer to score (default: the model's top next token).") var target: String?
    @Option(help: "Output folder.") var out: String?
    @Flag(help: "Compute every cell by its own forward pass (the reference algorithm; slow).") var naive = false
    @Flag(help: "Also estimate the trace by attribution patching (one forward and backward pass per sample) and report its correlation with the exact trace.")
    var attribution = false

    func run() throws {
        let ctx = try ProbeContext(options)
        let m = ctx.model
        let opts = try trace.traceOptions()
        if let known { return try average(ctx, opts, range: try parseRange(known)) }
        guard let promptText = self.prompt, let subject else { throw ValidationError("give a prompt and --subject (or --known START..<END)") }
        let prompt = PromptTokens(promptText, tokenizer: m.tokenizer)
        let tgt = try target.map { try Target($0, tokenizer: m.tokenizer, policy: opts.targetPolicy) } ?? topTarget(m, prompt)
        let input = try TraceInput(prompt: prompt, subject: subject, target: tgt)
        let sigma = try ctx.embeddingNoise().sigma
        let bar = ProgressBar("trace", quiet: options.json)
        let r = naive
            ? try CausalTrace.naive(m.transformer, input, options: opts, sigma: sigma, progress: bar.update)
            : try TraceEngine.run(m.transformer, input, options: opts, sigma: sigma, progress: bar.update)
        if let out { try TraceOutput.write(r, to: out, provenance: ctx.provenance, sigma: sigma) }
        var atpLines: [String] = []
        if attribution {
            let atp = try AttributionPatching.run(m.transformer, input, options: opts, sigma: sigma)
            var correlations: [String: Double] = [:], byKind: [TraceKind: Double] = [:]
            for k in r.kinds {
                let est = atp.kinds.first { $0.kind == k.kind }!
                let c = AttributionPatching.correlation(k.indirectEffect(corrupted: r.corruptedProbability), est.indirectEffect(corrupted: atp.corruptedProbability))
                correlations[k.kind.rawValue] = c
                byKind[k.kind] = c
                atpLines.append(String(format: "attribution patching vs exact, %@: Pearson r = %.3f (%.2f s vs %.2f s)", k.kind.rawValue, c, atp.seconds, r.seconds))
            }
            if let out {
                struct Saved: Encodable { let estimate: AttributionPatching.Result; let correlationWithExact: [String: Double] }
                try printJSONFile(Saved(estimate: atp, correlationWithExact: correlations), to: out + "/attribution.json")
                try atp.writeHDF5(to: out + "/attribution.h5", provenance: ctx.provenance, correlations: byKind)
            }
        }
        if options.json { return try printJSON(r) }
        atpLines.forEach { print($0) }
        for n in tgt.notes { log("note: \(n)") }
        print(TraceOutput.summary(r, sigma: sigma))
        if let out { print("wrote \(out)/trace.h5, trace.json, trace.svg, trace.png") }
    }

    func average(_ ctx: ProbeContext, _ opts: TraceOptions, range: Range<Int>) throws {
        let facts = try Datasets.knownFacts().map { KnownFactInput(knownID: $0.knownID, prompt: $0.prompt, subject: $0.subject, attribute: $0.attribute) }
        let slice = try facts.slice(range, dataset: "known_1000")
        let sigma = try ctx.embeddingNoise().sigma
        let bar = ProgressBar("facts", quiet: options.json)
        let r = try AverageIndirectEffect.run(
            ctx.model.transformer, tokenizer: ctx.model.tokenizer, facts: slice, count: count, options: opts, sigma: sigma,
            cacheDirectory: out.map { $0 + "/facts" }, provenance: ctx.provenance, progress: { done, total, _ in bar.update(done, total) })
        if let out {
            try makeDirectory(out)
            try r.writeHDF5(to: out + "/aie.h5", provenance: ctx.provenance)
            try printJSONFile(r, to: out + "/aie.json")
            let fig = r.figure(), lines = r.lineFigure()
            try Data(try fig.svg().utf8).write(to: URL(fileURLWithPath: out + "/aie.svg"))
            try Data(try fig.png()).write(to: URL(fileURLWithPath: out + "/aie.png"))
            try Data(try lines.svg().utf8).write(to: URL(fileURLWithPath: out + "/aie-lines.svg"))
            try Data(try lines.png()).write(to: URL(fileURLWithPath: out + "/aie-lines.png"))
        }
        if options.json { return try printJSON(r) }
        print(aieSummary(r))
    }
}

func aieSummary(_ r: AverageIndirectEffect) -> String {
    var s = String(format: "average over %d facts (examined %d, %d not predicted correctly), noise %.4f, %d samples, %.0f s\n", r.facts.count, r.examined, r.skippedWrongPrediction, r.noiseStd, r.options.samples, r.seconds)
    s += String(format: "mean clean p %.4f, mean corrupted p %.4f, average total effect %.4f\n", r.meanClean, r.meanCorrupted, r.meanClean - r.meanCorrupted)
    for k in r.options.kinds {
        for (role, name) in [(2, "last subject token"), (5, "last token")] {
            if let p = r.peak(k, role: role) { s += String(format: "%-6@ %-19@ peak AIE %.4f at layer %d\n", k.rawValue, name, p.effect, p.layer) }
        }
    }
    return s
}

/// `A..<B`, `A..B` (inclusive) or `A:B` (half-open).
func parseRange(_ s: String) throws -> Range<Int> {
    let t = s.replacingOccurrences(of: " ", with: "")
    for (sep, inclusive) in [("..<", false), ("...", true), ("..", true), (":", false)] {
        let parts = t.components(separatedBy: sep)
        if parts.count == 2, let a = Int(parts[0]), let b = Int(parts[1]) { return a..<(inclusive ? b + 1 : b) }
    }
    throw ValidationError("expected a range such as 0..<100, found '\(s)'")
}

/// Writes pretty JSON to a file.
func printJSONFile<T: Encodable>(_ value: T, to path: String) throws {
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    try e.encode(value).write(to: URL(fileURLWithPath: path))
}

/// The model's most likely next token as the target.
func topTarget(_ m: LanguageModel, _ prompt: PromptTokens) throws -> Target {
    let r = try m.transformer.forward([prompt.ids], logits: .last)
    let lp = r.lastLogProbabilities()
    let top = lp.indices.max { lp[$0] < lp[$1] }!
    let piece = m.tokenizer.decode([top])
    return Target(ids: [top], pieces: [piece], text: piece)
}
