import ArgumentParser
import Foundation
import Locus

struct Lens: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Logit lens: read the residual stream after every block through the final norm and unembedding.",
        discussion: "Writes lens.h5, lens.json and (with --target) lens.svg/png to --out.")

    @OptionGroup var options: ModelOptions
    @Argument(help: "The prompt.") var prompt: String
    @Option(help: "A token to follow (its first token's probability and rank per layer and position).") var target: String?
    @Option(help: "Top tokens per cell.") var top = 5
    @Option(help: "Output folder.") var out: String?

    func run() throws {
        let ctx = try ProbeContext(options)
        let m = ctx.model
        let p = PromptTokens(prompt, tokenizer: m.tokenizer)
        let t = try target.map { try Target($0, tokenizer: m.tokenizer) }
        let lens = try LogitLens.run(m.transformer, tokenizer: m.tokenizer, prompt: p, target: t, top: top)
        if let out {
            try makeDirectory(out)
            try lens.writeHDF5(to: out + "/lens.h5", provenance: ctx.provenance)
            try printJSONFile(lens, to: out + "/lens.json")
            if let fig = lens.figure() {
                try Data(try fig.svg().utf8).write(to: URL(fileURLWithPath: out + "/lens.svg"))
                try Data(try fig.png()).write(to: URL(fileURLWithPath: out + "/lens.png"))
            }
        }
        if options.json { return try printJSON(lens) }
        for n in t?.notes ?? [] { log("note: \(n)") }
        print("prompt: \(prompt)  (\(p.ids.count) tokens); top token after each block at the last position" + (t.map { ", and p/rank of '\($0.pieces[0])'" } ?? ""))
        let T = p.ids.count
        for (li, name) in lens.layers.enumerated() {
            let c = lens.cells[li][T - 1]
            var line = String(format: "%6@  ", name) + c.top.prefix(3).map { String(format: "'%@' %.3f", visible($0.piece), $0.probability) }.joined(separator: "  ")
            if let tp = c.targetProbability, let r = c.targetRank { line += String(format: "   | p=%.4f rank %d", tp, r) }
            print(line)
        }
        if let out { print("wrote \(out)/lens.h5, lens.json" + (t == nil ? "" : ", lens.svg, lens.png")) }
    }
}

