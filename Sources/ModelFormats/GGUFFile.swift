import Foundation

/// One tensor's header entry in a GGUF file.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// ggml order: `dimensions[0]` is the contiguous (fastest) axis.
    public let dimensions: [Int]
    public let type: GGMLType
    /// Offset from the start of the data section.
    public let offset: Int
    public var elementCount: Int { dimensions.reduce(1, *) }
    /// Row-major shape (slowest axis first), the reverse of `dimensions`.
    public var shape: [Int] { dimensions.reversed() }
    public var byteCount: Int { type.byteCount(elements: elementCount) ?? 0 }
}

/// A memory-mapped GGUF file (versions 2 and 3): metadata, tensor directory and raw tensor bytes.
///
/// Parsing checks every length against the file size, so a truncated or corrupted file is a
/// `ModelFormatError` naming the field, never a crash.
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Byte offset of the tensor data section within the file.
    public let dataOffset: Int
    private let tensorIndex: [String: Int]
    private let file: MappedFile

    public convenience init(path: String) throws(ModelFormatError) {
        try self.init(mapped: MappedFile(path: path))
    }

    /// Parses GGUF bytes held in memory; errors name `name` as the file.
    public convenience init(bytes: UnsafeRawBufferPointer, name: String) throws(ModelFormatError) {
        try self.init(mapped: MappedFile(copying: bytes, path: name))
    }

    init(mapped: MappedFile) throws(ModelFormatError) {
        file = mapped
        path = mapped.path
        var r = ByteReader(bytes: mapped.bytes, file: mapped.path)
        let magic = try r.read(UInt32.self, "header.magic")
        guard magic == 0x4655_4747 else {
            throw ModelFormatError(
                .badMagic, file: path, field: "header.magic", expected: "\"GGUF\"",
                found: String(format: "0x%08x", magic))
        }
        version = try r.read(UInt32.self, "header.version")
        guard version == 2 || version == 3 else {
            throw ModelFormatError(.unsupportedVersion, file: path, field: "header.version", expected: "2 or 3", found: "\(version)")
        }
        let tensorCount = try r.readCount("header.tensor_count", minimumBytesEach: 24)
        let kvCount = try r.readCount("header.metadata_kv_count", minimumBytesEach: 13)
        var meta: [String: GGUFValue] = [:]
        var keys: [String] = []
        for i in 0..<kvCount {
            let key = try r.readString("metadata[\(i)].key")
            let rawType = try r.read(UInt32.self, "metadata.\(key).type")
            guard let type = GGUFValueType(rawValue: rawType) else {
                throw ModelFormatError(.malformed, file: path, field: "metadata.\(key).type", expected: "a value type 0...12", found: "\(rawType)")
            }
            meta[key] = try r.readValue(type, field: "metadata.\(key)")
            keys.append(key)
        }
        metadata = meta
        metadataKeys = keys
        var align = 32
        if let a = meta["general.alignment"] {
            guard let v = a.integer, v > 0, v & (v - 1) == 0 else {
                throw ModelFormatError(.malformed, file: path, field: "general.alignment", expected: "a power of two", found: a.summary)
            }
            align = v
        }
        alignment = align
        var infos: [GGUFTensorInfo] = []
        var index: [String: Int] = [:]
        for i in 0..<tensorCount {
            let name = try r.readString("tensor[\(i)].name")
            let nDims = try r.read(UInt32.self, "tensor.\(name).n_dims")
            guard (1...4).contains(nDims) else {
                throw ModelFormatError(.malformed, file: path, field: "tensor.\(name).n_dims", expected: "1 to 4", found: "\(nDims)")
            }
            var dims: [Int] = []
            for d in 0..<Int(nDims) {
                let v = try r.read(UInt64.self, "tensor.\(name).dims[\(d)]")
                guard v > 0, v < 1 << 40 else {
                    throw ModelFormatError(.malformed, file: path, field: "tensor.\(name).dims[\(d)]", expected: "a positive size", found: "\(v)")
                }
                dims.append(Int(v))
            }
            let rawType = try r.read(UInt32.self, "tensor.\(name).type")
            guard let type = GGMLType(rawValue: rawType), type.typeSize != nil else {
                throw ModelFormatError(
                    .unsupportedTensorType, file: path, field: "tensor.\(name).type",
                    expected: "a known ggml type", found: "type id \(rawType)")
            }
            let offset = try r.read(UInt64.self, "tensor.\(name).offset")
            guard offset % UInt64(align) == 0, offset < 1 << 48 else {
                throw ModelFormatError(.malformed, file: path, field: "tensor.\(name).offset", expected: "a multiple of \(align)", found: "\(offset)")
            }
            var elements = 1
            for d in dims {
                let (p, overflow) = elements.multipliedReportingOverflow(by: d)
                guard !overflow, p <= 1 << 40 else {
                    throw ModelFormatError(.malformed, file: path, field: "tensor.\(name).dims", expected: "at most 2^40 elements", found: "\(dims)")
                }
                elements = p
            }
            let info = GGUFTensorInfo(name: name, dimensions: dims, type: type, offset: Int(offset))
            guard dims[0] % type.blockSize == 0 else {
                throw ModelFormatError(
                    .shapeMismatch, file: path, field: "tensor.\(name).dims",
                    expected: "a row length that is a multiple of \(type.blockSize) for \(type)", found: "\(dims)")
            }
            guard index[name] == nil else {
                throw ModelFormatError(.malformed, file: path, field: "tensor.\(name)", expected: "unique tensor names", found: "a duplicate")
            }
            index[name] = infos.count
            infos.append(info)
        }
        tensors = infos
        tensorIndex = index
        dataOffset = (r.position + align - 1) / align * align
        for t in infos where dataOffset + t.offset + t.byteCount > mapped.count {
            throw ModelFormatError(
                .truncated, file: path, field: "tensor.\(t.name).data",
                expected: "\(t.byteCount) bytes at offset \(dataOffset + t.offset)",
                found: "a file of \(mapped.count) bytes")
        }
    }

    /// The tensor entry with this name, or nil.
    public func tensorInfo(_ name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// The raw (possibly quantized) bytes of a tensor, straight from the map.
    public func rawBytes(of info: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: file.bytes[(dataOffset + info.offset)..<(dataOffset + info.offset + info.byteCount)])
    }

    /// The whole file's bytes (for hashing and copying).
    public var fileBytes: UnsafeRawBufferPointer { file.bytes }

    /// Dequantizes a tensor to Float32 in row-major order of `info.shape`.
    public func floats(_ name: String) throws(ModelFormatError) -> [Float] {
        guard let info = tensorInfo(name) else {
            throw ModelFormatError(.missingField, file: path, field: "tensor.\(name)", expected: "a tensor of that name", found: "none")
        }
        return try floats(info)
    }

    public func floats(_ info: GGUFTensorInfo) throws(ModelFormatError) -> [Float] {
        let raw = rawBytes(of: info)
        let n = info.elementCount
        var failure: DequantizeError?
        let out = [Float](unsafeUninitializedCapacity: n) { buffer, count in
            do throws(DequantizeError) {
                try dequantize(info.type, from: raw, count: n, into: buffer.baseAddress!)
            } catch { failure = error; buffer.baseAddress!.initialize(repeating: 0, count: n) }
            count = n
        }
        if let failure {
            throw ModelFormatError(.unsupportedTensorType, file: path, field: "tensor.\(info.name).type", expected: "a type Locus can dequantize", found: "\(failure)")
        }
        return out
    }

    // MARK: typed metadata access with errors that name the key

    public func string(_ key: String) throws(ModelFormatError) -> String {
        guard let v = metadata[key] else { throw missing(key, "a string") }
        guard let s = v.string else { throw wrongType(key, "a string", v) }
        return s
    }

    public func integer(_ key: String) throws(ModelFormatError) -> Int {
        guard let v = metadata[key] else { throw missing(key, "an integer") }
        guard let i = v.integer else { throw wrongType(key, "an integer", v) }
        return i
    }

    public func number(_ key: String) throws(ModelFormatError) -> Double {
        guard let v = metadata[key] else { throw missing(key, "a number") }
        guard let x = v.number else { throw wrongType(key, "a number", v) }
        return x
    }

    public func optionalInteger(_ key: String) throws(ModelFormatError) -> Int? {
        guard let v = metadata[key] else { return nil }
        guard let i = v.integer else { throw wrongType(key, "an integer", v) }
        return i
    }

    public func optionalNumber(_ key: String) throws(ModelFormatError) -> Double? {
        guard let v = metadata[key] else { return nil }
        guard let x = v.number else { throw wrongType(key, "a number", v) }
        return x
    }

    public func optionalBool(_ key: String) throws(ModelFormatError) -> Bool? {
        guard let v = metadata[key] else { return nil }
        guard let b = v.bool else { throw wrongType(key, "a bool", v) }
        return b
    }

    private func missing(_ key: String, _ expected: String) -> ModelFormatError {
        ModelFormatError(.missingField, file: path, field: "metadata.\(key)", expected: expected, found: "no such key")
    }

    private func wrongType(_ key: String, _ expected: String, _ v: GGUFValue) -> ModelFormatError {
        ModelFormatError(.wrongFieldType, file: path, field: "metadata.\(key)", expected: expected, found: "\(v.valueType) \(v.summary)")
    }
}
