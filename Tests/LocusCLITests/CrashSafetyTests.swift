import Foundation
import XCTest

@testable import LocusCLI
@testable import Notebooks
import Locus

/// `kill -9` during every kind of write: the real `locus` binary (`.build/release/locus`, built before the
/// tests) writes statistics, appends to a ledger, exports a GGUF, writes a notebook back and writes a
/// trace's outputs on the tiny model, and is killed with SIGKILL at a random moment of the run, 100 times
/// per kind (`LOCUS_CRASH_TRIALS` sets another count). After every kill each file is either what it was
/// before the run or a whole new file that Locus's own reader loads; nothing half-written is ever at the
/// file's name. The statistics run, killed over and over, resumes from its checkpoint and ends with the
/// same C, bit for bit, as a run never interrupted.
final class CrashSafetyTests: XCTestCase {
    static let binary = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/release/locus").path
    static let trials = Int(ProcessInfo.processInfo.environment["LOCUS_CRASH_TRIALS"] ?? "") ?? 100
    static let prompt = "The Eiffel Tower is located in the city of"

    var folder = ""
    var model: [String] { ["--model", folder + "/tiny.gguf", "--threads", "1"] }

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw XCTSkip("\(Self.binary) is not built (swift build -c release)")
        }
        folder = try TinyModel.folder("locus-crash")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// Starts the binary with its cache inside the test folder.
    func start(_ args: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env["LOCUS_HOME"] = folder + "/home"
        p.environment = env
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileManager.default.createFile(atPath: folder + "/stderr.txt", contents: nil)
            ? FileHandle(forWritingAtPath: folder + "/stderr.txt") : FileHandle.nullDevice
        try p.run()
        return p
    }

    /// Runs to the end (must succeed); returns the seconds it took.
    @discardableResult
    func complete(_ args: [String]) throws -> Double {
        let t = Date()
        let p = try start(args)
        p.waitUntilExit()
        let stderr = (try? String(contentsOfFile: folder + "/stderr.txt", encoding: .utf8)) ?? ""
        XCTAssertEqual(p.terminationStatus, 0, "locus \(args.joined(separator: " ")): \(stderr.suffix(400))")
        return Date().timeIntervalSince(t)
    }

    /// `trials` runs of `args`, each killed with SIGKILL after a random time up to a whole run's length;
    /// after each, every file in `files` is unchanged or whole (`valid` loads it). Returns the kills that
    /// landed before the run finished.
    @discardableResult
    func killRepeatedly(_ args: [String], files: [String], valid: (String) throws -> Void) throws -> Int {
        let seconds = try complete(args)
        var killed = 0
        for trial in 0..<Self.trials {
            let before = files.map { FileManager.default.contents(atPath: $0) }
            let p = try start(args)
            usleep(UInt32.random(in: 0...UInt32(seconds * 1.2e6)))
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
            if p.terminationReason == .uncaughtSignal { killed += 1 }
            for (f, old) in zip(files, before) {
                let now = FileManager.default.contents(atPath: f)
                if now == old { continue }
                XCTAssertNotNil(now, "trial \(trial): \(f) was removed")
                do { try valid(f) } catch { XCTFail("trial \(trial): \(f) changed and is not whole: \(error)") }
            }
        }
        XCTAssertGreaterThan(killed, Self.trials / 4, "most kills should land during the run")
        return killed
    }

    func testTraceOutputs() throws {
        let out = folder + "/trace"
        let names = ["trace.h5", "trace.json", "trace.svg", "trace.png"].map { out + "/" + $0 }
        try killRepeatedly(["trace", Self.prompt, "--subject", "Eiffel Tower", "--samples", "3", "--out", out] + model, files: names) { f in
            switch (f as NSString).pathExtension {
            case "h5": _ = try TraceStore.read(f)
            case "json": _ = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: f)))
            case "svg": guard try String(contentsOfFile: f, encoding: .utf8).hasSuffix("</svg>\n") else { throw CocoaError(.fileReadCorruptFile) }
            default:
                let d = try Data(contentsOf: URL(fileURLWithPath: f))
                guard d.starts(with: [0x89, 0x50, 0x4E, 0x47]), d.suffix(8).starts(with: Array("IEND".utf8)) else { throw CocoaError(.fileReadCorruptFile) }
            }
        }
    }

    func testNotebookWriteBack() throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path + "/Fixtures"
        let file = folder + "/tiny.md"
        try FileManager.default.copyItem(atPath: fixtures + "/tiny.md", toPath: file)
        let blocks = try Notebook(markdown: String(contentsOfFile: file, encoding: .utf8)).blocks.count
        try killRepeatedly(["notebook", "run", file, "--threads", "1"], files: [file]) { f in
            let nb = try Notebook(markdown: String(contentsOfFile: f, encoding: .utf8))
            XCTAssertEqual(nb.blocks.count, blocks)
            XCTAssertTrue(nb.blocks.allSatisfy { $0.output != nil }, "a notebook written back has every block's output")
        }
    }

    func testLedgerAppendAndExport() throws {
        let hparams = folder + "/hparams.json", request = folder + "/request.yaml", ledger = folder + "/ledger.h5"
        try Data("""
            {"model": "tiny", "match": ["tiny"], "source": "test", "rome": {"layer": 0, "v_num_grad_steps": 10, "v_lr": 0.5,
             "v_weight_decay": 0.001, "clamp_norm_factor": 4, "kl_factor": 0.0625, "mom2_adjustment": true, "mom2_n_tokens": 3000,
             "context_template_length_params": [[4, 2]]}}
            """.utf8).write(to: URL(fileURLWithPath: hparams))
        try Data("subject: Eiffel Tower\nprompt: \(Self.prompt)\ntarget_new: Rome\ntarget_true: Paris\n".utf8).write(to: URL(fileURLWithPath: request))
        let sha = try FileHash.sha256(path: folder + "/tiny.gguf")
        let edit = ["edit", request, "--ledger", ledger, "--hparams", hparams, "--stats-dir", folder + "/stats", "--canary-tokens", "200",
                    "--max-perplexity-ratio", "1e9", "--max-relative-norm", "1e9"] + model
        try complete(edit)  // the statistics, made once
        var count = try Ledger.load(ledger, modelSHA256: sha).entries.count
        try killRepeatedly(edit, files: [ledger]) { f in
            let n = try Ledger.load(f, modelSHA256: sha).entries.count
            XCTAssertGreaterThan(n, count, "an append adds an edit and loses none")
            count = n
        }
        let out = folder + "/edited.gguf"
        try killRepeatedly(["export", "--ledger", ledger, "--out", out] + model, files: [out]) { f in
            let g = try GGUFFile(path: f)
            XCTAssertEqual(g.tensors.count, try GGUFFile(path: self.folder + "/tiny.gguf").tensors.count)
        }
    }

    func testStatisticsResumeAfterKills() throws {
        let settings = ["stats", "--layers", "0", "--tokens", "100000", "--batch-tokens", "512"] + model
        let args = settings + ["--stats-dir", folder + "/stats"]
        let final = folder + "/stats/tiny/wikitext-2.blocks.0.mlp.hook_post.100000.h5"
        let reference = folder + "/reference"
        let seconds = try complete(settings + ["--stats-dir", reference])
        let sha = try FileHash.sha256(path: folder + "/tiny.gguf")
        func load(_ path: String) throws -> [Double] {
            try KeyStatistics.load(path, modelSHA256: sha, layer: 0, tokenCount: nil, corpusSHA256: nil).moment
        }
        let expected = try load(reference + "/tiny/wikitext-2.blocks.0.mlp.hook_post.100000.h5")
        // Runs killed at random moments, each resuming the checkpoint of the last; whenever one gets to
        // the end, its C must equal the uninterrupted run's, and the next trial starts over.
        var landed = 0, finished = 0
        for _ in 0..<Self.trials {
            let p = try start(args)
            usleep(UInt32.random(in: 0...UInt32(seconds * 0.9e6)))
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
            if p.terminationReason == .uncaughtSignal { landed += 1 }
            let files = (try? FileManager.default.contentsOfDirectory(atPath: folder + "/stats/tiny")) ?? []
            for partial in files where partial.hasPrefix("partial") {
                XCTAssertNoThrow(try H5File.open(folder + "/stats/tiny/" + partial).readDoubles("sums/layer_0"), "the checkpoint is whole")
            }
            XCTAssertLessThanOrEqual(files.filter { $0.contains(".tmp-") }.count, 2, "a killed writer's temporaries are removed by the next write: \(files)")
            if FileManager.default.fileExists(atPath: final) {
                finished += 1
                XCTAssertEqual(try load(final), expected, "a resumed run's C equals an uninterrupted run's, bit for bit")
                try FileManager.default.removeItem(atPath: final)
            }
        }
        XCTAssertGreaterThan(landed, Self.trials / 4)
        XCTAssertGreaterThan(finished, 0, "some resumed runs got to the end")
    }
}
