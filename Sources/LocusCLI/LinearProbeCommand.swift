import ArgumentParser
import Foundation
import Locus

struct LinearProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "linear-probe",
        abstract: "Linear probes at every block: accuracy per layer of a ridge or logistic classifier from a hook's activation at each text's last token to its label.",
        discussion: """
            Data: --data FILE (JSON lines {"text": …, "label": …}), or --counterfact RELATION (CounterFact records of one relation, e.g. P103 native language: \
            the subject alone as text, its true attribute as label; the --labels most common attributes, at most --per-label subjects each, in file order). \
            A stratified, seeded quarter is held out. Writes probe.h5 and probe.json to --out.
            """)

    @OptionGroup var options: ModelOptions
    @Option(help: "JSON lines of {\"text\", \"label\"}.") var data: String?
    @Option(help: "A CounterFact relation id (e.g. P103, P17, P37) instead of --data.") var counterfact: String?
    @Option(help: "With --counterfact: how many of the most common attributes.") var labels = 4
    @Option(help: "With --counterfact: subjects per attribute at most.") var perLabel = 60
    @Option(help: "With --counterfact: a CounterFact file in the ROME format (default: the shipped 1,373 records).") var dataset: String?
    @Option(help: "Hook site: resid_pre, resid_mid, resid_post, attn_out, mlp_out.") var site = "resid_post"
    @Option(help: "ridge or logistic.") var kind = "logistic"
    @Option(help: "L2 penalty λ.") var lambda = 0.01
    @Option(help: "Share of examples held out.") var testShare = 0.25
    @Option(help: "Seed of the split.") var seed: UInt64 = 0
    @Option(help: "Output folder.") var out: String?

    func examples() throws -> [(text: String, label: String)] {
        if let data {
            guard let text = try? String(contentsOfFile: data, encoding: .utf8) else { throw ValidationError("\(data): cannot read the examples file") }
            struct Row: Decodable { let text: String; let label: String }
            return try text.split(separator: "\n").enumerated().filter { !$0.element.trimmingCharacters(in: .whitespaces).isEmpty }.map { n, line in
                guard let r = try? JSONDecoder().decode(Row.self, from: Data(line.utf8)) else {
                    throw ValidationError("\(data):\(n + 1): expected a JSON object with string fields text and label, found \(line.prefix(80))")
                }
                return (r.text, r.label)
            }
        }
        guard let counterfact else { throw ValidationError("give --data FILE or --counterfact RELATION") }
        let records = try Datasets.counterFact(path: dataset).map(\.requestedRewrite).filter { $0.relationID == counterfact }
        guard !records.isEmpty else { throw ValidationError("--counterfact: no CounterFact records of relation '\(counterfact)'") }
        let counts = Dictionary(grouping: records, by: \.targetTrue.str).mapValues(\.count)
        let kept = Set(counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(labels).map(\.key))
        var taken: [String: Int] = [:]
        var out: [(text: String, label: String)] = []
        for r in records where kept.contains(r.targetTrue.str) && taken[r.targetTrue.str, default: 0] < perLabel {
            taken[r.targetTrue.str, default: 0] += 1
            out.append((r.subject, r.targetTrue.str))
        }
        return out
    }

    func run() throws {
        guard let k = LinearProbe.Kind(rawValue: kind) else { throw ValidationError("--kind must be ridge or logistic, not \(kind)") }
        guard let s = HookSite(rawValue: "hook_" + site) else { throw ValidationError("--site: '\(site)' is not a hook site (resid_post, mlp_out, …)") }
        let ex = try examples()
        let ctx = try ProbeContext(options)
        let m = ctx.model
        let r = try LinearProbeSweep.run(m.transformer, tokenizer: m.tokenizer, examples: ex, site: s, kind: k, lambda: lambda, testShare: testShare, seed: seed)
        if let out {
            try makeDirectory(out)
            try r.writeHDF5(to: out + "/probe.h5", provenance: ctx.provenance)
            try printJSONFile(r, to: out + "/probe.json")
        }
        if options.json { return try printJSON(r) }
        print("\(r.labels.count) labels, \(r.trainCount) train / \(r.testCount) test examples; majority baseline \(String(format: "%.3f", r.majorityBaseline))")
        for l in r.layers { print(String(format: "layer %2d  train %.3f  test %.3f", l.layer, l.trainAccuracy, l.testAccuracy)) }
        if let out { print("wrote \(out)/probe.h5, probe.json") }
    }
}
