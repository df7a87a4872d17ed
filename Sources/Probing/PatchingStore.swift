import ArrayStore
import Foundation
import Plotting

extension ActivationPatching.Result {
    /// HDF5: `/effect/<site>` Float64 `[positions, layers]`, `/heads` Float64 `[layers, heads]`, both prompts'
    /// ids; the differences, answers and both prompts' tokens as attributes.
    public func writeHDF5(to path: String, provenance: Provenance) throws {
        try H5File.write(path) { f in
            let T = clean.ids.count
            for s in sites {
                try f.write(doubles: s.effect.flatMap { $0 }, shape: [T, s.effect.first?.count ?? 0], at: "effect/\(s.site.rawValue)",
                            attributes: ["hook": .string("blocks.{layer}.hook_\(s.site.rawValue)"), "meaning": .string(Self.meaning)])
            }
            if let heads {
                try f.write(doubles: heads.flatMap { $0 }, shape: [heads.count, heads.first?.count ?? 0], at: "heads",
                            attributes: ["hook": .string("blocks.{layer}.attn.hook_z, one head, every position"), "meaning": .string(Self.meaning)])
            }
            try f.write(integers: clean.ids.map(Int64.init), shape: [T], at: "clean_ids")
            try f.write(integers: corrupted.ids.map(Int64.init), shape: [T], at: "corrupted_ids")
            var a = provenance.attributes
            a["clean_prompt"] = .string(clean.text)
            a["corrupted_prompt"] = .string(corrupted.text)
            a["clean_tokens"] = .strings(clean.pieces)
            a["corrupted_tokens"] = .strings(corrupted.pieces)
            a["answer"] = .string(answer.text)
            a["versus"] = .string(versus.text)
            a["clean_difference"] = .double(cleanDifference)
            a["corrupted_difference"] = .double(corruptedDifference)
            try f.setAttributes(a)
        }
    }

    static let meaning = "(LD_patched - LD_corrupted) / (LD_clean - LD_corrupted), LD = logit(answer) - logit(versus); clean activation patched into the corrupted run"

    /// One heatmap per site (positions down, layers across) and one of heads (layers down, heads across).
    public func figure() -> HeatmapFigure {
        let labels = zip(clean.pieces, corrupted.pieces).map { $0 == $1 ? $0 : "\($0) / \($1)" }
        let differing = Set(zip(clean.ids, corrupted.ids).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset))
        func range(_ v: [[Double]]) -> (Double, Double) { (min(0, v.flatMap { $0 }.min() ?? 0), max(1, v.flatMap { $0 }.max() ?? 1)) }
        var panels = sites.map { s -> HeatmapPanel in
            let (lo, hi) = range(s.effect)
            let cmap: ColorMap = s.site == .residPre ? .purples : s.site == .mlpOut ? .greens : .reds
            return HeatmapPanel(
                title: "Patching \(s.site.rawValue) (clean into corrupted)", rowLabels: labels, markedRows: differing,
                columnLabels: (0..<(s.effect.first?.count ?? 0)).map(String.init), values: s.effect, colorMap: cmap, minimum: lo, maximum: hi,
                scaleLabel: "patched effect", xLabel: "layer")
        }
        if let heads {
            let (lo, hi) = range(heads)
            var panel = HeatmapPanel(
                title: "Patching each head's output (every position)", rowLabels: (0..<heads.count).map { "L\($0)" },
                columnLabels: (0..<(heads.first?.count ?? 0)).map(String.init), values: heads, colorMap: .blues, minimum: lo, maximum: hi,
                scaleLabel: "patched effect", xLabel: "head")
            panel.rowLabelsAreTokens = false
            panels.append(panel)
        }
        return HeatmapFigure(
            title: String(format: "'%@' vs '%@': logit('%@') - logit('%@') clean %.3f, corrupted %.3f", clean.text, corrupted.text,
                          answer.text, versus.text, cleanDifference, corruptedDifference),
            panels: panels)
    }

    /// Writes `patch.h5`, `patch.json`, `patch.svg` and `patch.png` into `directory`.
    public func write(to directory: String, provenance: Provenance) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try writeHDF5(to: directory + "/patch.h5", provenance: provenance)
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeAtomically(Data(try e.encode(self)), to: directory + "/patch.json")
        let fig = figure()
        try writeAtomically(Data(fig.svg().utf8), to: directory + "/patch.svg")
        try writeAtomically(Data(fig.png()), to: directory + "/patch.png")
    }
}
