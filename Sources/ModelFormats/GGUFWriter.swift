import Foundation
import Tensors

#if canImport(Glibc)
import Glibc
#endif

/// Writes GGUF version 3 files: metadata in the given order, a tensor directory, and tensor data
/// aligned to `alignment` (llama.cpp's layout, as `GGUFFile` reads it).
///
/// Tensor data is either raw bytes (a tensor copied unchanged from another GGUF file, in whatever
/// type it had) or values to store as F32 or F16. Shapes are given row-major (slowest axis first,
/// as `GGUFTensorInfo.shape`); the file stores them reversed (ggml `ne`). The file is written under
/// a temporary name in the target folder and renamed into place only when complete.
public struct GGUFWriter {
    /// A tensor's contents.
    public enum TensorData {
        /// Bytes already in the tensor's GGML type (not copied until written).
        case raw(UnsafeRawBufferPointer)
        /// Float32 values stored as F32.
        case f32([Float])
        /// Float32 values stored as F16 (IEEE half, round to nearest even).
        case f16([Float])
    }

    public struct Tensor {
        public let name: String
        /// Row-major shape (slowest axis first).
        public let shape: [Int]
        public let type: GGMLType
        public let data: TensorData

        public init(name: String, shape: [Int], type: GGMLType, data: TensorData) {
            self.name = name
            self.shape = shape
            self.type = type
            self.data = data
        }
    }

    public var metadata: [(key: String, value: GGUFValue)] = []
    public var tensors: [Tensor] = []
    public var alignment = 32

    public init() {}

    /// Sets a metadata key (replacing its value in place if present, else appending it).
    public mutating func set(_ key: String, _ value: GGUFValue) {
        if let i = metadata.firstIndex(where: { $0.key == key }) { metadata[i].value = value } else { metadata.append((key, value)) }
    }

    /// Writes the file. Throws, leaving nothing at `path`, on inconsistent sizes or I/O failure.
    public func write(to path: String) throws(ModelFormatError) {
        var header = ByteWriter()
        header.u32(0x4655_4747)
        header.u32(3)
        header.u64(UInt64(tensors.count))
        var meta = metadata
        if let i = meta.firstIndex(where: { $0.key == "general.alignment" }) {
            meta[i].value = .uint(UInt64(alignment), .uint32)
        } else if alignment != 32 {
            meta.append(("general.alignment", .uint(UInt64(alignment), .uint32)))
        }
        header.u64(UInt64(meta.count))
        for (k, v) in meta {
            header.string(k)
            header.u32(v.valueType.rawValue)
            header.value(v)
        }
        var offsets: [Int] = []
        var offset = 0
        for t in tensors {
            let elements = t.shape.reduce(1, *)
            guard let bytes = t.type.byteCount(elements: elements) else {
                throw ModelFormatError(.shapeMismatch, file: path, field: "tensor.\(t.name)", expected: "a whole number of \(t.type) blocks", found: "\(elements) elements")
            }
            let have: Int
            switch t.data {
            case .raw(let r): have = r.count
            case .f32(let v):
                guard t.type == .f32 else { throw mismatch(path, t, "F32") }
                have = v.count * 4
            case .f16(let v):
                guard t.type == .f16 else { throw mismatch(path, t, "F16") }
                have = v.count * 2
            }
            guard have == bytes else {
                throw ModelFormatError(.shapeMismatch, file: path, field: "tensor.\(t.name).data", expected: "\(bytes) bytes for \(t.shape) \(t.type)", found: "\(have)")
            }
            header.string(t.name)
            header.u32(UInt32(t.shape.count))
            for d in t.shape.reversed() { header.u64(UInt64(d)) }
            header.u32(t.type.rawValue)
            header.u64(UInt64(offset))
            offsets.append(offset)
            offset = (offset + bytes + alignment - 1) / alignment * alignment
        }
        header.pad(to: alignment)

        AtomicFile.removeStale(for: path)
        let tmp = AtomicFile.temporaryPath(for: path)
        guard let f = fopen(tmp, "wb") else {
            throw ModelFormatError(.unreadable, file: path, field: "file", expected: "a writable folder", found: "cannot create \(tmp) (errno \(errno))")
        }
        var ok = true
        func put(_ p: UnsafeRawBufferPointer) {
            guard ok, p.count > 0 else { return }
            ok = fwrite(p.baseAddress!, 1, p.count, f) == p.count
        }
        header.bytes.withUnsafeBytes { put($0) }
        var written = 0
        let zeros = [UInt8](repeating: 0, count: alignment)
        for (t, o) in zip(tensors, offsets) {
            if o > written { zeros.withUnsafeBytes { put(UnsafeRawBufferPointer(rebasing: $0[0..<(o - written)])) } }
            switch t.data {
            case .raw(let r):
                put(r)
                written = o + r.count
            case .f32(let v):
                v.withUnsafeBytes { put($0) }
                written = o + v.count * 4
            case .f16(let v):
                let b = v.withUnsafeBufferPointer { encodeF16($0) }
                b.withUnsafeBytes { put($0) }
                written = o + b.count
            }
        }
        if fclose(f) != 0 { ok = false }
        guard ok else {
            unlink(tmp)
            throw ModelFormatError(.unreadable, file: path, field: "file", expected: "the file to be written", found: "a write to \(tmp) failed (errno \(errno))")
        }
        do { try AtomicFile.commit(tmp, to: path) } catch {
            throw ModelFormatError(.unreadable, file: path, field: "file", expected: "the file renamed into place", found: error.message)
        }
    }

    private func mismatch(_ path: String, _ t: Tensor, _ what: String) -> ModelFormatError {
        ModelFormatError(.shapeMismatch, file: path, field: "tensor.\(t.name).type", expected: "type \(what) for \(what) data", found: "\(t.type)")
    }
}

/// Little-endian serialisation of GGUF header fields.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func int<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u32(_ v: UInt32) { int(v) }
    mutating func u64(_ v: UInt64) { int(v) }

    mutating func string(_ s: String) {
        let u = Array(s.utf8)
        u64(UInt64(u.count))
        bytes.append(contentsOf: u)
    }

    mutating func pad(to alignment: Int) {
        while bytes.count % alignment != 0 { bytes.append(0) }
    }

    mutating func scalar(int v: Int64, _ type: GGUFValueType) {
        switch type {
        case .uint8: int(UInt8(truncatingIfNeeded: v))
        case .int8: int(Int8(truncatingIfNeeded: v))
        case .uint16: int(UInt16(truncatingIfNeeded: v))
        case .int16: int(Int16(truncatingIfNeeded: v))
        case .uint32: int(UInt32(truncatingIfNeeded: v))
        case .int32: int(Int32(truncatingIfNeeded: v))
        case .uint64: int(UInt64(bitPattern: v))
        case .int64: int(v)
        default: int(v)
        }
    }

    mutating func value(_ v: GGUFValue) {
        switch v {
        case .uint(let x, let t): scalar(int: Int64(bitPattern: x), t)
        case .int(let x, let t): scalar(int: x, t)
        case .float(let x, let t):
            if t == .float64 { u64(x.bitPattern) } else { u32(Float(x).bitPattern) }
        case .bool(let b): bytes.append(b ? 1 : 0)
        case .string(let s): string(s)
        case .array(let a): array(a)
        }
    }

    mutating func array(_ a: GGUFArray) {
        switch a {
        case .strings(let s):
            u32(GGUFValueType.string.rawValue)
            u64(UInt64(s.count))
            for x in s { string(x) }
        case .integers(let xs, let t):
            u32(t.rawValue)
            u64(UInt64(xs.count))
            for x in xs { scalar(int: x, t) }
        case .floats(let xs, let t):
            u32(t.rawValue)
            u64(UInt64(xs.count))
            for x in xs { if t == .float64 { u64(Double(x).bitPattern) } else { u32(x.bitPattern) } }
        case .bools(let xs):
            u32(GGUFValueType.bool.rawValue)
            u64(UInt64(xs.count))
            for x in xs { bytes.append(x ? 1 : 0) }
        case .arrays(let xs):
            u32(GGUFValueType.array.rawValue)
            u64(UInt64(xs.count))
            for x in xs { array(x) }
        }
    }
}

extension GGUFFile {
    /// A writer holding this file's metadata (in file order) and every tensor as raw bytes, to be
    /// changed and written elsewhere. The writer reads from this file's map: keep the file alive
    /// until `write` returns.
    public func writerCopy() -> GGUFWriter {
        var w = GGUFWriter()
        w.alignment = alignment
        w.metadata = metadataKeys.map { ($0, metadata[$0]!) }
        w.tensors = tensors.map { GGUFWriter.Tensor(name: $0.name, shape: $0.shape, type: $0.type, data: .raw(rawBytes(of: $0))) }
        return w
    }
}
