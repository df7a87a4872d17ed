/// A bounds-checked little-endian cursor over mapped bytes, used by the format parsers.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    let file: String
    private(set) var position = 0

    init(bytes: UnsafeRawBufferPointer, file: String) {
        self.bytes = bytes
        self.file = file
    }

    var remaining: Int { bytes.count - position }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ field: String) throws(ModelFormatError) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw truncated(field, size) }
        let v = bytes.loadUnaligned(fromByteOffset: position, as: T.self)
        position += size
        return T(littleEndian: v)
    }

    /// A u64 element count, checked against what the rest of the file could hold.
    mutating func readCount(_ field: String, minimumBytesEach: Int) throws(ModelFormatError) -> Int {
        let n = try read(UInt64.self, field)
        guard n <= UInt64(remaining / max(minimumBytesEach, 1)) else {
            throw ModelFormatError(
                .malformed, file: file, field: field,
                expected: "a count that fits in the \(remaining) remaining bytes", found: "\(n)")
        }
        return Int(n)
    }

    mutating func readString(_ field: String) throws(ModelFormatError) -> String {
        let n = try read(UInt64.self, field + ".length")
        guard n <= UInt64(remaining) else { throw truncated(field, Int(clamping: n)) }
        let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[position..<(position + Int(n))]), as: UTF8.self)
        position += Int(n)
        return s
    }

    mutating func readValue(_ type: GGUFValueType, field: String) throws(ModelFormatError) -> GGUFValue {
        switch type {
        case .uint8: return .uint(UInt64(try read(UInt8.self, field)), type)
        case .uint16: return .uint(UInt64(try read(UInt16.self, field)), type)
        case .uint32: return .uint(UInt64(try read(UInt32.self, field)), type)
        case .uint64: return .uint(try read(UInt64.self, field), type)
        case .int8: return .int(Int64(try read(Int8.self, field)), type)
        case .int16: return .int(Int64(try read(Int16.self, field)), type)
        case .int32: return .int(Int64(try read(Int32.self, field)), type)
        case .int64: return .int(try read(Int64.self, field), type)
        case .float32: return .float(Double(Float(bitPattern: try read(UInt32.self, field))), type)
        case .float64: return .float(Double(bitPattern: try read(UInt64.self, field)), type)
        case .bool:
            let b = try read(UInt8.self, field)
            guard b <= 1 else {
                throw ModelFormatError(.malformed, file: file, field: field, expected: "a bool (0 or 1)", found: "\(b)")
            }
            return .bool(b == 1)
        case .string: return .string(try readString(field))
        case .array: return .array(try readArray(field: field, depth: 0))
        }
    }

    private mutating func readArray(field: String, depth: Int) throws(ModelFormatError) -> GGUFArray {
        let rawType = try read(UInt32.self, field + ".element_type")
        guard let type = GGUFValueType(rawValue: rawType) else {
            throw ModelFormatError(.malformed, file: file, field: field + ".element_type", expected: "a value type 0...12", found: "\(rawType)")
        }
        guard depth < 4 else {
            throw ModelFormatError(.malformed, file: file, field: field, expected: "arrays nested at most 4 deep", found: "deeper nesting")
        }
        let count = try readCount(field + ".count", minimumBytesEach: type.fixedSize ?? 8)
        switch type {
        case .string:
            var a: [String] = []
            a.reserveCapacity(count)
            for i in 0..<count { a.append(try readString("\(field)[\(i)]")) }
            return .strings(a)
        case .float32, .float64:
            var a = [Float](repeating: 0, count: count)
            for i in 0..<count {
                a[i] = type == .float32
                    ? Float(bitPattern: try read(UInt32.self, field)) : Float(Double(bitPattern: try read(UInt64.self, field)))
            }
            return .floats(a, type)
        case .bool:
            var a = [Bool](repeating: false, count: count)
            for i in 0..<count { a[i] = try read(UInt8.self, field) != 0 }
            return .bools(a)
        case .array:
            var a: [GGUFArray] = []
            for i in 0..<count { a.append(try readArray(field: "\(field)[\(i)]", depth: depth + 1)) }
            return .arrays(a)
        default:
            var a = [Int64](repeating: 0, count: count)
            for i in 0..<count {
                switch try readValue(type, field: field) {
                case .int(let v, _): a[i] = v
                case .uint(let v, _): a[i] = Int64(bitPattern: v)
                default: break
                }
            }
            return .integers(a, type)
        }
    }

    private func truncated(_ field: String, _ need: Int) -> ModelFormatError {
        ModelFormatError(
            .truncated, file: file, field: field,
            expected: "\(need) more bytes at offset \(position)", found: "\(remaining) bytes left in the file")
    }
}
