import ArgumentParser
import Foundation
import XCTest

@testable import LocusCLI
import Locus

/// Every kind of HDF5 file Locus writes, made by the CLI's own commands on the tiny model (and the
/// intervention list through the library, which is where it is saved), then opened with h5py by
/// `Tests/h5py/check_files.py`: string attributes read back as `str`, lists as arrays, and each file
/// names the Locus version, the model's sha256 and the command that made it.
///
/// Needs Debian's `python3-h5py` (`/usr/bin/python3`; `.ci/setup` installs it). Without it the test
/// is skipped, unless `LOCUS_REQUIRE_H5PY=1` (set by `.ci/test`), which makes it fail.
final class H5pyTests: XCTestCase {
    func locus(_ args: [String]) throws {
        var command = try LocusCommand.parseAsRoot(args)
        _ = try captureStandardOutput { try command.run() }
    }

    static let python = "/usr/bin/python3"

    func h5pyAvailable() -> Bool {
        guard FileManager.default.isExecutableFile(atPath: Self.python) else { return false }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.python)
        p.arguments = ["-c", "import h5py"]
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }

    func testEveryFileKindOpensNaturallyInH5py() throws {
        guard h5pyAvailable() else {
            if ProcessInfo.processInfo.environment["LOCUS_REQUIRE_H5PY"] == "1" { return XCTFail("h5py is required (apt install python3-h5py)") }
            throw XCTSkip("Debian's python3-h5py is not installed")
        }
        let folder = try TinyModel.folder("locus-h5py")
        // σ of the embeddings is cached under LOCUS_HOME: keep it out of the user's cache.
        let savedHome = ProcessInfo.processInfo.environment["LOCUS_HOME"]
        setenv("LOCUS_HOME", folder + "/home", 1)
        defer {
            if let savedHome { setenv("LOCUS_HOME", savedHome, 1) } else { unsetenv("LOCUS_HOME") }
            try? FileManager.default.removeItem(atPath: folder)
        }
        let model = ["--model", folder + "/tiny.gguf", "--threads", "1"]
        let prompt = "The Eiffel Tower is located in the city of"
        try locus(["run", prompt, "--capture", "blocks.0.hook_resid_post", "blocks.1.attn.hook_pattern", "--out", folder + "/cache.h5"] + model)
        try locus(["trace", prompt, "--subject", "Eiffel Tower", "--samples", "2", "--out", folder + "/trace"] + model)
        try locus(["lens", prompt, "--out", folder + "/lens"] + model)
        try locus(["patch", prompt, "--corrupted", "The Eiffel Tower is located in the city ox", "--answer", " Paris", "--versus", " Rome",
                   "--out", folder + "/patch"] + model)
        try locus(["steer", "--hook", "blocks.1.hook_resid_post", "--positive", "I love it", "--negative", "I hate it", "--out", folder + "/steer.h5"] + model)
        let examples = (0..<12).map { #"{"text": "I visited \#($0 % 2 == 0 ? "Paris" : "Rome") on day \#($0)", "label": "\#($0 % 2 == 0 ? "Paris" : "Rome")"}"# }
        try Data(examples.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: folder + "/examples.jsonl"))
        try locus(["linear-probe", "--data", folder + "/examples.jsonl", "--out", folder + "/probe"] + model)
        try locus(["dla", prompt, "--answer", " Paris", "--versus", " Rome", "--out", folder + "/dla"] + model)
        try locus(["memories", prompt, "--out", folder + "/memories"] + model)
        try locus(["neurons", prompt, "--steps", "4", "--out", folder + "/neurons"] + model)

        let hparams = """
            {"model": "tiny", "match": ["tiny"], "source": "test", "rome": {"layer": 0, "v_num_grad_steps": 10, "v_lr": 0.5,
             "v_weight_decay": 0.001, "clamp_norm_factor": 4, "kl_factor": 0.0625, "mom2_adjustment": true, "mom2_n_tokens": 3000,
             "context_template_length_params": [[4, 2]]}}
            """
        try Data(hparams.utf8).write(to: URL(fileURLWithPath: folder + "/hparams.json"))
        try Data("subject: Eiffel Tower\nprompt: \(prompt)\ntarget_new: Rome\ntarget_true: Paris\n".utf8)
            .write(to: URL(fileURLWithPath: folder + "/request.yaml"))
        let editing = ["--hparams", folder + "/hparams.json", "--stats-dir", folder + "/stats", "--canary-tokens", "200"]
        try locus(["edit", folder + "/request.yaml", "--ledger", folder + "/ledger.h5", "--max-perplexity-ratio", "100"] + editing + model)
        try locus(["eval", "counterfact", "--records", "2", "--resume", folder + "/progress"] + editing + model)

        let sha = try FileHash.sha256(path: folder + "/tiny.gguf")
        try InterventionFile.save(
            [Intervention(hook: "blocks.0.hook_resid_post", positions: [1, 2], .scale(factor: 0.5)),
             Intervention(hook: "blocks.1.hook_mlp_out", .zero)],
            to: folder + "/interventions.h5", provenance: Provenance(modelFile: "tiny.gguf", modelSHA256: sha, createdBy: "locus test"))

        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("h5py/check_files.py").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.python)
        p.arguments = [script, folder]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, text)
        XCTAssertTrue(text.contains("files checked"), text)
    }
}
