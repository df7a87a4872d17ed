import Foundation
import Tensors

/// The weights of a Hugging Face checkpoint folder: one `model.safetensors`, or the shards that
/// `model.safetensors.index.json` names (`weight_map`: tensor → shard file). Remembers which tensors
/// were read, so a loader can refuse a checkpoint holding tensors it would ignore.
public final class SafetensorsCheckpoint: @unchecked Sendable {
    public let directory: String
    /// The file that lists the tensors: the index, or the single safetensors file.
    public let listing: String
    private let files: [String: SafetensorsFile]
    private let location: [String: String]
    private var used: Set<String> = []
    private let lock = NSLock()

    public init(directory: String) throws(ModelFormatError) {
        self.directory = directory
        let fm = FileManager.default
        let single = directory + "/model.safetensors", index = directory + "/model.safetensors.index.json"
        if fm.fileExists(atPath: index) {
            listing = index
            guard let data = fm.contents(atPath: index) else {
                throw ModelFormatError(.unreadable, file: index, field: "file", expected: "a readable index", found: "unreadable")
            }
            guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let map = json["weight_map"] as? [String: Any]
            else {
                throw ModelFormatError(.malformed, file: index, field: "weight_map", expected: "an object of tensor name → shard file", found: "none")
            }
            var files: [String: SafetensorsFile] = [:], location: [String: String] = [:]
            for (name, value) in map {
                guard let shard = value as? String, !shard.contains("/") else {
                    throw ModelFormatError(.wrongFieldType, file: index, field: "weight_map.\(name)", expected: "a shard file name in the folder", found: "\(value)")
                }
                if files[shard] == nil {
                    guard fm.fileExists(atPath: directory + "/" + shard) else {
                        throw ModelFormatError(.fileNotFound, file: index, field: "weight_map.\(name)", expected: "shard \(shard) in \(directory)", found: "no such file")
                    }
                    files[shard] = try SafetensorsFile(path: directory + "/" + shard)
                }
                guard files[shard]!.entries[name] != nil else {
                    throw ModelFormatError(.missingField, file: directory + "/" + shard, field: name, expected: "the tensor the index places in this shard", found: "none")
                }
                location[name] = shard
            }
            for (shard, file) in files {
                if let extra = file.names.first(where: { location[$0] == nil }) {
                    throw ModelFormatError(.malformed, file: file.path, field: extra, expected: "only tensors the index \(index) lists", found: "a tensor the index does not name (shard \(shard))")
                }
            }
            self.files = files
            self.location = location
        } else if fm.fileExists(atPath: single) {
            listing = single
            let f = try SafetensorsFile(path: single)
            files = ["model.safetensors": f]
            location = Dictionary(uniqueKeysWithValues: f.names.map { ($0, "model.safetensors") })
        } else {
            throw ModelFormatError(
                .fileNotFound, file: directory, field: "weights", expected: "model.safetensors or model.safetensors.index.json with its shards",
                found: "neither")
        }
    }

    public var names: [String] { location.keys.sorted() }
    public func has(_ name: String) -> Bool { location[name] != nil }
    public func entry(_ name: String) -> SafetensorsEntry? { location[name].flatMap { files[$0]?.entries[name] } }

    /// A tensor converted to Float32, marked as used.
    public func tensor(_ name: String) throws(ModelFormatError) -> Tensor { try use(name).tensor(name) }

    /// The file holding a tensor, which is marked as used.
    private func use(_ name: String) throws(ModelFormatError) -> SafetensorsFile {
        guard let shard = location[name], let file = files[shard] else {
            throw ModelFormatError(.missingField, file: listing, field: name, expected: "a tensor of that name", found: "none")
        }
        lock.lock()
        used.insert(name)
        lock.unlock()
        return file
    }

    /// A 2-D F32/F16/BF16 tensor read in place, marked as used.
    public func storedMatrix(_ name: String) throws(ModelFormatError) -> StoredMatrix { try use(name).storedMatrix(name) }

    /// Bytes of Float32 the checkpoint's tensors would take.
    public var float32Bytes: Int { location.keys.reduce(0) { $0 + 4 * (entry($1)?.shape.reduce(1, *) ?? 0) } }

    /// Tensors never read, sorted.
    public var unused: [String] {
        lock.lock()
        defer { lock.unlock() }
        return location.keys.filter { !used.contains($0) }.sorted()
    }

    /// The file a tensor lives in.
    public func file(of name: String) -> String { location[name].map { directory + "/" + $0 } ?? listing }
}
