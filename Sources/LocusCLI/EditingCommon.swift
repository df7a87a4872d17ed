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
            e.canary = try CorpusTokens.wikiText(tokenizer: model.tokenizer, tokens: canaryTokens, maxSequenceLength: 256).sequences
        }
        return e
    }
}

/// A one-line progress bar on stderr when it is a terminal (nothing otherwise).
enum ProgressBar {
    static var isTerminal: Bool { isatty(2) == 1 }

    static func statistics() -> StatisticsProgress? {
        guard isTerminal else { return nil }
        let start = Date()
        return { done, total in
            let f = Double(done) / Double(max(total, 1))
            let width = 30
            let filled = Int(f * Double(width))
            let elapsed = Date().timeIntervalSince(start)
            let eta = f > 0 ? elapsed * (1 - f) / f : 0
            let line = String(
                format: "\r  covariance [%@%@] %3.0f%%  %d/%d tokens  %.0f s elapsed, ~%.0f s left ",
                String(repeating: "#", count: filled), String(repeating: ".", count: width - filled), f * 100, done, total, elapsed, eta)
            FileHandle.standardError.write(Data(line.utf8))
            if done >= total { FileHandle.standardError.write(Data("\n".utf8)) }
        }
    }
}

extension CounterFactSummary {
    func row(_ name: String) -> String {
        String(format: "%-7@ %6.1f %6.1f %6.1f %6.1f %6.1f %6.1f %6.1f", name, ES, PS, NS, EM, PM, NM, S) + (GE.map { String(format: " %7.1f", $0) } ?? "")
    }
}
