import Foundation
import XCTest

@testable import Notebooks

/// A stand-in for the CLI: echoes its arguments, fails on "fail", prints a number it is given.
struct EchoExecutor: CommandExecutor {
    var scale = 1.0
    func execute(_ arguments: [String], defaultModel: String?, outputDirectory: String) throws -> CommandOutput {
        if arguments.first == "fail" { throw NotebookError(line: 0, message: "subject 'Eiffel' not found in the prompt") }
        if arguments.first == "number", let x = Double(arguments[1]) { return CommandOutput(text: "p = \(x * scale)") }
        return CommandOutput(text: "model=\(defaultModel ?? "-") args=\(arguments.joined(separator: "|"))")
    }
}

final class NotebookTests: XCTestCase {
    let source = """
        ---
        model: tiny
        title: "A test"
        ---
        # Heading

        Some prose.

        ```locus
        run "The Eiffel Tower" --top 3
        ```

        More prose.

        ```locus
        number 0.5
        ```
        """ + "\n"

    func testParseKeepsTextAndFindsBlocks() throws {
        let nb = try Notebook(markdown: source)
        XCTAssertEqual(nb.value("model"), "tiny")
        XCTAssertEqual(nb.value("title"), "A test")
        XCTAssertEqual(nb.blocks.map(\.source), [["run \"The Eiffel Tower\" --top 3"], ["number 0.5"]])
        XCTAssertEqual(nb.markdown, source, "a notebook without outputs round-trips byte for byte")
    }

    func testRunWritesOutputsAndRerunReplacesThem() throws {
        let nb = try Notebook(markdown: source)
        let runner = NotebookRunner(executor: EchoExecutor())
        let (once, report) = runner.run(nb, path: "/tmp/x.md")
        XCTAssertNil(report.failure)
        XCTAssertEqual(report.blocksRun, 2)
        let expected = """
            ---
            model: tiny
            title: "A test"
            ---
            # Heading

            Some prose.

            ```locus
            run "The Eiffel Tower" --top 3
            ```

            <!-- locus:output -->
            ```text
            model=tiny args=run|The Eiffel Tower|--top|3
            ```
            <!-- /locus:output -->

            More prose.

            ```locus
            number 0.5
            ```

            <!-- locus:output -->
            ```text
            p = 0.5
            ```
            <!-- /locus:output -->
            """ + "\n"
        XCTAssertEqual(once.markdown, expected)
        let twice = runner.run(try Notebook(markdown: once.markdown), path: "/tmp/x.md").0
        XCTAssertEqual(twice.markdown, expected, "re-running replaces outputs, never duplicates them")
    }

    func testFailingBlockShowsErrorAndKeepsTheRest() throws {
        let text = source.replacingOccurrences(of: "run \"The Eiffel Tower\" --top 3", with: "fail")
        let (out, report) = NotebookRunner(executor: EchoExecutor()).run(try Notebook(markdown: text), path: "/tmp/x.md")
        XCTAssertEqual(report.failure?.block, 0)
        XCTAssertTrue(out.markdown.contains("error: line 0: subject 'Eiffel' not found in the prompt"))
        XCTAssertNil(out.blocks[1].output, "blocks after the failure are not run")
        XCTAssertTrue(out.markdown.contains("More prose."))
    }

    func testCheckToleratesSmallNumericChangesOnly() throws {
        let stored = NotebookRunner(executor: EchoExecutor()).run(try Notebook(markdown: source), path: "/tmp/x.md").0
        let close = NotebookRunner(executor: EchoExecutor(scale: 1.0001)).run(stored, path: "/tmp/x.md").0
        let far = NotebookRunner(executor: EchoExecutor(scale: 1.1)).run(stored, path: "/tmp/x.md").0
        let check = NotebookCheck(absolute: 1e-4, relative: 1e-3)
        XCTAssertTrue(check.compare(stored: stored, rerun: close).isEmpty)
        let diffs = check.compare(stored: stored, rerun: far)
        XCTAssertEqual(diffs.map(\.block), [1])
        XCTAssertTrue(diffs[0].description.contains("- p = 0.5"))
        XCTAssertTrue(diffs[0].description.contains("+ p = 0.55"))
        XCTAssertFalse(check.matches("top: Paris 0.7", "top: Rome 0.7"), "text outside numbers must match exactly")
        XCTAssertTrue(check.matches("applied in 86.8 s, 540 tok/s, 12 ms", "applied in 70.1 s, 611.5 tok/s, 9 ms"), "run time is ignored")
        XCTAssertFalse(check.matches("ES 100.0 in 86.8 s", "ES 90.0 in 86.8 s"))
        XCTAssertTrue(check.matches("      ES\n  before   20.0", "        ES\n  before     20.0"), "column alignment is not content")
        XCTAssertFalse(check.matches("a b", "ab"), "a space removed is a change")
        XCTAssertFalse(check.matches("a\nb", "a b"), "lines are content")
    }

    func testArgumentSplittingAndVariables() throws {
        XCTAssertEqual(try splitArguments(#"trace "The Eiffel Tower is" --subject 'Eiffel Tower' a\ b"#), ["trace", "The Eiffel Tower is", "--subject", "Eiffel Tower", "a b"])
        XCTAssertThrowsError(try splitArguments(#"run "unclosed"#))
        let runner = NotebookRunner(executor: EchoExecutor())
        XCTAssertEqual(try runner.expand("lens --from $t1", ["t1": "/x/t1"]), "lens --from /x/t1")
        XCTAssertThrowsError(try runner.expand("lens --from $nope", [:]))
    }

    func testUnclosedBlocksAreErrorsWithLines() {
        XCTAssertThrowsError(try Notebook(markdown: "# x\n```locus\nrun a\n")) { XCTAssertEqual(($0 as? NotebookError)?.line, 2) }
        XCTAssertThrowsError(try Notebook(markdown: "---\nmodel: a\n")) { XCTAssertEqual(($0 as? NotebookError)?.line, 1) }
    }
}

/// Blocks that never end are a clear error naming the line they open on, found in one pass.
final class NotebookLimitTests: XCTestCase {
    func expectError(_ markdown: String, line: Int, _ message: String, file: StaticString = #filePath, l: UInt = #line) {
        let start = Date()
        XCTAssertThrowsError(try Notebook(markdown: markdown), file: file, line: l) { e in
            XCTAssertEqual(e as? NotebookError, NotebookError(line: line, message: message), file: file, line: l)
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 2, file: file, line: l)
    }

    func testUnclosedFenceIsAnError() {
        expectError("# t\n\n```locus\nrun x\n", line: 3, "```locus block is never closed")
        // A long unclosed block and many unclosed fences: each is found without rescanning the rest.
        let many = String(repeating: "```locus\n", count: 20_000)
        expectError("intro\n" + many, line: 2, "```locus block is never closed")
    }

    func testUnclosedOutputAndFrontMatterAreErrors() {
        expectError("```locus\nrun x\n```\n\n<!-- locus:output -->\nsome output\n", line: 5, "output block is never closed (<!-- /locus:output -->)")
        expectError("---\nmodel: tiny\n" + String(repeating: "k: v\n", count: 10_000), line: 1, "front matter opened with '---' is never closed")
    }
}

/// Inputs the notebook fuzzer (Benchmarks/fuzz) found: each is written back as it was read.
final class NotebookFuzzRegressionTests: XCTestCase {
    func testEmptyNotebookIsWrittenBackEmpty() throws {
        // Was written back as "\n", which then read as a notebook with one empty text segment.
        let nb = try Notebook(markdown: "")
        XCTAssertEqual(nb.markdown, "")
        XCTAssertEqual(try Notebook(markdown: nb.markdown), nb)
        XCTAssertEqual(try Notebook(markdown: "\n").markdown, "\n")
    }
}
