import ArgumentParser
import Foundation
import XCTest

@testable import LocusCLI
@testable import Notebooks
import Locus

/// `locus notebook run` and `check` on a tiny real model, through the same command code the binary runs.
///
/// Each test copies a notebook from `Fixtures/` into a fresh folder beside the tiny model, runs the
/// command, and compares the file written back with `Fixtures/<name>.expected.md` byte for byte, after
/// replacing run times (what `check` ignores) by a marker. `LOCUS_UPDATE_SNAPSHOTS=1` rewrites the
/// expected files from this run instead (and fails, so an update is never mistaken for a pass).
final class NotebookSnapshotTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path + "/Fixtures"
    var folder = ""
    var savedHome: String?

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "locus-notebook-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try TinyModel.write(to: folder + "/tiny.gguf")
        // σ of the embeddings is cached under LOCUS_HOME: keep it out of the user's cache.
        savedHome = ProcessInfo.processInfo.environment["LOCUS_HOME"]
        setenv("LOCUS_HOME", folder + "/home", 1)
    }

    override func tearDownWithError() throws {
        if let savedHome { setenv("LOCUS_HOME", savedHome, 1) } else { unsetenv("LOCUS_HOME") }
        try? FileManager.default.removeItem(atPath: folder)
    }

    func testRunWritesOutputsAsExpected() throws {
        let file = try copyFixture("tiny.md")
        try locus("notebook", "run", file)
        try assertSnapshot(file, expected: "tiny.expected.md")
        for figure in ["trace.png", "trace.svg"] {
            let data = try Data(contentsOf: URL(fileURLWithPath: folder + "/tiny.outputs/t/" + figure))
            XCTAssertGreaterThan(data.count, 100, "\(figure) is linked from the notebook, so it must exist")
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/tiny.outputs/t/resid.h5"), "$t expands to the trace's folder")
        XCTAssertEqual(try leftovers(), [], "no temporary file is left beside the notebook")
        // A second run replaces the outputs instead of adding to them.
        try locus("notebook", "run", file)
        try assertSnapshot(file, expected: "tiny.expected.md")
    }

    func testFailingBlockShowsItsErrorAndKeepsTheRest() throws {
        let file = try copyFixture("failing.md")
        let source = try String(contentsOfFile: file, encoding: .utf8)
        XCTAssertThrowsError(try locus("notebook", "run", file)) { XCTAssertEqual(($0 as? ExitCode)?.rawValue, 1) }
        try assertSnapshot(file, expected: "failing.expected.md")
        // Without the outputs and the runtime line, the file is the one we started from.
        var written = try Notebook(markdown: try String(contentsOfFile: file, encoding: .utf8))
        for b in written.blocks { written.setOutput(nil, at: b.index) }
        XCTAssertEqual(written.markdown.replacingOccurrences(of: "runtime: failed\n", with: ""), source)
    }

    func testCheckIgnoresRunTimeAndFailsOnChangedNumbers() throws {
        let file = folder + "/tiny.md"
        let stored = try String(contentsOfFile: Self.fixtures + "/tiny.expected.md", encoding: .utf8)
        try write(stored, file)
        XCTAssertTrue(try check(file).contains("ok (3 blocks"))

        let slower = NotebookCheck.duration.stringByReplacingMatches(
            in: stored, range: NSRange(stored.startIndex..., in: stored), withTemplate: "987.65 s")
        XCTAssertNotEqual(slower, stored)
        try write(slower, file)
        XCTAssertTrue(try check(file).contains("ok (3 blocks"), "only run times differ")
        XCTAssertEqual(try String(contentsOfFile: file, encoding: .utf8), slower, "check never writes the notebook")

        let line = "  0.1718      10  '('"
        XCTAssertTrue(stored.contains(line), "the fixture's top prediction changed: update this test")
        try write(stored.replacingOccurrences(of: line, with: "  0.1818      10  '('"), file)
        var failure: Error?
        let printed = try captureStandardOutput {
            do { try self.locus("notebook", "check", file) } catch { failure = error }
        }
        XCTAssertEqual((failure as? ExitCode)?.rawValue, 1, "check fails when a number changed beyond the tolerance")
        XCTAssertTrue(printed.contains("1 block(s) changed"), printed)
        XCTAssertTrue(printed.contains("block 2:\n-   0.1818      10  '('\n+   0.1718      10  '('"), printed)
    }

    func testInterruptedWriteLeavesTheNotebookIntact() throws {
        // A name so long (240 bytes) that its temporary (`.<name>.tmp-<pid>-<random>`) exceeds the 255 bytes
        // a file name may have: writing the new text fails before any rename.
        let file = folder + "/" + String(repeating: "n", count: 237) + ".md"
        try FileManager.default.moveItem(atPath: try copyFixture("tiny.md"), toPath: file)
        let before = try Data(contentsOf: URL(fileURLWithPath: file))
        XCTAssertThrowsError(try locus("notebook", "run", file)) { error in
            XCTAssertTrue("\(error)".hasPrefix(file + ": cannot write"), "the error names the notebook: \(error)")
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: file)), before, "the notebook is unchanged")
    }

    // MARK: helpers

    func locus(_ arguments: String...) throws {
        var command = try LocusCommand.parseAsRoot(arguments)
        try command.run()
    }

    func check(_ file: String) throws -> String {
        try captureStandardOutput { try self.locus("notebook", "check", file) }
    }

    func copyFixture(_ name: String) throws -> String {
        let path = folder + "/" + name
        try FileManager.default.copyItem(atPath: Self.fixtures + "/" + name, toPath: path)
        return path
    }

    func write(_ text: String, _ path: String) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    func leftovers() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.contains(".tmp-") }
    }

    /// Run times ("0.08 s", "runtime: 1 s") replaced by a marker; everything else kept.
    func normalised(_ s: String) -> String {
        NotebookCheck.duration.stringByReplacingMatches(in: s, range: NSRange(s.startIndex..., in: s), withTemplate: "<time>")
    }

    func assertSnapshot(_ file: String, expected name: String, line: UInt = #line) throws {
        let actual = try String(contentsOfFile: file, encoding: .utf8)
        let expectedPath = Self.fixtures + "/" + name
        if ProcessInfo.processInfo.environment["LOCUS_UPDATE_SNAPSHOTS"] == "1" {
            try actual.write(toFile: expectedPath, atomically: true, encoding: .utf8)
            return XCTFail("rewrote \(expectedPath); run again without LOCUS_UPDATE_SNAPSHOTS", line: line)
        }
        let expected = try String(contentsOfFile: expectedPath, encoding: .utf8)
        let (a, e) = (normalised(actual), normalised(expected))
        XCTAssertTrue(a == e, "\(file) differs from \(name):\n" + lineDiff(e, a), line: line)
    }
}
