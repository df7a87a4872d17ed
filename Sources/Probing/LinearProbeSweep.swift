import ArrayStore
import Foundation
import Models
import Tokenization

/// Linear probes at every block: for each layer, a probe from one hook site's activation at each text's
/// last token to the text's label, fitted on a training split and scored on the held-out rest.
public struct LinearProbeSweep: Codable, Sendable {
    public struct Layer: Codable, Sendable {
        public let layer: Int
        public let trainAccuracy: Double
        public let testAccuracy: Double
    }

    public let site: String
    public let kind: LinearProbe.Kind
    public let lambda: Double
    public let labels: [String]
    public let trainCount: Int
    public let testCount: Int
    /// Test accuracy of always answering the training split's most common label.
    public let majorityBaseline: Double
    public let layers: [Layer]

    /// `examples` are (text, label); the split is a seeded shuffle, stratified by label, `testShare` held out.
    public static func run(
        _ model: Transformer, tokenizer: Tokenizer, examples: [(text: String, label: String)], site: HookSite = .residPost,
        layers wanted: [Int]? = nil, kind: LinearProbe.Kind = .logistic, lambda: Double = 0.01, testShare: Double = 0.25, seed: UInt64 = 0
    ) throws -> LinearProbeSweep {
        let L = model.config.nLayers, d = model.config.dModel
        let layers = wanted ?? Array(0..<L)
        if let bad = layers.first(where: { $0 < 0 || $0 >= L }) { throw ProbingError.invalidOption(name: "layers", expected: "blocks 0..<\(L)", found: "\(bad)") }
        guard [.residPre, .residMid, .residPost, .attnOut, .mlpOut].contains(site) else {
            throw ProbingError.invalidOption(name: "site", expected: "a d_model-wide site (resid_pre, resid_mid, resid_post, attn_out, mlp_out)", found: site.rawValue)
        }
        let names = Array(Set(examples.map(\.label))).sorted()
        guard names.count >= 2 else { throw ProbingError.invalidOption(name: "labels", expected: "at least two different labels", found: "\(names)") }
        let index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })

        // Stratified split: each label's examples shuffled (SplitMix64 from `seed`), the first share held out.
        var rng = SplitMix64(seed: seed)
        var train: [Int] = [], test: [Int] = []
        for name in names {
            var members = examples.indices.filter { examples[$0].label == name }
            members.shuffle(using: &rng)
            let held = Int((Double(members.count) * testShare).rounded())
            test += members.prefix(held)
            train += members.dropFirst(held)
        }
        guard !train.isEmpty, !test.isEmpty else {
            throw ProbingError.invalidOption(name: "examples", expected: "enough examples for a training and a test split", found: "\(examples.count)")
        }

        // Each text's activation at its last token, at every wanted layer, from one forward pass.
        let capture = Set(layers.map { HookID(site, layer: $0) })
        var features = [[[Float]]](repeating: [], count: layers.count)  // [layer][example][d]
        for e in examples {
            let ids = tokenizer.encode(e.text)
            let r = try model.forward([ids], hooks: Hooks(capture: capture), logits: .last, stopAfterLayer: layers.max()!)
            for (i, l) in layers.enumerated() {
                let a = r.cache[HookID(site, layer: l)]!.data
                features[i].append(Array(a[((ids.count - 1) * d)..<(ids.count * d)]))
            }
        }
        let y = examples.map { index[$0.label]! }
        let counts = Dictionary(grouping: train.map { y[$0] }, by: { $0 }).mapValues(\.count)
        let majority = counts.max { $0.value < $1.value }!.key
        let baseline = Double(test.filter { y[$0] == majority }.count) / Double(test.count)

        var out: [Layer] = []
        for (i, l) in layers.enumerated() {
            let xs = features[i]
            let probe = try LinearProbe.fit(kind, x: train.map { xs[$0] }, labels: train.map { y[$0] }, classes: names.count, lambda: lambda)
            out.append(Layer(
                layer: l, trainAccuracy: probe.accuracy(train.map { xs[$0] }, labels: train.map { y[$0] }),
                testAccuracy: probe.accuracy(test.map { xs[$0] }, labels: test.map { y[$0] })))
        }
        return LinearProbeSweep(
            site: site.rawValue, kind: kind, lambda: lambda, labels: names, trainCount: train.count, testCount: test.count,
            majorityBaseline: baseline, layers: out)
    }

    /// HDF5: `/layer` Int64, `/train_accuracy`, `/test_accuracy` Float64 `[layers]`; the labels and settings as attributes.
    public func writeHDF5(to path: String, provenance: Provenance) throws {
        try H5File.write(path) { f in
            try f.write(integers: layers.map { Int64($0.layer) }, shape: [layers.count], at: "layer")
            try f.write(doubles: layers.map(\.trainAccuracy), shape: [layers.count], at: "train_accuracy")
            try f.write(doubles: layers.map(\.testAccuracy), shape: [layers.count], at: "test_accuracy")
            var a = provenance.attributes
            a["site"] = .string("blocks.{layer}.hook_\(site)")
            a["kind"] = .string(kind.rawValue)
            a["lambda"] = .double(lambda)
            a["labels"] = .strings(labels)
            a["train_count"] = .int(Int64(trainCount))
            a["test_count"] = .int(Int64(testCount))
            a["majority_baseline"] = .double(majorityBaseline)
            try f.setAttributes(a)
        }
    }
}
