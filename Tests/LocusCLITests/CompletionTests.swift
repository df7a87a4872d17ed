import ArgumentParser
import XCTest

@testable import LocusCLI

/// `locus --generate-completion-script SHELL` prints a script that knows the subcommands and their options.
final class CompletionTests: XCTestCase {
    func testScriptsNameSubcommandsAndOptions() throws {
        for shell in [CompletionShell.bash, .zsh, .fish] {
            let script = LocusCommand.completionScript(for: shell)
            // Fish lists options without their dashes.
            for word in ["notebook", "trace", "subject", "with-edits", "threads"] {
                XCTAssertTrue(script.contains(word), "\(shell) completion script lacks \(word)")
            }
        }
    }
}
