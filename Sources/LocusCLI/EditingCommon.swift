import ArgumentParser
import Foundation
import Locus

/// Options shared by the editing commands.
struct EditingOptions: ParsableArguments {
    @Option(help: "The edit ledger (HDF5). Default: beside the model file, <model>.edits.h5.")
    var ledger: String?

    @Option(help: "A hyperparameter file (JSON, as Sources/Editing/Hyperparameters/*.json). Default: the shipped file for the model.")
    var hparams: String?

    @Option(name: .customLong("stats-dir"), help: "Folder of covariance statistics. Default: $LOCUS_HOME/stats.")
    var statsDir: String?

    @Option(name: .customLong("canary-tokens"), help: "WikiText-2 tokens for the perplexity canary (0: none).")
    var canaryTokens = 2048

    @Option(name: .customLong("max-perplexity-ratio"), help: "Roll back an edit that raises the canary perplexity by more than this factor.")
    var maxPerplexityRatio = 1.1

    @Option(name: .customLong("max-relative-norm"), help: "Roll back an edit with ‖ΔW‖/‖W‖ above this, per layer.")
    var maxRelativeNorm = 1.0

    func ledgerPath(for model: LanguageModel) -> String { ledger ?? Ledger.defaultPath(forModel: model.path) }

    /// `--hparams`, else the shipped file for the model, else (a model nobody tuned) layers chosen from a
    /// causal trace of known facts, written to `$LOCUS_HOME/hparams/<model sha256>.json` with their
    /// provenance and reused from there; the choice is announced on stderr.
    func hyperparameterFile(for model: LanguageModel) throws -> HyperparameterFile? {
        if let hparams { return try HyperparameterFile.load(hparams) }
        let names = [(model.path as NSString).lastPathComponent, model.gguf?.metadata["general.name"]?.string ?? ""]
        if (try? HyperparameterFile.shipped(forModel: names)) != nil { return nil }
        let sha = try FileHash.sha256(path: model.path)
        let path = ModelCache().root + "/hparams/\(sha).json"
        if FileManager.default.fileExists(atPath: path) {
            log("hyperparameters: \(path) (chosen earlier for this model; --hparams FILE to override)")
            return try HyperparameterFile.load(path)
        }
        log("hyperparameters: no shipped file for \(names[0]); choosing layers from a causal trace of known facts…")
        let bar = ProgressBar("facts", quiet: false)
        let choice = try LayerChoice.choose(model, progress: { bar.update($0, $1) })
        let file = try choice.hyperparameters(modelName: names[0])
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        try e.encode(file).write(to: URL(fileURLWithPath: path + ".tmp"))
        _ = try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.moveItem(atPath: path + ".tmp", toPath: path)
        log("hyperparameters: ROME layer \(choice.romeLayer), MEMIT layers \(choice.memitLayers) (MLP indirect-effect peak at the last subject token over \(choice.factsTraced) facts, \(Int(choice.seconds)) s); other values SmolLM2's, untuned; wrote \(path)")
        return file
    }

    var guards: EditGuards {
        EditGuards(maxRelativeNorm: maxRelativeNorm, maxPerplexityRatio: canaryTokens > 0 ? maxPerplexityRatio : nil)
    }

    /// An editing session on the model, with the ledger replayed and the canary prepared.
    func editor(_ model: LanguageModel, persistLedger: Bool) throws -> Editor {
        let e = try Editor(
            model: model, ledgerPath: persistLedger ? ledgerPath(for: model) : nil, hyperparameters: try hyperparameterFile(for: model), guards: guards,
            statisticsDirectory: statsDir, statisticsProgress: ProgressBar.statistics())
        if canaryTokens > 0 {
            e.canary = try CorpusTokens.wikiText(tokenizer: model.tokenizer, tokens: canaryTokens, maxSequenceLength: min(256, model.transformer.config.contextLength)).sequences
        }
        return e
    }
}

extension CounterFactSummary {
    /// The column names, aligned with `row`.
    static func header(withGE: Bool) -> String {
        let names = ["ES", "PS", "NS", "EM", "PM", "NM", "S"] + (withGE ? ["GE"] : [])
        return String(repeating: " ", count: 8) + names.map { String(repeating: " ", count: ($0 == "GE" ? 8 : 7) - $0.count) + $0 }.joined()
    }

    func row(_ name: String) -> String {
        name.padding(toLength: 8, withPad: " ", startingAt: 0) + String(format: " %6.1f %6.1f %6.1f %6.1f %6.1f %6.1f %6.1f", ES, PS, NS, EM, PM, NM, S) + (GE.map { String(format: " %7.1f", $0) } ?? "")
    }
}
