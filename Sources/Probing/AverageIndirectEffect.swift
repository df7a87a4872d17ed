import ArrayStore
import Foundation
import Models
import Plotting
import Tokenization

/// The average indirect effect over many facts (Meng et al. 2022, figure 2), computed as the ROME notebook
/// `average_causal_effects.ipynb` does: facts the model does not already complete correctly are skipped
/// (its top next token, stripped, must equal the attribute); each fact's restored probabilities are grouped
/// by token role — first subject token, middle subject tokens, last subject token, first subsequent token,
/// further tokens, last token — averaged over facts (middle and further tokens count each token), and the
/// average corrupted probability is subtracted.
public struct AverageIndirectEffect: Codable, Sendable {
    public static let roles = ["first subject token", "middle subject tokens", "last subject token", "first subsequent token", "further tokens", "last token"]

    /// One fact the model got right, as traced.
    public struct Fact: Codable, Sendable {
        public let knownID: Int
        public let prompt: String
        public let subject: String
        public let attribute: String
        public let clean: Double
        public let corrupted: Double
    }

    public let layers: Int
    public let options: TraceOptions
    public let noiseStd: Double
    public let facts: [Fact]
    /// Facts looked at, and why others were skipped.
    public let examined: Int
    public let skippedWrongPrediction: Int
    public let skippedOther: [String]
    /// `effect[kind][role][layer]`: mean restored probability of the role minus the mean corrupted probability.
    public let effect: [TraceKind: [[Double]]]
    /// Standard deviation over the samples averaged (facts × tokens of the role) of the restored probability.
    public let std: [TraceKind: [[Double]]]
    /// How many rows each role averaged.
    public let roleCounts: [Int]
    public let meanClean: Double
    public let meanCorrupted: Double
    public let seconds: Double

    /// Which role token `t` plays in a prompt of `n` tokens whose subject is `subject`.
    static func roles(of t: Int, subject: Range<Int>, tokens n: Int) -> [Int] {
        var r: [Int] = []
        let firstE = subject.lowerBound, lastE = subject.upperBound - 1, firstA = subject.upperBound, lastA = n - 1
        if t == firstE { r.append(0) }
        if t > firstE && t < lastE { r.append(1) }
        if t == lastE { r.append(2) }
        if t == firstA { r.append(3) }
        if t > firstA && t < lastA { r.append(4) }
        if t == lastA { r.append(5) }
        return r
    }

    /// Traces `count` correctly predicted facts of `facts` (in order, starting at the first), all kinds.
    public static func run(
        _ model: Transformer, tokenizer: Tokenizer, facts: [KnownFactInput], count: Int, options: TraceOptions, sigma: Double?,
        datasetName: String = "known_1000", cacheDirectory: String? = nil, provenance: Provenance? = nil,
        progress: ((Int, Int, String) -> Void)? = nil
    ) throws -> AverageIndirectEffect {
        guard !facts.isEmpty else { throw ProbingError.emptyDatasetSlice(dataset: datasetName, range: "(given)", available: 0) }
        let started = Date()
        let L = model.config.nLayers
        var sums: [TraceKind: [[Double]]] = [:], squares: [TraceKind: [[Double]]] = [:]
        for k in options.kinds {
            sums[k] = Array(repeating: Array(repeating: 0, count: L), count: 6)
            squares[k] = sums[k]
        }
        var counts = [Int](repeating: 0, count: 6)
        var used: [Fact] = []
        var examined = 0, wrong = 0
        var other: [String] = []
        var std = 0.0
        for f in facts where used.count < count {
            examined += 1
            let prompt = PromptTokens(f.prompt, tokenizer: tokenizer)
            let top = try model.forward([prompt.ids], logits: .last).lastLogProbabilities()
            let best = top.indices.max { top[$0] < top[$1] }!
            let answer = tokenizer.decode([best])
            guard answer.trimmingCharacters(in: .whitespaces) == f.attribute else {
                wrong += 1
                continue
            }
            let input: TraceInput
            do {
                input = try TraceInput(prompt: prompt, subject: f.subject, target: Target(ids: [best], pieces: [answer], text: answer))
            } catch {
                other.append("\(f.knownID): \(error)")
                continue
            }
            // Each fact's trace is stored (as ROME keeps one file per case), so an interrupted average resumes.
            let file = cacheDirectory.map { "\($0)/\(datasetName)-\(f.knownID).h5" }
            let stored: TraceStore.Stored
            if let file, let s = try? TraceStore.read(file), s.samples == options.samples, abs(s.noiseStd - (try CausalTrace.noiseStd(options, sigma: sigma))) < 1e-12,
                options.kinds.allSatisfy({ s.restored[$0] != nil })
            {
                stored = s
            } else {
                let r = try TraceEngine.run(model, input, options: options, sigma: sigma)
                if let file, let provenance {
                    try FileManager.default.createDirectory(atPath: cacheDirectory!, withIntermediateDirectories: true)
                    try TraceStore.writeHDF5(r, to: file, provenance: provenance, sigma: sigma)
                }
                stored = TraceStore.Stored(
                    restored: Dictionary(uniqueKeysWithValues: r.kinds.map { ($0.kind, $0.restored) }), clean: r.cleanProbability,
                    corrupted: r.corruptedProbability, subjectRange: input.subjectRange, noiseStd: r.noiseStd, samples: options.samples)
            }
            std = stored.noiseStd
            for kind in options.kinds {
                for (t, row) in stored.restored[kind]!.enumerated() {
                    for role in roles(of: t, subject: input.subjectRange, tokens: prompt.ids.count) {
                        for l in 0..<L {
                            sums[kind]![role][l] += row[l]
                            squares[kind]![role][l] += row[l] * row[l]
                        }
                        if kind == options.kinds[0] { counts[role] += 1 }
                    }
                }
            }
            used.append(Fact(knownID: f.knownID, prompt: f.prompt, subject: f.subject, attribute: f.attribute, clean: stored.clean, corrupted: stored.corrupted))
            progress?(used.count, count, f.prompt)
        }
        guard !used.isEmpty else {
            throw ProbingError.noUsableFacts("none of the \(examined) facts examined was predicted correctly (\(wrong) wrong predictions)")
        }
        let meanCorrupted = used.map(\.corrupted).reduce(0, +) / Double(used.count)
        var effect: [TraceKind: [[Double]]] = [:], sd: [TraceKind: [[Double]]] = [:]
        for k in options.kinds {
            effect[k] = (0..<6).map { r in (0..<L).map { counts[r] == 0 ? .nan : sums[k]![r][$0] / Double(counts[r]) - meanCorrupted } }
            sd[k] = (0..<6).map { r in
                (0..<L).map { l in
                    guard counts[r] > 0 else { return .nan }
                    let m = sums[k]![r][l] / Double(counts[r])
                    return max(0, squares[k]![r][l] / Double(counts[r]) - m * m).squareRoot()
                }
            }
        }
        return AverageIndirectEffect(
            layers: L, options: options, noiseStd: std, facts: used, examined: examined, skippedWrongPrediction: wrong, skippedOther: other,
            effect: effect, std: sd, roleCounts: counts, meanClean: used.map(\.clean).reduce(0, +) / Double(used.count),
            meanCorrupted: meanCorrupted, seconds: Date().timeIntervalSince(started))
    }

    /// The paper's summary numbers for one kind: where the effect peaks at the last subject token and at the last token.
    public func peak(_ kind: TraceKind, role: Int) -> (layer: Int, effect: Double)? {
        guard let row = effect[kind]?[role] else { return nil }
        let l = row.indices.max { row[$0] < row[$1] }!
        return (l, row[l])
    }

    /// The indirect effect over layers at the last subject token and at the last token, one line per kind, with
    /// 95% confidence bands of the mean (±1.96 standard deviations over √(rows averaged)), as the ROME notebook draws it.
    public func lineFigure() -> LineFigure {
        let plots = [(2, "at the last subject token"), (5, "at the last token")].map { role, place in
            LinePlot(
                title: "Average indirect effect \(place)", xLabel: "layer (center of the restored window for MLP and Attn)", yLabel: "AIE",
                series: options.kinds.map { k in
                    let mean = effect[k]![role], half = std[k]![role].map { 1.96 * $0 / Double(max(roleCounts[role], 1)).squareRoot() }
                    let (name, map): (String, ColorMap) = k == .hidden ? ("single hidden state", .purples) : k == .mlp ? ("MLP (\(options.window) layers)", .greens) : ("Attn (\(options.window) layers)", .reds)
                    return LineSeries(
                        name: name, x: (0..<layers).map(Double.init), y: mean, band: (zip(mean, half).map { $0 - $1 }, zip(mean, half).map { $0 + $1 }), color: map.line)
                })
        }
        return LineFigure(title: String(format: "Average indirect effect over %d facts (noise %.3f, %d samples)", facts.count, noiseStd, options.samples), plots: plots)
    }

    public func figure() -> HeatmapFigure {
        let maxAll = effect.values.flatMap { $0.flatMap { $0 } }.filter(\.isFinite).max() ?? 1
        return HeatmapFigure(
            title: String(format: "Average indirect effect over %d facts (noise %.3f, %d samples)", facts.count, noiseStd, options.samples),
            panels: options.kinds.map { k in
                let (t, c): (String, ColorMap) = k == .hidden ? ("AIE of a single hidden state", .purples) : k == .mlp ? ("AIE of a run of \(options.window) MLP", .greens) : ("AIE of a run of \(options.window) Attn", .reds)
                var panel = HeatmapPanel(
                    title: t, rowLabels: Self.roles, columnLabels: (0..<layers).map(String.init), values: effect[k]!.map { $0.map { max($0, 0) } },
                    colorMap: c, minimum: 0, maximum: k == .hidden ? maxAll : nil, scaleLabel: "AIE", xLabel: k == .hidden ? "single restored layer" : "center of interval of \(options.window) layers")
                panel.rowLabelsAreTokens = false
                return panel
            })
    }

    /// HDF5: `/effect/<kind>` and `/std/<kind>` Float64 `[6 roles, layers]`, `/facts/known_id`, `/facts/clean`, `/facts/corrupted`.
    public func writeHDF5(to path: String, provenance: Provenance) throws {
        try H5File.write(path) { f in
            for k in options.kinds {
                try f.write(doubles: effect[k]!.flatMap { $0 }, shape: [6, layers], at: "effect/\(k.rawValue)", attributes: ["rows": .strings(Self.roles)])
                try f.write(doubles: std[k]!.flatMap { $0 }, shape: [6, layers], at: "std/\(k.rawValue)")
            }
            try f.write(integers: facts.map { Int64($0.knownID) }, shape: [facts.count], at: "facts/known_id")
            try f.write(doubles: facts.map(\.clean), shape: [facts.count], at: "facts/clean")
            try f.write(doubles: facts.map(\.corrupted), shape: [facts.count], at: "facts/corrupted")
            try f.write(integers: roleCounts.map(Int64.init), shape: [6], at: "role_counts")
            var a = provenance.attributes
            a["facts"] = .int(Int64(facts.count))
            a["examined"] = .int(Int64(examined))
            a["skipped_wrong_prediction"] = .int(Int64(skippedWrongPrediction))
            a["mean_clean"] = .double(meanClean)
            a["mean_corrupted"] = .double(meanCorrupted)
            a["noise_std"] = .double(noiseStd)
            a["samples"] = .int(Int64(options.samples))
            a["window"] = .int(Int64(options.window))
            a["seed"] = .int(Int64(options.seed))
            a["seconds"] = .double(seconds)
            try f.setAttributes(a)
        }
    }
}

/// A fact to trace in an average: known_1000's fields that tracing uses.
public struct KnownFactInput: Codable, Sendable {
    public let knownID: Int
    public let prompt: String
    public let subject: String
    public let attribute: String
    public init(knownID: Int, prompt: String, subject: String, attribute: String) {
        self.knownID = knownID
        self.prompt = prompt
        self.subject = subject
        self.attribute = attribute
    }
}

extension Array {
    /// Elements `range` of a dataset, or a typed error naming the dataset when the slice is empty.
    public func slice(_ range: Range<Int>, dataset: String) throws(ProbingError) -> [Element] {
        let lo = Swift.max(0, range.lowerBound), hi = Swift.min(count, range.upperBound)
        guard lo < hi else { throw .emptyDatasetSlice(dataset: dataset, range: "\(range.lowerBound)..<\(range.upperBound)", available: count) }
        return Array(self[lo..<hi])
    }
}
