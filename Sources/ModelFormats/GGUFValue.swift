/// A metadata value in a GGUF file.
///
/// Arrays of primitive values are kept as typed Swift arrays (a vocabulary of 262,144 strings
/// stays one `[String]`), so reading a tokenizer does not build an enum per token.
public enum GGUFValue: Sendable, Equatable {
    case uint(UInt64, GGUFValueType)
    case int(Int64, GGUFValueType)
    case float(Double, GGUFValueType)
    case bool(Bool)
    case string(String)
    case array(GGUFArray)

    /// The value as an integer, where it is one (of any width or signedness).
    public var integer: Int? {
        switch self {
        case .uint(let v, _): return v <= UInt64(Int.max) ? Int(v) : nil
        case .int(let v, _): return Int(v)
        default: return nil
        }
    }

    /// The value as a floating-point number (integers convert too).
    public var number: Double? {
        switch self {
        case .float(let v, _): return v
        case .uint(let v, _): return Double(v)
        case .int(let v, _): return Double(v)
        default: return nil
        }
    }

    public var string: String? { if case .string(let s) = self { return s } else { return nil } }
    public var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var stringArray: [String]? { if case .array(.strings(let a)) = self { return a } else { return nil } }
    public var floatArray: [Float]? { if case .array(.floats(let a, _)) = self { return a } else { return nil } }
    public var integerArray: [Int64]? { if case .array(.integers(let a, _)) = self { return a } else { return nil } }

    /// The GGUF type code of this value, for writing it back unchanged.
    public var valueType: GGUFValueType {
        switch self {
        case .uint(_, let t), .int(_, let t), .float(_, let t): return t
        case .bool: return .bool
        case .string: return .string
        case .array: return .array
        }
    }

    /// A short human-readable rendering (arrays are summarised).
    public var summary: String {
        switch self {
        case .uint(let v, _): return String(v)
        case .int(let v, _): return String(v)
        case .float(let v, _): return String(v)
        case .bool(let b): return String(b)
        case .string(let s): return s.count > 80 ? String(s.prefix(77)) + "..." : s
        case .array(let a): return a.summary
        }
    }
}

/// A GGUF array, typed by its element type.
public enum GGUFArray: Sendable, Equatable {
    case strings([String])
    case integers([Int64], GGUFValueType)
    case floats([Float], GGUFValueType)
    case bools([Bool])
    case arrays([GGUFArray])

    public var count: Int {
        switch self {
        case .strings(let a): return a.count
        case .integers(let a, _): return a.count
        case .floats(let a, _): return a.count
        case .bools(let a): return a.count
        case .arrays(let a): return a.count
        }
    }

    public var summary: String {
        switch self {
        case .strings(let a):
            return a.count <= 4 ? "\(a)" : "[\(a.count) strings: \(a.prefix(3).map { "\"\($0)\"" }.joined(separator: ", ")), ...]"
        case .integers(let a, _): return a.count <= 8 ? "\(a)" : "[\(a.count) integers]"
        case .floats(let a, _): return a.count <= 8 ? "\(a)" : "[\(a.count) floats]"
        case .bools(let a): return "[\(a.count) bools]"
        case .arrays(let a): return "[\(a.count) arrays]"
        }
    }
}

/// GGUF metadata value type codes.
public enum GGUFValueType: UInt32, Sendable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// Bytes of one value of this type, or nil for strings and arrays.
    var fixedSize: Int? {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64: return 8
        case .string, .array: return nil
        }
    }
}
