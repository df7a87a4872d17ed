import Foundation
import ModelFormats
import Models
import TestSupport
import XCTest

@testable import Editing

/// FT-L, FT-M and LoRA on the tiny Llama fixture: the loss gradient against finite differences,
/// the L∞ bound, LoRA's factor gradients, and ledger replay and GGUF export of their changes.
final class FineTuningTests: XCTestCase {
    let examples = [
        FineTuning.Example(prompt: [3, 4, 5, 6], target: [50, 51]),
        FineTuning.Example(prompt: [7, 8, 9], target: [60]),
    ]

    /// Central differences of the loss along single weights of `map`, against the analytic gradient,
    /// at the entries where the gradient is largest.
    func checkGradient(
        _ tf: Transformer, objective: FineTuneHyperparameters.Objective, layer: Int, kind: ParameterKind, file: StaticString = #filePath,
        line: UInt = #line
    ) throws {
        let id = ParameterID.block(layer, kind)
        let (_, g) = try FineTuning.loss(tf, examples, objective: objective, maps: [id])
        let grad = try XCTUnwrap(g[id])
        let lin = tf.weights.blocks[layer].linear(kind)!
        let w = lin.weight
        XCTAssertEqual(grad.count, w.count)
        let top = grad.indices.sorted { abs(grad[$0]) > abs(grad[$1]) }.prefix(4)
        for i in top {
            let h: Float = 1e-2
            func at(_ x: Float) throws -> Double {
                var t = tf
                var m = lin
                var v = w
                v[i] = x
                m.weight = v
                t.weights.blocks[layer].setLinear(kind, m)
                return try FineTuning.loss(t, examples, objective: objective, maps: [], gradient: false).loss.total
            }
            let fd = (try at(w[i] + h) - at(w[i] - h)) / Double(2 * h)
            XCTAssertEqual(Double(grad[i]), fd, accuracy: 2e-2 * abs(fd) + 1e-4, "\(objective) \(kind) entry \(i)", file: file, line: line)
        }
    }

    func testLossGradientMatchesFiniteDifferences() throws {
        let tf = try Fixtures.transformer("llama")
        try checkGradient(tf, objective: .targetNew, layer: 0, kind: .W_out)
        try checkGradient(tf, objective: .promptLast, layer: 0, kind: .W_out)
        try checkGradient(tf, objective: .targetNew, layer: 1, kind: .W_Q)
        try checkGradient(tf, objective: .targetNew, layer: 0, kind: .W_V)
    }

    func testLoRAFactorGradientsMatchFiniteDifferences() throws {
        let tf = try Fixtures.transformer("llama")
        let lin = tf.weights.blocks[0].wV
        let n = lin.inputs, o = lin.outputs, r = 2
        let s: Float = 4
        let a = Fixtures.gaussian(n * r, seed: 5, scale: 0.3), b = Fixtures.gaussian(r * o, seed: 6, scale: 0.3)
        func model(_ a: [Float], _ b: [Float]) -> Transformer {
            var t = tf
            var m = lin
            m.weight = FineTuning.merge(lin.weight, a: a, b: b, inputs: n, outputs: o, rank: r, scale: s)
            t.weights.blocks[0].wV = m
            return t
        }
        let id = ParameterID.block(0, .W_V)
        let (_, g) = try FineTuning.loss(model(a, b), examples, objective: .targetNew, maps: [id])
        let (dA, dB) = FineTuning.factorGradients(g[id]!, a: a, b: b, inputs: n, outputs: o, rank: r, scale: s)
        let h: Float = 1e-2
        func loss(_ a: [Float], _ b: [Float]) throws -> Double {
            try FineTuning.loss(model(a, b), examples, objective: .targetNew, maps: [], gradient: false).loss.total
        }
        for i in dA.indices.sorted(by: { abs(dA[$0]) > abs(dA[$1]) }).prefix(3) {
            var up = a, down = a
            up[i] += h
            down[i] -= h
            let fd = (try loss(up, b) - loss(down, b)) / Double(2 * h)
            XCTAssertEqual(Double(dA[i]), fd, accuracy: 2e-2 * abs(fd) + 1e-4, "dA[\(i)]")
        }
        for i in dB.indices.sorted(by: { abs(dB[$0]) > abs(dB[$1]) }).prefix(3) {
            var up = b, down = b
            up[i] += h
            down[i] -= h
            let fd = (try loss(a, up) - loss(a, down)) / Double(2 * h)
            XCTAssertEqual(Double(dB[i]), fd, accuracy: 2e-2 * abs(fd) + 1e-4, "dB[\(i)]")
        }
    }

    func testFTLStaysInItsLInfinityBallAndLowersTheLoss() throws {
        let tf = try Fixtures.transformer("llama")
        let eps: Float = 2e-3
        let h = FineTuneHyperparameters(layers: [0], steps: 10, learningRate: 1e-2, normConstraint: eps, objective: .promptLast)
        let res = try FineTuning.compute(tf, examples: examples, method: .ftL, hyperparameters: h)
        XCTAssertEqual(res.deltas.count, 1)
        let d = res.deltas[0]
        XCTAssertTrue(d.isDense)
        XCTAssertEqual(d.matrix, .W_out)
        let biggest = d.left.map(abs).max()!
        XCTAssertLessThanOrEqual(biggest, eps * (1 + 1e-5), "every weight within w₀ ± norm_constraint")
        XCTAssertGreaterThan(biggest, eps / 2, "the bound is reached: the edit is constrained")
        let after = try FineTuning.loss(tf.applying(res.deltas), examples, objective: .promptLast, maps: [], gradient: false).loss
        XCTAssertLessThan(after.total, res.losses[0].total)
        XCTAssertThrowsError(try FineTuning.compute(tf, examples: examples, method: .ftM, hyperparameters: h)) { err in
            guard case .malformedHyperparameters(_, let field, _, _)? = err as? EditError else { return XCTFail("\(err)") }
            XCTAssertEqual(field, "ft_m.objective_optimization")
        }
    }

    /// A fine-tuning proposal at token level.
    func proposal(_ tf: Transformer, method: EditMethod, _ h: FineTuneHyperparameters) throws -> EditProposal {
        let res = try FineTuning.compute(tf, examples: examples, method: method, hyperparameters: h)
        return EditProposal(
            method: method, requests: [try EditRequest(id: "r1", subject: "s", prompt: "{} is in", targetNew: "t")],
            hyperparameters: .fineTune(h), contextTemplates: [], deltas: res.deltas, denominators: [], losses: [res.losses], seconds: 0)
    }

    func testFTMAndLoRAReplayRevertAndExport() throws {
        let tf = try Fixtures.transformer("llama")
        let dir = try Fixtures.temporaryDirectory(self)
        let e = try Editor(
            base: tf, modelSHA256: "sha-test", modelFile: Fixtures.ggufPath("llama"), hyperparameters: [:],
            guards: EditGuards(maxRelativeNorm: 100, maxPerplexityRatio: nil), statisticsProvider: { (_: [Int], _: Int) throws(EditError) in [:] })
        e.ledgerPath = dir + "/model.edits.h5"
        let ftm = FineTuneHyperparameters(layers: [1], steps: 5, learningRate: 5e-3, objective: .targetNew)
        XCTAssertTrue(try e.commit(try proposal(e.transformer, method: .ftM, ftm)).applied)
        let afterFT = e.transformer.weights
        let lora = FineTuneHyperparameters(
            layers: [0, 1], steps: 8, learningRate: 5e-3, objective: .targetNew, stopLoss: nil, rank: 2, alpha: 4, targetModules: [.W_Q, .W_V])
        let p = try proposal(e.transformer, method: .lora, lora)
        XCTAssertEqual(p.deltas.map(\.target), ["0.W_Q", "0.W_V", "1.W_Q", "1.W_V"])
        XCTAssertTrue(p.deltas.allSatisfy { $0.rank == 2 && !$0.isDense })
        let o = try e.commit(p)
        XCTAssertTrue(o.applied, "\(o.failures)")
        XCTAssertEqual(Set(o.relativeNorms.keys), ["0.W_Q", "0.W_V", "1.W_Q", "1.W_V"])

        // The ledger (a dense entry and a factored one on four maps) replays bit for bit.
        let loaded = try Ledger.load(dir + "/model.edits.h5", modelSHA256: "sha-test")
        XCTAssertEqual(loaded, e.ledger)
        XCTAssertEqual(loaded.entries[1].hyperparameters, .fineTune(lora))
        XCTAssertEqual(try loaded.apply(to: tf).weights, e.transformer.weights)

        // Export: the edited Q (whose rows llama files keep permuted) and V reload as the session has them.
        let source = try GGUFFile(path: Fixtures.ggufPath("llama"))
        let out = dir + "/edited.gguf"
        try ModelExport.export(gguf: source, base: e.base, edited: e.transformer, ledger: e.ledger, to: out)
        let back = try Transformer(gguf: GGUFFile(path: out))
        XCTAssertEqual(back.weights, e.transformer.weights)
        let seq = [[3, 4, 5, 6, 7, 8]]
        XCTAssertEqual(try back.forward(seq).logits.data, try e.transformer.forward(seq).logits.data)

        try e.revert()
        XCTAssertEqual(e.transformer.weights, afterFT)
        try e.revert()
        XCTAssertEqual(e.transformer.weights, tf.weights)
    }

    func testBadFineTuningHyperparametersNameTheField() throws {
        let dir = try Fixtures.temporaryDirectory(self)
        func load(_ lora: String) throws -> EditError? {
            let p = dir + "/h.json"
            try #"{"model": "m", "match": ["m"], "source": "test", "lora": \#(lora)}"#.write(toFile: p, atomically: true, encoding: .utf8)
            do { _ = try HyperparameterFile.load(p) } catch { return error as? EditError }
            return nil
        }
        let wrongName = try load(#"{"layers": [], "num_steps": 3, "lr": 0.01, "objective_optimization": "target_new", "rank": 2, "lora_alpha": 4, "target_modules": ["q_proj"]}"#)
        guard case .malformedHyperparameters(_, let f1, _, let found1)? = wrongName else { return XCTFail("\(String(describing: wrongName))") }
        XCTAssertTrue(f1.contains("target_modules") || found1.contains("q_proj"), "\(f1): \(found1)")
        let missing = try load(#"{"layers": [], "lr": 0.01, "objective_optimization": "target_new"}"#)
        guard case .malformedHyperparameters(_, let f2, _, _)? = missing else { return XCTFail("\(String(describing: missing))") }
        XCTAssertEqual(f2, "lora.num_steps")

        let tf = try Fixtures.transformer("llama")
        let tooWide = FineTuneHyperparameters(layers: [0], steps: 1, learningRate: 1e-3, objective: .targetNew, rank: 10_000, alpha: 1, targetModules: [.W_V])
        XCTAssertThrowsError(try tooWide.validate(method: .lora, blocks: tf.weights.blocks)) { err in
            guard case .malformedHyperparameters(_, let field, _, _)? = err as? EditError else { return XCTFail("\(err)") }
            XCTAssertEqual(field, "lora.rank")
        }
    }

    func testShippedFilesHaveEveryMethod() throws {
        for (path, f) in try HyperparameterFile.shipped() {
            for m in EditMethod.allCases {
                let present = m == .grace ? f.grace != nil : m == .ultraedit ? f.ultraedit != nil : m.isFineTuning ? f.fineTuneValues(for: m) != nil : f.values(for: m) != nil
                XCTAssertTrue(present, "\(path): \(m.rawValue)")
            }
        }
    }
}
