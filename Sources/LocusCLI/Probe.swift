import ArgumentParser
import Foundation
import Locus
import Yams

struct Probe: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Probe experiments described in YAML files (see Probes/).", subcommands: [ProbeRun.self])
}

struct ProbeRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run a probe file: the model, prompts or a dataset slice, the method and its options.")

    @Argument(help: "Probe YAML files.") var files: [String]
    @Flag(help: "Print JSON results.") var json = false
    @Option(help: "BLAS threads (default: all cores).") var threads: Int?
    @Flag(help: "Print the commands a file stands for, without running them.") var dryRun = false

    func run() throws {
        for file in files {
            let text: String
            do { text = try String(contentsOfFile: file, encoding: .utf8) } catch {
                throw ProbingError.badFile(path: file, field: "file", expected: "a readable YAML file", found: "\(error.localizedDescription)")
            }
            let spec: ProbeSpec
            do { spec = try YAMLDecoder().decode(ProbeSpec.self, from: text) } catch let DecodingError.keyNotFound(k, c) {
                throw ProbingError.badFile(path: file, field: (c.codingPath.map(\.stringValue) + [k.stringValue]).joined(separator: "."), expected: "a value", found: "nothing")
            } catch let DecodingError.typeMismatch(t, c) {
                throw ProbingError.badFile(path: file, field: c.codingPath.map(\.stringValue).joined(separator: "."), expected: "\(t)", found: "another type")
            } catch let DecodingError.dataCorrupted(c) {
                throw ProbingError.badFile(path: file, field: c.codingPath.map(\.stringValue).joined(separator: "."), expected: "a valid value", found: c.debugDescription)
            } catch {
                throw ProbingError.badFile(path: file, field: "YAML", expected: "a probe (model, method, prompts/dataset, options, out)", found: "\(error)")
            }
            try spec.validate(file: file)
            for args in commands(spec) {
                log("probe \(file): locus " + args.map { $0.contains(" ") || $0.isEmpty ? "'\($0)'" : $0 }.joined(separator: " "))
                if dryRun { continue }
                var cmd = try LocusCommand.parseAsRoot(Array(args))
                try cmd.run()
            }
        }
    }

    /// The `locus` command lines a probe stands for (one per prompt, or one for a dataset slice).
    func commands(_ s: ProbeSpec) -> [[String]] {
        var common: [String] = []
        if let m = s.model { common += ["--model", m] }
        if json { common.append("--json") }
        if let threads { common += ["--threads", String(threads)] }
        let o = s.options ?? ProbeSpec.Options()
        var opt: [String] = []
        func add(_ name: String, _ v: CustomStringConvertible?) { if let v { opt += ["--\(name)", v.description] } }
        switch s.method {
        case .trace:
            add("samples", o.samples); add("noise", o.noise); add("window", o.window); add("seed", o.seed); add("target-policy", o.targetPolicy)
            if let k = o.kinds { opt += ["--kinds"] + k }
            if o.naive == true { opt.append("--naive") }
        case .lens: add("top", o.top)
        case .memories:
            add("keys", o.keys); add("mine-tokens", o.mineTokens)
            if let l = o.layers { opt += ["--layers"] + l.map(String.init) }
            if let m = o.mine { opt += ["--mine"] + m }
        case .neurons:
            add("steps", o.steps); add("threshold", o.threshold)
            if let l = o.layers { opt += ["--layers"] + l.map(String.init) }
        }
        if s.method == .trace, let d = s.dataset {
            return [["trace"] + common + opt + ["--known", d.range, "--count", String(d.count ?? 100)] + (s.out.map { ["--out", $0] } ?? [])]
        }
        let prompts = s.prompts ?? []
        if prompts.isEmpty { return [[s.method.rawValue] + common + opt + (s.out.map { ["--out", $0] } ?? [])] }
        return prompts.enumerated().map { i, p in
            // The prompt comes first: list options (--kinds, --mine, --layers) would swallow a later positional argument.
            var a = [s.method.rawValue, p.prompt] + common + opt
            if let subj = p.subject, s.method == .trace { a += ["--subject", subj] }
            if let t = p.target { a += ["--target", t] }
            if let out = s.out { a += ["--out", prompts.count == 1 ? out : "\(out)/\(i)"] }
            return a
        }
    }
}
