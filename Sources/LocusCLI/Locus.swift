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
        subcommands: [Fetch.self, Info.self, Tokenize.self, Run.self, Generate.self, Stats.self, Edit.self, Eval.self, Revert.self, Export.self, Bench.self])
}
