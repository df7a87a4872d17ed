import ArgumentParser
import Foundation
import Locus

@main
struct LocusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "locus",
        abstract: "Look inside, locate and edit facts in transformer language models.",
        discussion: """
            Models: `locus fetch smollm2` (default) or `locus fetch gemma3`, then --model NAME or a path to a GGUF file.
            """,
        groupedSubcommands: [
            CommandGroup(name: "Models", subcommands: [Fetch.self, Info.self, Tokenize.self]),
            CommandGroup(name: "Look inside", subcommands: [Run.self, Generate.self]),
            CommandGroup(name: "Locate a fact", subcommands: [Trace.self, Patch.self, Lens.self, Attribute.self, Memories.self, Neurons.self, Steer.self, LinearProbeCommand.self, SAECommand.self, SAETrain.self, Probe.self]),
            CommandGroup(name: "Edit a fact", subcommands: [Stats.self, Edit.self, Eval.self, EvalFigure.self, Revert.self, Export.self]),
            CommandGroup(name: "Experiments", subcommands: [NotebookCommand.self, Bench.self]),
        ])

    static func main() {
        relaunchWithEnvironmentIfNeeded()
        var command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            // --help, --version and usage errors: swift-argument-parser's messages; usage errors exit 1.
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }
            FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
            Foundation.exit(1)
        }
        do {
            try command.run()
        } catch let error as ExitCode {
            Foundation.exit(error.rawValue)
        } catch where exitCode(for: error) == .success {
            exit(withError: error)  // help requested from inside a command
        } catch {
            // Exit codes: 0 ok, 1 user error (bad input, missing model, malformed file), 2 internal error.
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            Foundation.exit(isUserError(error) ? 1 : 2)
        }
    }
}

/// Errors caused by what the user gave (files, names, prompts), as opposed to bugs in Locus.
func isUserError(_ error: Error) -> Bool {
    switch error {
    case is ValidationError, is ModelFormatError, is ForwardError, is HookError, is ModelStoreError, is DatasetError,
        is TokenizerError, is TokenizerLoadingError, is StoreError, is ProbingError, is EditError, is NotebookError:
        return true
    default:
        return false
    }
}
