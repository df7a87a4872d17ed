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

    func hyperparameterFile() throws -> HyperparameterFile? { try hparams.map { try HyperparameterFile.load($0) } }

    var guards: EditGuards {
        EditGuards(maxRelativeNorm: maxRelativeNorm, maxPerplexityRatio: canaryTokens > 0 ? maxPerplexityRatio : nil)
    }

    /// An editing session on the model, with the ledger replayed and the canary prepared.
    func editor(_ model: LanguageModel, persistLedger: Bool) throws -> Editor {
        let e = try Editor(
            model: model, ledgerPath: persistLedger ? ledgerPath(for: model) : nil, hyperparameters: try hyperparameterFile(), guards: guards,
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
