import ArrayStore
import Foundation
import Plotting
import Tensors

/// Writing a trace: HDF5 (numbers), JSON (the same, for reading by eye and by scripts), SVG and PNG heatmaps.
///
/// HDF5 layout: `/restored/<kind>` and `/indirect_effect/<kind>` Float64 `[tokens, layers]`, `/prompt_ids` Int64,
/// `/target_ids` Int64; root attributes: prompt, subject, subject token range, target, tokens (JSON),
/// clean and corrupted probabilities, noise (level and σ), samples, window, seed, method, seconds, and provenance.
public enum TraceStore {
    public static func writeHDF5(_ r: TraceResult, to path: String, provenance: Provenance, sigma: Double?) throws {
        try H5File.write(path) { f in
            for k in r.kinds {
                let T = k.restored.count, L = r.layers
                try f.write(doubles: k.restored.flatMap { $0 }, shape: [T, L], at: "restored/\(k.kind.rawValue)",
                    attributes: ["kind": .string(k.kind.rawValue), "hook": .string(k.kind.site.rawValue),
                                 "meaning": .string("mean over noise samples of p(target) with the state(s) at (token, layer) restored")])
                try f.write(doubles: k.indirectEffect(corrupted: r.corruptedProbability).flatMap { $0 }, shape: [T, L], at: "indirect_effect/\(k.kind.rawValue)",
                    attributes: ["meaning": .string("restored minus corrupted probability")])
            }
            try f.write(integers: r.input.prompt.ids.map(Int64.init), shape: [r.input.prompt.ids.count], at: "prompt_ids")
            try f.write(integers: r.input.target.ids.map(Int64.init), shape: [r.input.target.ids.count], at: "target_ids")
            var a = provenance.attributes
            a["prompt"] = .string(r.input.prompt.text)
            a["tokens"] = .strings(r.input.prompt.pieces)
            let positions = (r.options.positions ?? Array(0..<r.input.prompt.ids.count)).map(Int64.init)
            a["positions"] = .integers(positions, shape: [positions.count])
            a["subject"] = .string(r.input.subject)
            a["subject_start"] = .int(Int64(r.input.subjectRange.lowerBound))
            a["subject_end"] = .int(Int64(r.input.subjectRange.upperBound))
            a["target"] = .string(r.input.target.text)
            a["target_pieces"] = .strings(r.input.target.pieces)
            a["clean_probability"] = .double(r.cleanProbability)
            a["corrupted_probability"] = .double(r.corruptedProbability)
            a["clean_top_token"] = .int(Int64(r.cleanTopToken))
            a["noise_std"] = .double(r.noiseStd)
            a["noise"] = .string(r.options.noise.description)
            if let sigma { a["embedding_sigma"] = .double(sigma) }
            a["samples"] = .int(Int64(r.options.samples))
            a["window"] = .int(Int64(r.options.window))
            a["seed"] = .int(Int64(r.options.seed))
            a["noise_generator"] = .string("numpy RandomState (MT19937, legacy gauss), randn(samples, subject tokens, d_model)")
            a["method"] = .string(r.method)
            a["seconds"] = .double(r.seconds)
            a["layers"] = .int(Int64(r.layers))
            try f.setAttributes(a)
        }
    }

    /// What a stored trace holds that an average needs: probabilities per kind, clean and corrupted p, subject range.
    public struct Stored: Sendable {
        public let restored: [TraceKind: [[Double]]]
        public let clean: Double
        public let corrupted: Double
        public let subjectRange: Range<Int>
        public let noiseStd: Double
        public let samples: Int
    }

    /// Reads a file `writeHDF5` wrote (typed errors name the file and the missing field).
    public static func read(_ path: String) throws -> Stored {
        let f = try H5File.open(path)
        let a = try f.attributes()
        func double(_ k: String) throws -> Double {
            guard case .double(let v)? = a[k] else { throw ProbingError.badFile(path: path, field: "attribute \(k)", expected: "a number", found: "nothing") }
            return v
        }
        func int(_ k: String) throws -> Int {
            guard case .int(let v)? = a[k] else { throw ProbingError.badFile(path: path, field: "attribute \(k)", expected: "an integer", found: "nothing") }
            return Int(v)
        }
        var restored: [TraceKind: [[Double]]] = [:]
        for name in try f.children(of: "restored") {
            guard let k = TraceKind(rawValue: name) else { continue }
            let (v, shape) = try f.readDoubles("restored/\(name)")
            restored[k] = (0..<shape[0]).map { Array(v[($0 * shape[1])..<(($0 + 1) * shape[1])]) }
        }
        return Stored(
            restored: restored, clean: try double("clean_probability"), corrupted: try double("corrupted_probability"),
            subjectRange: try int("subject_start")..<(try int("subject_end")), noiseStd: try double("noise_std"), samples: try int("samples"))
    }

    /// The heatmaps of a trace, one panel per kind, as the paper's figure 1 draws them.
    public static func figure(_ r: TraceResult) -> HeatmapFigure {
        let positions = r.options.positions ?? Array(0..<r.input.prompt.ids.count)
        let labels = positions.map { r.input.prompt.pieces[$0] }
        let marked = Set(positions.enumerated().filter { r.input.subjectRange.contains($0.element) }.map(\.offset))
        let answer = r.input.target.text.trimmingCharacters(in: .whitespaces)
        let panels = r.kinds.map { k -> HeatmapPanel in
            let (title, x, cmap): (String, String, ColorMap) = {
                switch k.kind {
                case .hidden: return ("Impact of restoring state after corrupted input", "single restored layer", .purples)
                case .mlp: return ("Impact of restoring MLP after corrupted input", "center of interval of \(r.options.window) restored MLP layers", .greens)
                case .attn: return ("Impact of restoring Attn after corrupted input", "center of interval of \(r.options.window) restored Attn layers", .reds)
                }
            }()
            return HeatmapPanel(
                title: title, rowLabels: labels, markedRows: marked, columnLabels: (0..<r.layers).map(String.init), values: k.restored,
                colorMap: cmap, minimum: r.corruptedProbability, maximum: max(k.restored.flatMap { $0 }.max() ?? 1, r.corruptedProbability + 1e-9),
                scaleLabel: "p(\(answer))", xLabel: x)
        }
        return HeatmapFigure(
            title: String(format: "%@  ->  '%@'   clean p = %.4f, corrupted p = %.4f (noise %.3f, %d samples)", r.input.prompt.text, r.input.target.text, r.cleanProbability, r.corruptedProbability, r.noiseStd, r.options.samples),
            panels: panels)
    }

    /// Writes `trace.h5`, `trace.json`, `trace.svg` and `trace.png` into `directory`.
    public static func write(_ r: TraceResult, to directory: String, provenance: Provenance, sigma: Double?, name: String = "trace") throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try writeHDF5(r, to: "\(directory)/\(name).h5", provenance: provenance, sigma: sigma)
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeAtomically(Data(try e.encode(r)), to: "\(directory)/\(name).json")
        let fig = figure(r)
        try writeAtomically(Data(try fig.svg().utf8), to: "\(directory)/\(name).svg")
        try writeAtomically(Data(try fig.png()), to: "\(directory)/\(name).png")
    }
}

/// Writes bytes to a temporary file and renames it into place.
func writeAtomically(_ data: Data, to path: String) throws {
    do { try AtomicFile.write(data, to: path) } catch {
        throw ProbingError.badFile(path: path, field: "file", expected: "a writable path", found: error.message)
    }
}
