import ArgumentParser
import Foundation
import XCTest

@testable import LocusCLI
import Locus

/// `locus edit --dry-run` on the tiny model, through the CLI's own command code: an edit that passes
/// verification is reported as verified and the command succeeds (the README's first command ends with
/// one), one that fails a guard makes the command fail; neither keeps anything.
final class EditCommandTests: XCTestCase {
    var folder = ""

    override func setUpWithError() throws {
        folder = try TinyModel.folder("locus-edit")
        let rome = """
            {"model": "tiny", "match": ["tiny"], "source": "test", "rome": {"layer": 0, "v_num_grad_steps": 25, "v_lr": 0.5,
             "v_weight_decay": 0.001, "clamp_norm_factor": 4, "kl_factor": 0.0625, "mom2_adjustment": true, "mom2_n_tokens": 3000,
             "context_template_length_params": [[4, 2]]}}
            """
        try Data(rome.utf8).write(to: URL(fileURLWithPath: folder + "/hparams.json"))
        let request = """
            subject: Eiffel Tower
            prompt: The Eiffel Tower is located in the city of
            target_new: Rome
            target_true: Paris
            """
        try Data(request.utf8).write(to: URL(fileURLWithPath: folder + "/request.yaml"))
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    func edit(_ extra: [String]) throws -> [EditOutcome] {
        let args = [
            "edit", folder + "/request.yaml", "--model", folder + "/tiny.gguf", "--hparams", folder + "/hparams.json",
            "--stats-dir", folder + "/stats", "--ledger", folder + "/ledger.h5", "--canary-tokens", "200",
            "--max-perplexity-ratio", "100", "--threads", "1", "--json", "--dry-run",
        ] + extra
        var command = try LocusCommand.parseAsRoot(args)
        return try JSONDecoder().decode([EditOutcome].self, from: Data(captureStandardOutput { try command.run() }.utf8))
    }

    func testDryRunThatPassesSucceedsAndKeepsNothing() throws {
        let model = try Data(contentsOf: URL(fileURLWithPath: folder + "/tiny.gguf"))
        let outcomes = try edit([])
        XCTAssertEqual(outcomes.count, 1)
        let o = outcomes[0]
        XCTAssertEqual(o.dryRun, true)
        XCTAssertFalse(o.applied, "a dry run keeps nothing")
        XCTAssertEqual(o.failures, [], "nothing failed verification")
        XCTAssertGreaterThan(o.newProbabilityAfter[0], o.newProbabilityBefore[0])
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/ledger.h5"))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: folder + "/tiny.gguf")), model)
    }

    func testDryRunThatFailsAGuardFails() throws {
        XCTAssertThrowsError(try edit(["--max-relative-norm", "1e-12"])) { error in
            XCTAssertEqual((error as? ExitCode)?.rawValue, 2, "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/ledger.h5"))
    }

    /// A model without shipped hyperparameters opens for replaying, reverting and exporting its ledger
    /// (export used to be refused for want of hyperparameters it never uses); an edit without `--hparams`
    /// goes to choosing layers from known facts, which a random model cannot give.
    func testWithoutShippedHyperparametersOnlyEditingIsRefused() throws {
        var edit = try LocusCommand.parseAsRoot(["edit", folder + "/request.yaml", "--model", folder + "/tiny.gguf", "--stats-dir", folder + "/stats", "--threads", "1"])
        XCTAssertThrowsError(try captureStandardOutput { try edit.run() }) { error in
            XCTAssertTrue("\(error)".contains("predicted correctly"), "\(error)")
        }
        var export = try LocusCommand.parseAsRoot(["export", "--model", folder + "/tiny.gguf", "--ledger", folder + "/none.h5", "--out", folder + "/copy.gguf"])
        XCTAssertNoThrow(try captureStandardOutput { try export.run() })
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/copy.gguf"))
    }
}
