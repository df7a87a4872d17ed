import ArrayStore
import Foundation
import Models
import Plotting
import Tensors
import Tokenization

/// The logit lens (nostalgebraist 2020): the residual stream at every layer and position read out through the
/// model's own final norm and unembedding (`Transformer.readOut`: RMSNorm or LayerNorm with the model's
/// weights, Gemma's scaled norm included), as if the network stopped there.
///
/// Row 0 reads the embeddings (`blocks.0.hook_resid_pre`); row l + 1 reads `blocks.{l}.hook_resid_post`. The last
/// row is the model's own output distribution, bit for bit.
public struct LogitLens: Codable, Sendable {
    public struct Token: Codable, Sendable, Equatable {
        public let id: Int
        public let piece: String
        public let probability: Double
    }

    public struct Cell: Codable, Sendable {
        public let top: [Token]
        /// p and rank (0 = most likely) of the target's first token, when there is a target.
        public let targetProbability: Double?
        public let targetRank: Int?
    }

    public let prompt: PromptTokens
    public let target: Target?
    /// Names of the rows: `embed`, then `0` … `L-1` (after each block).
    public let layers: [String]
    /// `cells[layer][position]`.
    public let cells: [[Cell]]

    /// Log-probabilities of every readable row: `[L + 1][T][vocab]`.
    public static func logProbabilities(_ model: Transformer, ids: [Int]) throws -> [[[Float]]] {
        let L = model.config.nLayers
        var capture: Set<HookID> = [HookID(.residPre, layer: 0)]
        for l in 0..<L { capture.insert(HookID(.residPost, layer: l)) }
        let r = try model.forward([ids], hooks: Hooks(capture: capture), logits: .none)
        let states = [r.cache[HookID(.residPre, layer: 0)]!] + (0..<L).map { r.cache[HookID(.residPost, layer: $0)]! }
        return states.map { logSoftmaxRows(model.readOut($0.reshaped([ids.count, model.config.dModel]))) }
    }

    public static func run(_ model: Transformer, tokenizer: Tokenizer, prompt: PromptTokens, target: Target? = nil, top k: Int = 5) throws -> LogitLens {
        let lp = try logProbabilities(model, ids: prompt.ids)
        let cells = lp.map { layer in
            layer.map { row -> Cell in
                let best = topIndices(row, k)
                let top = best.map { Token(id: $0, piece: tokenizer.decode([$0]), probability: exp(Double(row[$0]))) }
                guard let t = target?.ids.first else { return Cell(top: top, targetProbability: nil, targetRank: nil) }
                let rank = row.reduce(0) { $0 + ($1 > row[t] ? 1 : 0) }
                return Cell(top: top, targetProbability: exp(Double(row[t])), targetRank: rank)
            }
        }
        return LogitLens(prompt: prompt, target: target, layers: ["embed"] + (0..<model.config.nLayers).map(String.init), cells: cells)
    }

    /// Indices of the k largest values, largest first.
    static func topIndices(_ row: [Float], _ k: Int) -> [Int] {
        var best: [Int] = []
        for i in row.indices {
            if best.count < k {
                best.append(i)
                best.sort { row[$0] > row[$1] }
            } else if row[i] > row[best[k - 1]] {
                best[k - 1] = i
                best.sort { row[$0] > row[$1] }
            }
        }
        return best
    }

    /// HDF5: `/top_ids` Int64 and `/top_probabilities` Float64 `[layers, tokens, k]`; with a target,
    /// `/target_probability` Float64 and `/target_rank` Int64 `[layers, tokens]`.
    public func writeHDF5(to path: String, provenance: Provenance) throws {
        let Lr = cells.count, T = prompt.ids.count, k = cells.first?.first?.top.count ?? 0
        try H5File.write(path) { f in
            try f.write(integers: cells.flatMap { $0.flatMap { $0.top.map { Int64($0.id) } } }, shape: [Lr, T, k], at: "top_ids")
            try f.write(doubles: cells.flatMap { $0.flatMap { $0.top.map(\.probability) } }, shape: [Lr, T, k], at: "top_probabilities")
            if target != nil {
                try f.write(doubles: cells.flatMap { $0.map { $0.targetProbability! } }, shape: [Lr, T], at: "target_probability")
                try f.write(integers: cells.flatMap { $0.map { Int64($0.targetRank!) } }, shape: [Lr, T], at: "target_rank")
            }
            try f.write(integers: prompt.ids.map(Int64.init), shape: [T], at: "prompt_ids")
            var a = provenance.attributes
            a["prompt"] = .string(prompt.text)
            a["tokens"] = .strings(prompt.pieces)
            a["layers"] = .strings(layers)
            a["read_out"] = .string("final norm + unembedding of blocks.0.hook_resid_pre (row 0) and blocks.{l}.hook_resid_post (row l+1)")
            if let target { a["target"] = .string(target.text); a["target_id"] = .int(Int64(target.ids[0])) }
            try f.setAttributes(a)
        }
    }

    /// Heatmap of the target's probability (tokens down, layers across).
    public func figure() -> HeatmapFigure? {
        guard let target else { return nil }
        let values = (0..<prompt.ids.count).map { t in cells.map { $0[t].targetProbability! } }
        return HeatmapFigure(
            title: "Logit lens: \(prompt.text)",
            panels: [HeatmapPanel(
                title: "p('\(target.pieces[0])') read out after each block", rowLabels: prompt.pieces, columnLabels: layers, values: values,
                colorMap: .blues, minimum: 0, scaleLabel: "p(\(target.pieces[0].trimmingCharacters(in: .whitespaces)))", xLabel: "layer (embed = before block 0)")])
    }
}
