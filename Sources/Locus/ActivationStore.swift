import Foundation

/// Saving and loading captured activations (`ActivationCache`) as HDF5.
///
/// Layout: one dataset per hook at `/activations/<hook name>`, Float32 with the hook's shape
/// (`[batch, pos, ...]`), each with attributes `hook`, `model_sha256`, `model_file`, `dtype` and `prompt_ids` (an
/// Int64 array `[batch, pos]`, padded with -1, as is the dataset `/prompt_ids`); file attributes say what made it.
public enum ActivationStore {
    public static func save(
        _ cache: ActivationCache, promptIDs: [[Int]], modelPath: String, modelSHA256: String, to path: String,
        extraAttributes: [String: AttributeValue] = [:]
    ) throws {
        try H5File.write(path) { f in
            let T = promptIDs.map(\.count).max() ?? 0
            var ids = [Int64](repeating: -1, count: promptIDs.count * T)
            for (b, seq) in promptIDs.enumerated() { for (t, v) in seq.enumerated() { ids[b * T + t] = Int64(v) } }
            try f.write(integers: ids, shape: [promptIDs.count, T], at: "prompt_ids")
            for id in cache.ids {
                try f.write(
                    cache[id]!, at: "activations/\(id.name)",
                    attributes: [
                        "hook": .string(id.name), "model_sha256": .string(modelSHA256), "prompt_ids": .integers(ids, shape: [promptIDs.count, T]),
                        "model_file": .string((modelPath as NSString).lastPathComponent), "dtype": .string("float32"),
                    ])
            }
            var attrs = extraAttributes
            attrs["created_by"] = .string("locus \(LocusVersion.string)")
            attrs["model_sha256"] = .string(modelSHA256)
            try f.setAttributes(attrs)
        }
    }

    /// Reads every captured activation back.
    public static func load(_ path: String) throws -> (cache: ActivationCache, promptIDs: [[Int]], attributes: [String: AttributeValue]) {
        let f = try H5File.open(path)
        var cache = ActivationCache()
        for name in try f.children(of: "activations") {
            cache[try HookID(name: name)] = try f.readTensor("activations/\(name)")
        }
        let (ids, shape) = try f.readIntegers("prompt_ids")
        let prompts = (0..<shape[0]).map { b in (0..<shape[1]).map { Int(ids[b * shape[1] + $0]) }.filter { $0 >= 0 } }
        return (cache, prompts, try f.attributes())
    }
}
