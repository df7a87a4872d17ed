import Foundation
import Locus

/// Text and files for trace results.
enum TraceOutput {
    static func write(_ r: TraceResult, to dir: String, provenance: Provenance, sigma: Double?) throws {
        try TraceStore.write(r, to: dir, provenance: provenance, sigma: sigma)
    }

    static func summary(_ r: TraceResult, sigma: Double?) -> String {
        var s = "prompt: \(r.input.prompt.text)\n"
        s += "tokens: " + r.input.prompt.pieces.enumerated().map { r.input.subjectRange.contains($0.offset) ? "[\($0.element)]" : $0.element }.joined(separator: "|") + "\n"
        s += "target: '\(r.input.target.text)' (ids \(r.input.target.ids))\n"
        s += String(format: "noise: %.4f (%@%@), %d samples, seed %d, window %d\n", r.noiseStd, r.options.noise.description,
                    sigma.map { String(format: ", σ = %.5f", $0) } ?? "", r.options.samples, Int(r.options.seed), r.options.window)
        s += String(format: "clean p = %.6f   corrupted p = %.6f   (%@, %.2f s)\n", r.cleanProbability, r.corruptedProbability, r.method, r.seconds)
        for k in r.kinds {
            var best = (ie: -Double.infinity, token: 0, layer: 0)
            for (i, row) in k.restored.enumerated() { for (l, v) in row.enumerated() where v - r.corruptedProbability > best.ie { best = (v - r.corruptedProbability, i, l) } }
            let pos = (r.options.positions ?? Array(0..<r.input.prompt.ids.count))[best.token]
            s += String(format: "%-6@ max indirect effect %.4f at token %d '%@', layer %d\n", k.kind.rawValue, best.ie, pos, r.input.prompt.pieces[pos], best.layer)
        }
        return s
    }
}
