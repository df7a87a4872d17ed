import Foundation
import XCTest

@testable import Editing

/// The evaluation checkpoint at the size of a real run: 1,000 CounterFact records' scores save and
/// load, a checkpoint of other records is refused by name, and saves append: each part holds what
/// was done since the last one (its size does not grow with the run), and the parts read back as
/// the progress and ledger of the whole run.
final class CheckpointTests: XCTestCase {
    let h = EditHyperparameters(
        layers: [5], steps: 25, learningRate: 0.5, weightDecay: 1e-3, clampNormFactor: 4, klFactor: 0.0625,
        contextTemplateLengthParams: [[5, 10], [10, 10]])

    func settings(records: Int, method: EditMethod = .rome) -> EvaluationSettings {
        EvaluationSettings(
            dataset: "counterfact", method: method, batch: 1, sequential: true, perplexity: true, checkpointEvery: 100,
            generationPrompts: 0, canary: "2048 tokens, 0123", modelSHA256: "sha-test", hyperparameters: .locate(h),
            requests: (0..<records).map { "case \($0)" })
    }

    func scores(_ seed: Int) -> CounterFactScores {
        let pair = TargetPair(newNLL: 3.0123456789 + Double(seed), trueNLL: 0.123456789)
        return CounterFactScores(rewrite: [pair], paraphrase: [pair, pair], neighbourhood: Array(repeating: pair, count: 10), ngramEntropy: nil)
    }

    /// A rank-one entry with factors made from `n` (64 × 32 `W_out`).
    func entry(_ n: Int, method: EditMethod = .rome) throws -> LedgerEntry {
        let left = Fixtures.gaussian(64, seed: UInt64(2 * n + 1)), right = Fixtures.gaussian(32, seed: UInt64(2 * n + 2))
        return LedgerEntry(
            method: method, requests: [try EditRequest(id: "case \(n)", subject: "s\(n)", prompt: "{} is in", targetNew: "t\(n)")],
            hyperparameters: .locate(h), contextTemplates: ["{}"], deltas: [WeightDelta(layer: 5, rank: 1, left: left, right: right)],
            report: "{\"edit\":\(n)}", checksums: ["5": String(format: "%016x", n)], time: "2026-12-07T10:00:00Z")
    }

    func testThousandRecordProgressRoundTripsAndOtherRecordsAreRefused() throws {
        let dir = try Fixtures.temporaryDirectory(self)
        let s = settings(records: 1000)
        var p = EvaluationProgress(settings: s)
        p.cfBefore = (0..<1000).map(scores)
        p.trajectory = [PerplexityPoint(edits: 0, perplexity: 49.94)]
        let checkpoint = EvaluationCheckpoint(directory: dir)
        var cursor = try checkpoint.start(p)
        p.done = 250
        p.trajectory.append(PerplexityPoint(edits: 100, perplexity: 55.5))
        try checkpoint.append(p, ledger: Ledger(modelSHA256: "sha-test", modelFile: "model.gguf"), cursor: &cursor)
        let back = try XCTUnwrap(try checkpoint.load(expecting: s, modelSHA256: "sha-test"))
        XCTAssertEqual(back.progress.done, 250)
        XCTAssertEqual(back.progress.cfBefore, p.cfBefore)
        XCTAssertEqual(back.progress.trajectory.map(\.perplexity), [49.94, 55.5])
        XCTAssertEqual(back.parts, 1)

        var other = s
        other.requests[417] = "case 9999"
        XCTAssertThrowsError(try checkpoint.load(expecting: other, modelSHA256: "sha-test")) { error in
            XCTAssertEqual(
                error as? EditError,
                .checkpointMismatch(file: dir + "/start.h5", field: "settings.requests[417]", expected: "case 9999 (this run)", found: "case 417"))
        }
    }

    func testSavesAppendAndTheirPartsReadBackAsTheWholeRun() throws {
        let dir = try Fixtures.temporaryDirectory(self)
        let s = settings(records: 400)
        let checkpoint = EvaluationCheckpoint(directory: dir)
        var p = EvaluationProgress(settings: s)
        p.cfBefore = (0..<400).map(scores)
        var cursor = try checkpoint.start(p)
        var ledger = Ledger(modelSHA256: "sha-test", modelFile: "model.gguf")
        var sizes: [Int] = []
        for save in 1...8 {
            for _ in 0..<25 {
                ledger.entries.append(try entry(p.done))
                p.times.append(Double(p.done) / 10)
                p.done += 1
            }
            if save % 4 == 0 { p.trajectory.append(PerplexityPoint(edits: p.done, perplexity: 50 + Double(save))) }
            p.ledgerEntries = ledger.entries.count
            p.earlierSeconds = Double(save) * 60
            try checkpoint.append(p, ledger: ledger, cursor: &cursor)
            let attributes = try FileManager.default.attributesOfItem(atPath: checkpoint.partPath(save))
            sizes.append((attributes[.size] as? Int) ?? 0)
        }
        // Append-only: the eighth part is no larger than the second (each holds 25 edits).
        XCTAssertLessThan(Double(sizes[7]), 1.1 * Double(sizes[1]), "part sizes \(sizes)")

        let back = try XCTUnwrap(try checkpoint.load(expecting: s, modelSHA256: "sha-test"))
        XCTAssertEqual(back.parts, 8)
        XCTAssertEqual(back.entries, ledger.entries)
        XCTAssertEqual(back.previousKeys, [:], "ROME has no C_prev to carry")
        XCTAssertEqual(back.progress.done, 200)
        XCTAssertEqual(back.progress.ledgerEntries, 200)
        XCTAssertEqual(back.progress.times, p.times)
        XCTAssertEqual(back.progress.trajectory.map(\.edits), [100, 200])
        XCTAssertEqual(back.progress.earlierSeconds, 480)
        XCTAssertEqual(back.progress.cfBefore, p.cfBefore)

        // A part lost from the middle is named, not skipped.
        try FileManager.default.removeItem(atPath: checkpoint.partPath(3))
        XCTAssertThrowsError(try checkpoint.load(expecting: s, modelSHA256: "sha-test")) { error in
            guard case .checkpointMismatch(let file, let field, _, _)? = error as? EditError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, checkpoint.partPath(3))
            XCTAssertEqual(field, "file")
        }
    }

    func testAlphaEditStateIsKeptForTheLastPartOnly() throws {
        let dir = try Fixtures.temporaryDirectory(self)
        let s = settings(records: 10, method: .alphaedit)
        let checkpoint = EvaluationCheckpoint(directory: dir)
        var p = EvaluationProgress(settings: s)
        var cursor = try checkpoint.start(p)
        var ledger = Ledger(modelSHA256: "sha-test", modelFile: "model.gguf")
        for save in 1...3 {
            ledger.entries.append(try entry(save, method: .alphaedit))
            ledger.alphaEditPreviousKeys = [5: [Float](repeating: Float(save), count: 16)]
            p.done = save
            p.ledgerEntries = save
            try checkpoint.append(p, ledger: ledger, cursor: &cursor)
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("alphaedit-") }
        XCTAssertEqual(files, ["alphaedit-000003.h5"])
        let back = try XCTUnwrap(try checkpoint.load(expecting: s, modelSHA256: "sha-test"))
        XCTAssertEqual(back.previousKeys, [5: [Float](repeating: 3, count: 16)])

        // Stopped after the state of part 4 was written and before part 4: the state is dropped and
        // part 3's is used.
        try FileManager.default.copyItem(atPath: checkpoint.previousKeysPath(3), toPath: checkpoint.previousKeysPath(4))
        XCTAssertEqual(try checkpoint.load(expecting: s, modelSHA256: "sha-test")?.previousKeys, [5: [Float](repeating: 3, count: 16)])
        XCTAssertFalse(FileManager.default.fileExists(atPath: checkpoint.previousKeysPath(4)))
        // Without the state for the last part, C_prev is to be recomputed from the edits.
        try FileManager.default.removeItem(atPath: checkpoint.previousKeysPath(3))
        XCTAssertNil(try checkpoint.load(expecting: s, modelSHA256: "sha-test")?.previousKeys)
    }

    func testAFolderOfTheEarlierFormatIsRefusedByName() throws {
        let dir = try Fixtures.temporaryDirectory(self)
        XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/progress.h5", contents: Data("old".utf8)))
        XCTAssertThrowsError(try EvaluationCheckpoint(directory: dir).load(expecting: settings(records: 3), modelSHA256: "sha-test")) { error in
            guard case .checkpointMismatch(let file, let field, _, let found)? = error as? EditError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, dir + "/progress.h5")
            XCTAssertEqual(field, "format_version")
            XCTAssertEqual(found, "1")
        }
    }
}
