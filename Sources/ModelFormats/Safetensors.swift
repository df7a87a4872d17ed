import Foundation
import Tensors

/// One tensor entry of a safetensors file.
public struct SafetensorsEntry: Sendable, Equatable {
    public let name: String
    public let dtype: String
    public let shape: [Int]
    /// Absolute byte range in the file.
    public let range: Range<Int>
}

/// A memory-mapped safetensors file (Hugging Face checkpoints and test fixtures).
///
/// Layout: a u64 little-endian header length, a JSON header `{name: {dtype, shape, data_offsets}}`
/// with an optional `__metadata__` object of strings, then the data. Shapes are row-major. Every
/// offset is checked against the file before use.
public final class SafetensorsFile: @unchecked Sendable {
    public let path: String
    public let entries: [String: SafetensorsEntry]
    public let metadata: [String: String]
    private let file: MappedFile

    public convenience init(path: String) throws(ModelFormatError) {
        try self.init(mapped: MappedFile(path: path))
    }

    /// Parses safetensors bytes held in memory; errors name `name` as the file.
    public convenience init(bytes: UnsafeRawBufferPointer, name: String) throws(ModelFormatError) {
        try self.init(mapped: MappedFile(copying: bytes, path: name))
    }

    init(mapped f: MappedFile) throws(ModelFormatError) {
        file = f
        let path = f.path
        self.path = path
        var r = ByteReader(bytes: f.bytes, file: path)
        let n = try r.read(UInt64.self, "header.length")
        guard n <= UInt64(r.remaining), n < 100 << 20 else {
            throw ModelFormatError(.truncated, file: path, field: "header.length", expected: "at most \(r.remaining) bytes", found: "\(n)")
        }
        let headerBytes = Data(UnsafeRawBufferPointer(rebasing: f.bytes[8..<(8 + Int(n))]))
        guard let json = try? JSONSerialization.jsonObject(with: headerBytes) as? [String: Any] else {
            throw ModelFormatError(.malformed, file: path, field: "header", expected: "a JSON object", found: "unparseable JSON")
        }
        let dataStart = 8 + Int(n)
        var entries: [String: SafetensorsEntry] = [:]
        var meta: [String: String] = [:]
        for (name, value) in json {
            if name == "__metadata__" {
                for (k, v) in (value as? [String: Any]) ?? [:] { meta[k] = "\(v)" }
                continue
            }
            guard let obj = value as? [String: Any], let dtype = obj["dtype"] as? String,
                let shape = obj["shape"] as? [Int], let offs = obj["data_offsets"] as? [Int], offs.count == 2
            else {
                throw ModelFormatError(.malformed, file: path, field: "header.\(name)", expected: "{dtype, shape, data_offsets}", found: "\(value)")
            }
            // Compared with what is left after the header, so an offset near Int.max cannot overflow.
            guard offs[0] >= 0, offs[0] <= offs[1], offs[1] <= f.count - dataStart else {
                throw ModelFormatError(
                    .truncated, file: path, field: "header.\(name).data_offsets",
                    expected: "a range inside the \(f.count - dataStart) data bytes", found: "\(offs)")
            }
            // The product is checked as it grows (2^48 elements keeps `elements * size` in range).
            var elements = 1
            for d in shape {
                let (p, overflow) = elements.multipliedReportingOverflow(by: d)
                guard d >= 0, !overflow, p <= 1 << 48 else {
                    throw ModelFormatError(
                        .shapeMismatch, file: path, field: "header.\(name).shape",
                        expected: "non-negative sizes, at most 2^48 elements in all", found: "\(shape)")
                }
                elements = p
            }
            if let size = Self.elementSize(dtype), elements * size != offs[1] - offs[0] {
                throw ModelFormatError(
                    .shapeMismatch, file: path, field: "header.\(name)", expected: "\(elements * size) bytes for \(dtype) \(shape)",
                    found: "\(offs[1] - offs[0]) bytes")
            }
            entries[name] = SafetensorsEntry(name: name, dtype: dtype, shape: shape, range: (dataStart + offs[0])..<(dataStart + offs[1]))
        }
        self.entries = entries
        self.metadata = meta
    }

    static func elementSize(_ dtype: String) -> Int? {
        switch dtype {
        case "F64", "I64", "U64": return 8
        case "F32", "I32", "U32": return 4
        case "F16", "BF16", "I16", "U16": return 2
        case "I8", "U8", "BOOL": return 1
        default: return nil
        }
    }

    public var names: [String] { entries.keys.sorted() }

    /// The mapped file (valid while this object lives).
    var mappedBytes: UnsafeRawBufferPointer { file.bytes }

    /// A tensor converted to Float32 (F32, F16, BF16, F64, I64, I32 are accepted).
    public func tensor(_ name: String) throws(ModelFormatError) -> Tensor {
        guard let e = entries[name] else {
            throw ModelFormatError(.missingField, file: path, field: name, expected: "a tensor of that name", found: "none")
        }
        let raw = UnsafeRawBufferPointer(rebasing: file.bytes[e.range])
        let n = e.shape.reduce(1, *)
        var out = [Float](repeating: 0, count: n)
        switch e.dtype {
        case "F32": for i in 0..<n { out[i] = Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)) }
        case "F16": for i in 0..<n { out[i] = Float(Float16(bitPattern: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        case "BF16": for i in 0..<n { out[i] = Float(bitPattern: UInt32(raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16) }
        case "F64": for i in 0..<n { out[i] = Float(raw.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
        case "I64": for i in 0..<n { out[i] = Float(raw.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)) }
        case "I32": for i in 0..<n { out[i] = Float(raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) }
        default:
            throw ModelFormatError(.unsupportedTensorType, file: path, field: "\(name).dtype", expected: "F32, F16, BF16, F64, I64 or I32", found: e.dtype)
        }
        return Tensor(shape: e.shape, data: out)
    }
}
