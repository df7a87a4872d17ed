import ArgumentParser
import Foundation
import Locus

struct Attribute: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dla",
        abstract: "Direct logit attribution: each attention head's and MLP's share of logit(answer) − logit(versus), final norm scale held fixed.",
        discussion: "The parts (embeddings, every head of every block, every MLP, biases) add up to the logit difference. Writes dla.h5 and dla.json to --out.")

    @OptionGroup var options: ModelOptions
    @Argument(help: "The prompt.") var prompt: String
    @Option(help: "The answer (its first token).") var answer: String
    @Option(help: "The other answer (its first token); without it, logit(answer) itself is attributed.") var versus: String?
    @Option(help: "Token position (default: the last).") var position: Int?
    @Option(help: "Parts listed, largest |contribution| first.") var top = 15
    @Option(help: "Output folder.") var out: String?

    func run() throws {
        let ctx = try ProbeContext(options)
        let m = ctx.model
        let p = PromptTokens(prompt, tokenizer: m.tokenizer)
        let a = try Target(answer, tokenizer: m.tokenizer)
        let b = try versus.map { try Target($0, tokenizer: m.tokenizer) }
        let r = try DirectLogitAttribution.compute(m.transformer, prompt: p, answer: a, versus: b, position: position)
        if let out {
            try makeDirectory(out)
            try r.writeHDF5(to: out + "/dla.h5", provenance: ctx.provenance)
            try printJSONFile(r, to: out + "/dla.json")
        }
        if options.json { return try printJSON(r) }
        for n in a.notes + (b?.notes ?? []) { log("note: \(n)") }
        let what = b.map { "logit('\(visible(a.pieces[0]))') − logit('\(visible($0.pieces[0]))')" } ?? "logit('\(visible(a.pieces[0]))')"
        print(String(format: "%@ at position %d: %.4f; parts sum to %.4f", what, r.position, r.uncappedDifference, r.total))
        if r.perBlockAttention { print("attention is split per block: this model norms each attention output before adding it") }
        for part in r.parts.sorted(by: { abs($0.contribution) > abs($1.contribution) }).prefix(top) {
            print("  " + part.name.padding(toLength: 18, withPad: " ", startingAt: 0) + String(format: "%+9.4f", part.contribution))
        }
        if let out { print("wrote \(out)/dla.h5, dla.json") }
    }
}
