import ArgumentParser
import Foundation
import Locus

struct Patch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Activation patching with a prompt pair: put each clean activation (residual stream, attention and MLP outputs per block and position; each head) into the corrupted run.",
        discussion: "Effect = (LD_patched − LD_corrupted) / (LD_clean − LD_corrupted), LD = logit(answer) − logit(versus); the prompts must have the same number of tokens. Writes patch.h5, patch.json, patch.svg and patch.png to --out.")

    @OptionGroup var options: ModelOptions
    @Argument(help: "The clean prompt.") var clean: String
    @Option(help: "The corrupted prompt (as many tokens as the clean one).") var corrupted: String
    @Option(help: "The clean prompt's answer (its first token).") var answer: String
    @Option(help: "The corrupted prompt's answer (its first token).") var versus: String
    @Option(parsing: .upToNextOption, help: "Sites: resid_pre, attn_out, mlp_out.") var sites: [String] = ActivationPatching.Site.allCases.map(\.rawValue)
    @Flag(help: "Skip the per-head sweep.") var noHeads = false
    @Option(help: "Output folder.") var out: String?

    func run() throws {
        let chosen = try sites.map { s in
            guard let v = ActivationPatching.Site(rawValue: s) else {
                throw ValidationError("--sites: '\(s)' is not one of \(ActivationPatching.Site.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return v
        }
        let ctx = try ProbeContext(options)
        let m = ctx.model
        let r = try ActivationPatching.run(
            m.transformer, clean: PromptTokens(clean, tokenizer: m.tokenizer), corrupted: PromptTokens(corrupted, tokenizer: m.tokenizer),
            answer: try Target(answer, tokenizer: m.tokenizer), versus: try Target(versus, tokenizer: m.tokenizer), sites: chosen, heads: !noHeads)
        if let out { try r.write(to: out, provenance: ctx.provenance) }
        if options.json { return try printJSON(r) }
        print(String(format: "logit('%@') − logit('%@'): clean %.4f, corrupted %.4f", visible(r.answer.pieces[0]), visible(r.versus.pieces[0]), r.cleanDifference, r.corruptedDifference))
        for s in r.sites {
            var best = (effect: -Double.infinity, position: 0, layer: 0)
            for (p, row) in s.effect.enumerated() { for (l, e) in row.enumerated() where e > best.effect { best = (e, p, l) } }
            print(String(format: "%-9@ strongest: layer %d, position %d '%@': %.3f", s.site.rawValue, best.layer, best.position, visible(r.clean.pieces[best.position]), best.effect))
        }
        if let heads = r.heads {
            let ranked = heads.enumerated().flatMap { l, row in row.enumerated().map { (l, $0.offset, $0.element) } }.sorted { abs($0.2) > abs($1.2) }
            print("heads by |effect|: " + ranked.prefix(8).map { String(format: "L%dH%d %+.3f", $0.0, $0.1, $0.2) }.joined(separator: "  "))
        }
        if let out { print("wrote \(out)/patch.h5, patch.json, patch.svg, patch.png") }
    }
}
