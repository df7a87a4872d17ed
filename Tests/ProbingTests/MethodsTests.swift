import Foundation
import Models
import Plotting
import Tensors
import TestSupport
import Tokenization
import XCTest

@testable import Probing

/// FFN memories, knowledge neurons, attribution patching and the average indirect effect on the tiny fixtures.
final class MethodsTests: XCTestCase {
    let ids = [5, 17, 42, 99, 7, 3, 64, 11]

    /// Embeddings + every block's attention and MLP contributions (+ the final norm's bias) add up to the target's logit.
    func testBlockContributionsSumToTheLogit() throws {
        for arch in TinyModels.all {
            let m = try TinyModels.load(arch)
            let pieces = ids.map { "t\($0)" }
            let p = PromptTokens(text: pieces.joined(), ids: ids, pieces: pieces)
            let r = try FFNMemories.tour(m, tokenizer: try tinyTokenizer(), prompt: p, target: Target(ids: [9], pieces: ["t9"], text: "t9"), keys: 3, tokens: 3)
            let sum = (r.embeddingContribution ?? 0) + (r.biasContribution ?? 0) + r.layers.reduce(0.0) { $0 + $1.mlpContribution! + $1.attentionContribution! }
            XCTAssertEqual(sum, r.targetLogit!, accuracy: 1e-3 * max(1, abs(r.targetLogit!)), arch)
            XCTAssertEqual(r.layers.count, m.config.nLayers)
            // Keys ranked by coefficient really are the largest coefficients.
            XCTAssertGreaterThanOrEqual(r.layers[0].byCoefficient[0].coefficient, r.layers[0].byCoefficient[1].coefficient)
        }
    }

    /// Integrated gradients' completeness: the attributions of a block sum to p(w̄) − p(0), up to the Riemann sum's
    /// error, which halves when the steps double (first order).
    func testIntegratedGradientsCompleteness() throws {
        for arch in ["llama", "gpt2"] {
            let m = try TinyModels.load(arch)
            let top = try m.forward([ids], logits: .last).lastLogProbabilities()
            let t = top.indices.max { top[$0] < top[$1] }!
            let p = exp(Double(top[t]))
            let a = try KnowledgeNeurons.attributions(m, ids: ids, target: t, layer: 0, steps: 200)
            let b = try KnowledgeNeurons.attributions(m, ids: ids, target: t, layer: 0, steps: 400)
            let delta = p - a.pZero
            XCTAssertGreaterThan(abs(delta), 1e-4, "\(arch): zeroing a block's keys should matter")
            let e200 = a.attr.reduce(0, +) - delta, e400 = b.attr.reduce(0, +) - delta
            XCTAssertLessThan(abs(e400), 0.02 * abs(delta), "\(arch): Σ attributions \(b.attr.reduce(0, +)) vs Δp \(delta)")
            XCTAssertEqual(e200 / e400, 2, accuracy: 0.3, "\(arch): error should halve with twice the steps (\(e200), \(e400))")
        }
    }

    /// Attribution patching estimates exact tracing; on a tiny model with small noise the estimate is close.
    func testAttributionPatchingCorrelatesWithExactTracing() throws {
        for arch in ["llama", "gpt2"] {
            let m = try TinyModels.load(arch)
            let pieces = ids.map { "t\($0)" }
            let top = try m.forward([ids], logits: .last).lastLogProbabilities()
            let t = top.indices.max { top[$0] < top[$1] }!
            let input = try TraceInput(prompt: PromptTokens(text: pieces.joined(), ids: ids, pieces: pieces), subject: "t42t99", target: Target(ids: [t], pieces: [""], text: ""))
            var o = TraceOptions()
            o.noise = .absolute(0.3)
            o.window = 1
            let exact = try TraceEngine.run(m, input, options: o)
            let atp = try AttributionPatching.run(m, input, options: o)
            XCTAssertEqual(atp.corruptedProbability, exact.corruptedProbability, accuracy: 1e-6)
            for k in TraceKind.allCases {
                let r = AttributionPatching.correlation(
                    exact.trace(k)!.indirectEffect(corrupted: exact.corruptedProbability),
                    atp.kinds.first { $0.kind == k }!.indirectEffect(corrupted: atp.corruptedProbability))
                XCTAssertGreaterThan(r, 0.8, "\(arch) \(k): correlation \(r)")
                print("attribution patching vs exact, \(arch) \(k): r = \(r)")
            }
        }
    }

    func testEmptyDatasetSliceIsATypedError() {
        let facts = [KnownFactInput(knownID: 0, prompt: "a b", subject: "a", attribute: "b")]
        XCTAssertThrowsError(try facts.slice(5..<9, dataset: "known_1000")) { e in
            XCTAssertEqual(e as? ProbingError, .emptyDatasetSlice(dataset: "known_1000", range: "5..<9", available: 1))
            XCTAssertEqual("\(e)", "dataset known_1000: slice 5..<9 selects no record (the dataset has 1)")
        }
    }

    /// Token roles of the average indirect effect, as the ROME notebook assigns them.
    func testRolesOfTokens() {
        // 8 tokens, subject 2..<5: first 2, middle 3, last 4, first after 5, further 6, last 7.
        let roles = (0..<8).map { AverageIndirectEffect.roles(of: $0, subject: 2..<5, tokens: 8) }
        XCTAssertEqual(roles, [[], [], [0], [1], [2], [3], [4], [5]])
        // A one-token subject right before the last token: it is first and last subject token; the next is first after and last.
        XCTAssertEqual(AverageIndirectEffect.roles(of: 3, subject: 3..<4, tokens: 5), [0, 2])
        XCTAssertEqual(AverageIndirectEffect.roles(of: 4, subject: 3..<4, tokens: 5), [3, 5])
    }

    /// The line figure of an average: one plot per place (last subject token, last token), one line per kind in its
    /// heatmap's hue, with a band of ±1.96 standard deviations over √(rows averaged); role names are not quoted as tokens.
    func testAverageIndirectEffectLineFigure() throws {
        let rows = (0..<6).map { r in [0.1, 0.2, 0.3].map { $0 * Double(r + 1) } }
        let sd = (0..<6).map { _ in [0.1, 0.2, 0.4] }
        let aie = AverageIndirectEffect(
            layers: 3, options: TraceOptions(), noiseStd: 0.35, facts: [], examined: 4, skippedWrongPrediction: 0, skippedOther: [],
            effect: [.hidden: rows, .mlp: rows, .attn: rows], std: [.hidden: sd, .mlp: sd, .attn: sd], roleCounts: [4, 1, 4, 4, 9, 16],
            meanClean: 0.5, meanCorrupted: 0.1, seconds: 1)
        let fig = aie.lineFigure()
        XCTAssertEqual(fig.plots.count, 2)
        XCTAssertEqual(fig.plots[0].series.map(\.name), ["single hidden state", "MLP (10 layers)", "Attn (10 layers)"])
        let last = fig.plots[1].series[0]
        XCTAssertEqual(last.y, rows[5])
        XCTAssertEqual(last.band!.high[2], 1.8 + 1.96 * 0.4 / 4, accuracy: 1e-12)
        XCTAssertEqual(fig.plots[0].series[0].band!.low[0], 0.3 - 1.96 * 0.1 / 2, accuracy: 1e-12)
        XCTAssertEqual(fig.plots[0].series[1].color, ColorMap.greens.line)
        XCTAssertEqual(Array(try fig.png().prefix(4)), [0x89, 0x50, 0x4E, 0x47])
        let svg = try aie.figure().svg()
        XCTAssertTrue(svg.contains(">last subject token<") && !svg.contains("'last token'"), "role names drawn as names")
    }

    /// A tokenizer is needed only to decode pieces; the tiny fixtures have none, so decode through a stub vocabulary.
    func tinyTokenizer() throws -> Tokenization.Tokenizer {
        try Tokenization.Tokenizer(vocabulary: .init(model: "gpt2", tokens: (0..<128).map { "t\($0)" }, merges: []))
    }
}
