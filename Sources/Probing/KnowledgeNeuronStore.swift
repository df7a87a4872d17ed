import ArrayStore
import Foundation

/// Knowledge-neuron results in HDF5: `/neurons/layer`, `/neurons/index` Int64, `/neurons/attribution`,
/// `/neurons/activation` Float64 (chosen neurons, best first); `/layer_attribution` and `/layer_p_zero` per block.
public enum KnowledgeNeuronStore {
    public static func write(_ r: KnowledgeNeurons.Result, to path: String, provenance: Provenance) throws {
        try H5File.write(path) { f in
            let n = r.neurons.count
            try f.write(integers: r.neurons.map { Int64($0.layer) }, shape: [n], at: "neurons/layer")
            try f.write(integers: r.neurons.map { Int64($0.index) }, shape: [n], at: "neurons/index")
            try f.write(doubles: r.neurons.map(\.attribution), shape: [n], at: "neurons/attribution")
            try f.write(doubles: r.neurons.map(\.activation), shape: [n], at: "neurons/activation")
            try f.write(doubles: r.layerAttribution, shape: [r.layers.count], at: "layer_attribution")
            try f.write(doubles: r.layerProbabilityAtZero, shape: [r.layers.count], at: "layer_p_zero")
            try f.write(integers: r.layers.map(Int64.init), shape: [r.layers.count], at: "layers")
            var a = provenance.attributes
            a["prompt"] = .string(r.prompt.text)
            a["target"] = .string(r.target.text)
            a["steps"] = .int(Int64(r.steps))
            a["threshold"] = .double(r.threshold)
            a["probability"] = .double(r.probability)
            a["suppressed_probability"] = .double(r.suppressedProbability)
            a["amplified_probability"] = .double(r.amplifiedProbability)
            a["hook"] = .string("blocks.{l}.mlp.hook_post at the last position")
            try f.setAttributes(a)
        }
    }
}
