import ArgumentParser
import Foundation
import Locus

struct Memories: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "FFN key-value memories (Geva et al. 2021): top keys per block, what their values promote, each block's contribution; corpus triggers of chosen keys.",
        discussion: "Mining reads WikiText-2 once per model and settings into an HDF5 cache; later queries only read it.")

    @OptionGroup var options: ModelOptions
    @Argument(help: "The prompt (for the tour).") var prompt: String?
    @Option(help: "Token whose logit the per-block contributions explain (default: the top next token).") var target: String?
    @Option(help: "Keys listed per block.") var keys = 5
    @Option(parsing: .upToNextOption, help: "Blocks to show (default all).") var layers: [Int] = []
    @Option(parsing: .upToNextOption, help: "Keys to mine, as LAYER:KEY (e.g. 12:345).") var mine: [String] = []
    @Option(name: .customLong("mine-tokens"), help: "Corpus tokens read when mining.") var mineTokens = 8192
    @Option(help: "Triggers kept per key.") var triggers = 10
    @Option(help: "Output folder.") var out: String?

    struct Mined: Encodable {
        let layer: Int
        let key: Int
        let promotes: [FFNMemories.Token]
        let triggers: [MemoryMining.Trigger]
    }
    struct Report: Encodable {
        let tour: FFNMemories.Report?
        let mined: [Mined]
        let cacheFile: String?
    }

    func run() throws {
        let ctx = try ProbeContext(options)
        let m = ctx.model
        var tour: FFNMemories.Report?
        if let prompt {
            let p = PromptTokens(prompt, tokenizer: m.tokenizer)
            let t = try target.map { try Target($0, tokenizer: m.tokenizer) } ?? topTarget(m, p)
            tour = try FFNMemories.tour(m.transformer, tokenizer: m.tokenizer, prompt: p, target: t, keys: keys, layers: layers.isEmpty ? nil : layers)
        }
        var mined: [Mined] = []
        var cacheFile: String?
        if !mine.isEmpty {
            let wanted = try mine.map { s -> (Int, Int) in
                let parts = s.split(separator: ":").compactMap { Int($0) }
                guard parts.count == 2 else { throw ValidationError("--mine: expected LAYER:KEY, found '\(s)'") }
                return (parts[0], parts[1])
            }
            let text = try Datasets.wikiText()
            let sha = try FileHash.sha256(path: try Datasets.wikiTextURL().path)
            let bar = ProgressBar("mining", quiet: options.json)
            let mining = try MemoryMining.loadOrMine(
                m.transformer, tokenizer: m.tokenizer, text: text, corpusName: "wikitext-2-raw-test", corpusSHA256: sha,
                layers: Array(Set(wanted.map(\.0))).sorted(), maxTokens: mineTokens, top: triggers, directory: ctx.cacheDirectory,
                provenance: ctx.provenance, progress: bar.update)
            cacheFile = mining.path
            for (l, k) in wanted {
                mined.append(Mined(layer: l, key: k, promotes: FFNMemories.promotes(m.transformer, tokenizer: m.tokenizer, layer: l, key: k),
                                   triggers: try mining.triggers(layer: l, key: k, tokenizer: m.tokenizer)))
            }
        }
        let report = Report(tour: tour, mined: mined, cacheFile: cacheFile)
        if let out {
            try makeDirectory(out)
            try printJSONFile(report, to: out + "/memories.json")
            try tour?.writeHDF5(to: out + "/memories.h5", provenance: ctx.provenance)
        }
        if options.json { return try printJSON(report) }
        if let tour {
            print("prompt: \(tour.prompt.text)   position \(tour.position) '\(visible(tour.prompt.pieces[tour.position]))'   target '\(visible(tour.target?.text ?? ""))' logit \(String(format: "%.3f", tour.targetLogit ?? .nan))")
            print(String(format: "embeddings contribute %.3f", tour.embeddingContribution ?? .nan))
            for l in tour.layers {
                print(String(format: "block %2d  attn %+7.3f  mlp %+7.3f  mlp promotes %@", l.layer, l.attentionContribution ?? .nan, l.mlpContribution ?? .nan,
                             l.mlpPromotes.prefix(4).map { "'\(visible($0.piece))'" }.joined(separator: " ")))
                for k in l.byWeightedNorm.prefix(keys) {
                    print(String(format: "          key %5d  m=%+7.3f  m·|v|=%+7.3f  promotes %@", k.index, k.coefficient, k.coefficient * k.valueNorm,
                                 k.promotes.prefix(5).map { "'\(visible($0.piece))'" }.joined(separator: " ")))
                }
            }
        }
        for x in mined {
            print("key \(x.layer):\(x.key) promotes " + x.promotes.prefix(6).map { "'\(visible($0.piece))'" }.joined(separator: " "))
            for t in x.triggers { print(String(format: "   %7.3f  …%@  [%@]", t.coefficient, visible(t.prefix), visible(t.token))) }
        }
        if let cacheFile { print("mined triggers cached in \(cacheFile)") }
    }
}

