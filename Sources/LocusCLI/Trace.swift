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
        return o
    }
}

struct Trace: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Causal tracing (Meng et al. 2022): corrupt the subject, restore states, and see where p(answer) comes back.",
        discussion: "Writes trace.h5, trace.json and heatmaps (SVG and PNG, one panel per kind) to --out.")

    @OptionGroup var options: ModelOptions
    @OptionGroup var trace: TraceOptionsGroup
    @Argument(help: "The prompt.") var prompt: String
    @Option(help: "The subject (its tokens are corrupted); must occur in the prompt.") var subject: String
    @Option(help: "The answer to score (default: the model's top next token).") var target: String?
    @Option(help: "Output folder.") var out: String?
    @Flag(help: "Compute every cell by its own forward pass (the reference algorithm; slow).") var naive = false

    func run() throws {
        let ctx = try ProbeContext(options)
        let m = ctx.model
        let opts = try trace.traceOptions()
        let prompt = PromptTokens(self.prompt, tokenizer: m.tokenizer)
        let tgt = try target.map { try Target($0, tokenizer: m.tokenizer, policy: opts.targetPolicy) } ?? topTarget(m, prompt)
        let input = try TraceInput(prompt: prompt, subject: subject, target: tgt)
        let sigma = try ctx.embeddingNoise().sigma
        let bar = ProgressBar("trace", quiet: options.json)
        let r = naive
            ? try CausalTrace.naive(m.transformer, input, options: opts, sigma: sigma, progress: bar.update)
            : try TraceEngine.run(m.transformer, input, options: opts, sigma: sigma, progress: bar.update)
        if let out { try TraceOutput.write(r, to: out, provenance: ctx.provenance, sigma: sigma) }
        if options.json { return try printJSON(r) }
        for n in tgt.notes { log("note: \(n)") }
        print(TraceOutput.summary(r, sigma: sigma))
        if let out { print("wrote \(out)/trace.h5, trace.json, trace.svg, trace.png") }
    }
}

/// The model's most likely next token as the target.
func topTarget(_ m: LanguageModel, _ prompt: PromptTokens) throws -> Target {
    let r = try m.transformer.forward([prompt.ids], logits: .last)
    let lp = r.lastLogProbabilities()
    let top = lp.indices.max { lp[$0] < lp[$1] }!
    let piece = m.tokenizer.decode([top])
    return Target(ids: [top], pieces: [piece], text: piece)
}
