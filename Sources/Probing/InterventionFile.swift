import ArrayStore
import Foundation
import Tensors

/// Interventions saved to and loaded from HDF5.
///
/// Layout: `/interventions/NNN` is a group per intervention, in order, with attributes `hook`, `operation`
/// (the operation without its arrays, as JSON), `sequences` and `positions` (JSON, or "all"); an operation's
/// numbers (`replace`, `add`) are the Float32 dataset `/interventions/NNN/values`.
public enum InterventionFile {
    public static func save(_ list: [Intervention], to path: String, provenance: Provenance) throws {
        try H5File.write(path) { f in
            try f.setAttributes(provenance.attributes.merging(["count": .int(Int64(list.count))]) { $1 })
            for (i, iv) in list.enumerated() {
                let g = String(format: "interventions/%03d", i)
                try f.createGroup(g)
                var op = iv.operation
                switch iv.operation {
                case .replace(let v):
                    try f.write(Tensor(shape: [v.count], data: v), at: g + "/values")
                    op = .replace(values: [])
                case .add(let v):
                    try f.write(Tensor(shape: [v.count], data: v), at: g + "/values")
                    op = .add(vector: [])
                default: break
                }
                try f.setAttributes(
                    ["hook": .string(iv.hook), "operation": .string(JSONText.encode(op)),
                     "sequences": iv.sequences.map { .integers($0.map(Int64.init), shape: [$0.count]) } ?? .string("all"),
                     "positions": iv.positions.map { .integers($0.map(Int64.init), shape: [$0.count]) } ?? .string("all"),
                     "description": .string(iv.description)], on: g)
            }
        }
    }

    public static func load(_ path: String) throws -> [Intervention] {
        let f = try H5File.open(path)
        let groups = f.exists("interventions") ? try f.children(of: "interventions").sorted() : []
        return try groups.map { name in
            let g = "interventions/" + name
            let hook = try f.requiredString("hook", on: g)
            var op = try JSONText.decode(Intervention.Operation.self, try f.requiredString("operation", on: g), file: path, field: g + " operation")
            func list(_ key: String) throws -> [Int]? {
                if case .string("all")? = try f.attributes(of: g)[key] { return nil }
                return try f.requiredIntegers(key, on: g)
            }
            switch op {
            case .replace: op = .replace(values: try f.readTensor(g + "/values").data)
            case .add: op = .add(vector: try f.readTensor(g + "/values").data)
            default: break
            }
            return Intervention(hook: hook, sequences: try list("sequences"), positions: try list("positions"), op)
        }
    }
}
