import ArgumentParser
import Foundation
import Locus

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Token ids and pieces of a text.")

    @OptionGroup var options: ModelOptions
    @Argument(help: "The text to tokenize.") var text: String
    @Flag(help: "Do not add BOS/EOS.") var noSpecial = false

    struct Token: Encodable {
        let id: Int
        let piece: String
    }

    func run() throws {
        let m = try options.load()
        let ids = m.tokenizer.encode(text, addSpecialTokens: !noSpecial)
        let tokens = ids.map { Token(id: $0, piece: m.tokenizer.piece($0)) }
        if options.json { return try printJSON(tokens) }
        for (i, t) in tokens.enumerated() { print(String(format: "%4d %7d  ", i, t.id) + "'\(visible(t.piece))'") }
    }
}
