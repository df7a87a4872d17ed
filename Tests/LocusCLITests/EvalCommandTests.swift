import ArgumentParser
import Foundation
import XCTest

@testable import LocusCLI
import Locus

/// `locus eval` on the tiny model, through the CLI's own command code: the λ sweep (one z optimisation
/// shared by several λ must give, for each λ, exactly the table a separate run with that λ gives), and
/// a run whose batches cannot be edited.
final class EvalCommandTests: XCTestCase {
    var folder = ""

    override func setUpWithError() throws {
        folder = try TinyModel.folder("locus-sweep")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// Hyperparameters for the 2-layer tiny model (block 0: z must sit below the last block; few steps and
    /// tokens so the test is quick), with MEMIT's λ, learning rate and clamp.
    func writeHyperparameters(lambda: Double, learningRate: Double = 0.5, clamp: Double = 0.75) throws -> String {
        let memit = """
            {"layers": [0], "v_num_grad_steps": 4, "v_lr": \(learningRate), "v_weight_decay": 0.001, "clamp_norm_factor": \(clamp),
             "kl_factor": 0.0625, "mom2_update_weight": \(lambda), "mom2_n_tokens": 3000, "context_template_length_params": [[4, 2]]}
            """
        let alphaEdit = memit.replacingOccurrences(of: "}", with: ", \"nullspace_threshold\": 0.02, \"L2\": 10}")
        let path = folder + "/hparams-\(lambda)-\(learningRate)-\(clamp).json"
        try Data("{\"model\": \"tiny\", \"match\": [\"tiny\"], \"source\": \"test\", \"memit\": \(memit), \"alphaedit\": \(alphaEdit)}".utf8)
            .write(to: URL(fileURLWithPath: path))
        return path
    }

    func eval(_ extra: [String], hparams: String, method: String = "memit") throws -> Data {
        let args = [
            "eval", "counterfact", "--model", folder + "/tiny.gguf", "--method", method, "--records", "4", "--batch", "2",
            "--hparams", hparams, "--stats-dir", folder + "/stats", "--canary-tokens", "200", "--perplexity", "--threads", "1", "--json",
        ] + extra
        var command = try LocusCommand.parseAsRoot(args)
        return Data(try captureStandardOutput { try command.run() }.utf8)
    }

    func testSweepEqualsSeparateRunsAtEachLambda() throws {
        let lambdas = [0.01, 100.0]
        let sweep = try JSONDecoder().decode(
            [EvaluationReport].self, from: eval(["--lambdas"] + lambdas.map { "\($0)" }, hparams: writeHyperparameters(lambda: 1)))
        XCTAssertEqual(sweep.count, 2)
        for (lambda, swept) in zip(lambdas, sweep) {
            let single = try JSONDecoder().decode(EvaluationReport.self, from: eval([], hparams: writeHyperparameters(lambda: lambda)))
            XCTAssertEqual(swept.hyperparameters.locate?.mom2UpdateWeight, lambda)
            XCTAssertEqual(swept.counterFactBefore, single.counterFactBefore)
            XCTAssertEqual(swept.counterFactAfter, single.counterFactAfter, "λ \(lambda)")
            XCTAssertEqual(swept.perplexityAfter, single.perplexityAfter, "λ \(lambda)")
        }
        // The two λ must differ somewhere, or the comparison above could not catch a sweep that ignores λ.
        XCTAssertNotEqual(sweep[0].perplexityAfter, sweep[1].perplexityAfter)
    }

    /// A step so large that v* overflows makes every batch's update non-finite: the run still ends,
    /// reports each batch as not edited, and scores the records as they were (so they count as failures).
    func testBatchesThatCannotBeEditedAreReportedAndTheRunGoesOn() throws {
        let hparams = try writeHyperparameters(lambda: 100, learningRate: 1e30, clamp: 1e30)
        for sequential in [false, true] {
            let r = try JSONDecoder().decode(
                EvaluationReport.self, from: eval(sequential ? ["--sequential", "--checkpoint-every", "2"] : [], hparams: hparams))
            XCTAssertEqual(r.notEdited.count, 2, "two batches of 2, sequential: \(sequential): \(r.notEdited)")
            XCTAssertEqual(r.guardFailures, [], "a batch not edited is not also a guard failure")
            // Nothing was edited (up to the rounding of scoring the records in other batches).
            let (a, b) = (r.counterFactAfter!, r.counterFactBefore!)
            for (x, y) in zip([a.ES, a.PS, a.NS, a.EM, a.PM, a.NM], [b.ES, b.PS, b.NS, b.EM, b.PM, b.NM]) {
                XCTAssertEqual(x, y, accuracy: 1e-6, "sequential: \(sequential)")
            }
            XCTAssertEqual(r.perplexityAfter!, r.perplexityBefore!, accuracy: 1e-9)
            if sequential { XCTAssertEqual(r.perplexityTrajectory?.map(\.edits), [0, 2, 4]) }
        }
    }

    /// A guard the updates cross is recorded for every batch, and the batches are still edited and scored
    /// (the papers' protocols keep every edit): guard failures are not batches "not edited".
    func testGuardFailuresAreRecordedAndTheBatchesStillEdited() throws {
        let hparams = try writeHyperparameters(lambda: 100)
        for sequential in [false, true] {
            let mode = sequential ? ["--sequential"] : []
            let r = try JSONDecoder().decode(EvaluationReport.self, from: eval(mode + ["--max-relative-norm", "1e-12"], hparams: hparams))
            XCTAssertEqual(r.guardFailures.count, 2, "sequential: \(sequential): \(r.guardFailures)")
            XCTAssertTrue(r.guardFailures.allSatisfy { $0.contains("‖ΔW‖/‖W‖") && $0.contains("exceeds 1e-12") }, "\(r.guardFailures)")
            XCTAssertEqual(r.notEdited, [])
            XCTAssertNotEqual(r.perplexityAfter, r.perplexityBefore, "the batches were edited")
            XCTAssertGreaterThan(r.counterFactAfter!.EM, r.counterFactBefore!.EM, "sequential: \(sequential)")
        }
    }

    func testSweepRefusesSequentialAndOtherMethods() throws {
        for extra in [["--lambdas", "10", "--sequential"], ["--lambdas", "10", "--method", "rome", "--batch", "1"]] {
            XCTAssertThrowsError(try { var c = try LocusCommand.parseAsRoot(["eval", "counterfact"] + extra); try c.run() }()) { error in
                XCTAssertTrue("\(error)".contains("--lambdas"), "\(error)")
            }
        }
    }

    /// A run stopped after its first batch and resumed from its folder gives exactly the report of a run
    /// that was never interrupted (sequential: the ledger's edits are replayed; independent batches:
    /// the scores so far are kept), and the folder refuses a run with other settings.
    func testResumedRunEqualsUninterruptedRun() throws {
        let hparams = try writeHyperparameters(lambda: 100)
        for sequential in [true, false] {
            let mode = sequential ? ["--sequential", "--checkpoint-every", "2"] : []
            let whole = try JSONDecoder().decode(EvaluationReport.self, from: eval(mode, hparams: hparams))
            let dir = folder + "/resume-\(sequential)"
            let slice = ["--resume", dir, "--save-every", "1"]
            let first = try JSONDecoder().decode(EvaluationReport.self, from: eval(mode + slice + ["--stop-after", "2"], hparams: hparams))
            XCTAssertEqual(first.stoppedAfter, 2)
            XCTAssertEqual(first.counterFactAfter?.records, sequential ? nil : 2)
            let rest = try JSONDecoder().decode(EvaluationReport.self, from: eval(mode + slice, hparams: hparams))
            XCTAssertNil(rest.stoppedAfter)
            XCTAssertEqual(rest.counterFactBefore, whole.counterFactBefore)
            XCTAssertEqual(rest.counterFactAfter, whole.counterFactAfter, "sequential: \(sequential)")
            XCTAssertEqual(rest.perplexityAfter, whole.perplexityAfter)
            XCTAssertEqual(rest.perplexityTrajectory?.map(\.perplexity), whole.perplexityTrajectory?.map(\.perplexity))
            // The edits must have changed something, or equality above would prove nothing.
            XCTAssertNotEqual(whole.counterFactAfter, whole.counterFactBefore)
            XCTAssertThrowsError(try eval(mode + slice + ["--canary-tokens", "150"], hparams: hparams)) { error in
                guard case .checkpointMismatch(let file, let field, _, _)? = error as? EditError else { return XCTFail("\(error)") }
                XCTAssertEqual(file, dir + "/start.h5")
                XCTAssertEqual(field, "settings.canary")
            }
        }
    }

    /// Stopped after AlphaEdit's C_prev for a part was saved but before the part itself: the resumed
    /// run drops that state, rebuilds C_prev from the edits of the parts that landed, and again
    /// equals a whole run.
    func testResumeAfterAPartThatDidNotLandRebuildsAlphaEditsState() throws {
        let hparams = try writeHyperparameters(lambda: 100)
        let mode = ["--sequential", "--checkpoint-every", "2"]
        let whole = try JSONDecoder().decode(EvaluationReport.self, from: eval(mode, hparams: hparams, method: "alphaedit"))
        let dir = folder + "/resume-cut"
        let slice = ["--resume", dir, "--save-every", "1"]
        _ = try eval(mode + slice + ["--stop-after", "2"], hparams: hparams, method: "alphaedit")
        _ = try eval(mode + slice, hparams: hparams, method: "alphaedit")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        XCTAssertEqual(names, ["alphaedit-000002.h5", "part-000001.h5", "part-000002.h5", "start.h5"])
        XCTAssertEqual(try H5File.open(dir + "/part-000002.h5").attributes()["kind"], .string("part"))
        try FileManager.default.removeItem(atPath: dir + "/part-000002.h5")
        let resumed = try JSONDecoder().decode(EvaluationReport.self, from: eval(mode + slice, hparams: hparams, method: "alphaedit"))
        XCTAssertEqual(resumed.counterFactAfter, whole.counterFactAfter)
        XCTAssertEqual(resumed.perplexityAfter, whole.perplexityAfter)
    }
}

/// Sequential runs of the gradient-based and lifelong methods on the tiny model: checkpoints score the
/// first records, the last checkpoint agrees with the final scores, and `eval-figure` plots the reports.
final class SequentialEvalTests: XCTestCase {
    var folder = ""

    override func setUpWithError() throws {
        folder = try TinyModel.folder("locus-sequential")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    func testCheckpointsScoreTheFirstRecordsAndTheFigureIsWritten() throws {
        let hparams = folder + "/hparams.json"
        try Data(
            """
            {"model": "tiny", "match": ["tiny"], "source": "test",
             "ft_m": {"layers": [0], "num_steps": 4, "lr": 0.01, "objective_optimization": "target_new"},
             "ultraedit": {"edit_modules": ["0.W_in", "1.W_in"], "lr": 0.001}}
            """.utf8
        ).write(to: URL(fileURLWithPath: hparams))
        var paths: [String] = []
        for method in ["ft-m", "ultraedit"] {
            let args = [
                "eval", "counterfact", "--model", folder + "/tiny.gguf", "--method", method, "--records", "4", "--sequential",
                "--checkpoint-every", "2", "--hparams", hparams, "--canary-tokens", "200", "--perplexity", "--threads", "1", "--json",
            ]
            var command = try LocusCommand.parseAsRoot(args)
            let data = Data(try captureStandardOutput { try command.run() }.utf8)
            let r = try JSONDecoder().decode(EvaluationReport.self, from: data)
            let t = try XCTUnwrap(r.perplexityTrajectory)
            XCTAssertEqual(t.map(\.edits), [0, 2, 4], method)
            XCTAssertEqual(t.map(\.firstRecords), [nil, 2, 4], method)
            XCTAssertEqual(t[1].counterFact?.records, 2)
            XCTAssertEqual(t[2].counterFact, r.counterFactAfter, "\(method): the last checkpoint is the final score of the first records")
            XCTAssertEqual(t[2].perplexity, r.perplexityAfter)
            let path = folder + "/\(method).json"
            try data.write(to: URL(fileURLWithPath: path))
            paths.append(path)
        }
        var figure = try LocusCommand.parseAsRoot(["eval-figure", "--out", folder + "/sequential"] + paths)
        _ = try captureStandardOutput { try figure.run() }
        let png = try Data(contentsOf: URL(fileURLWithPath: folder + "/sequential.png"))
        XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47])
        XCTAssertTrue(try String(contentsOfFile: folder + "/sequential.svg", encoding: .utf8).contains("ultraedit"))
        // A report without a trajectory is refused by name.
        var bad = try LocusCommand.parseAsRoot(["eval-figure", "--out", folder + "/bad", hparams])
        XCTAssertThrowsError(try captureStandardOutput { try bad.run() }) { err in
            XCTAssertTrue("\(err)".contains("hparams.json"), "\(err)")
        }
    }
}
