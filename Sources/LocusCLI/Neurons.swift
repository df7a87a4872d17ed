import ArgumentParser
import Foundation
import Locus

struct Neurons: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Knowledge neurons (Dai et al. 2022): integrated gradients over FFN activations, and the effect of suppressing/amplifying them.")

    @OptionGroup var options: ModelOptions
    @Argument(help: "The prompt.") var prompt: String
    @Option(help: "The answer (default: the top next token).") var target: String?
    @Option(help: "Integration steps.") var steps = 20
    @Option(help: "Keep neurons above this fraction of the largest attribution.") var threshold = 0.2
    @Option(parsing: .upToNextOption, help: "Blocks to examine (default all).") var layers: [Int] = []
    @Option(help: "Output folder.") var out: String?

    func run() throws {
        let ctx = try ProbeContext(options)
        let m = ctx.model
        let p = PromptTokens(prompt, tokenizer: m.tokenizer)
        let t = try target.map { try Target($0, tokenizer: m.tokenizer) } ?? topTarget(m, p)
        let bar = ProgressBar("blocks", quiet: options.json)
        let r = try KnowledgeNeurons.run(m.transformer, prompt: p, target: t, layers: layers.isEmpty ? nil : layers, steps: steps, threshold: threshold, progress: bar.update)
        if let out {
            try makeDirectory(out)
            try printJSONFile(r, to: out + "/neurons.json")
            try KnowledgeNeuronStore.write(r, to: out + "/neurons.h5", provenance: ctx.provenance)
        }
        if options.json { return try printJSON(r) }
        for n in t.notes { log("note: \(n)") }
        print(String(format: "p('%@') = %.4f; %d neurons above %.2f × max attribution (%d steps, %.1f s)", visible(t.text), r.probability, r.neurons.count, r.threshold, r.steps, r.seconds))
        for n in r.neurons.prefix(20) {
            print(String(format: "  block %2d neuron %5d  attribution %.5f  activation %+.3f", n.layer, n.index, n.attribution, n.activation))
        }
        print(String(format: "suppressed (×0): p = %.4f (%+.1f%%)   amplified (×2): p = %.4f (%+.1f%%)", r.suppressedProbability,
                     100 * (r.suppressedProbability / r.probability - 1), r.amplifiedProbability, 100 * (r.amplifiedProbability / r.probability - 1)))
    }
}
