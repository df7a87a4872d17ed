import Foundation

/// The members of one JSON object in document order, keys exactly as written.
///
/// `JSONValue.object` is a Swift dictionary, and Swift compares `String` keys by canonical
/// equivalence, so "là" written precomposed and written with a combining accent are one key there.
/// A tokenizer.json vocabulary has such pairs as distinct tokens (Gemma's has 434), so it is read
/// with this scanner instead.
public enum JSONMembers {
    /// The (key, integer) members of the object reached from the root object by `path`
    /// (["model", "vocab"]), or nil if there is none or a value there is not an integer.
    public static func integers(at path: [String], in data: Data) -> [(key: String, value: Int)]? {
        var s = Scanner(bytes: [UInt8](data))
        for key in path {
            guard s.enterMember(named: key) else { return nil }
        }
        return s.integerMembers()
    }

    private struct Scanner {
        let bytes: [UInt8]
        var i = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func skipSpace() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
        }

        mutating func eat(_ b: UInt8) -> Bool {
            skipSpace()
            guard i < bytes.count, bytes[i] == b else { return false }
            i += 1
            return true
        }

        /// At an object: moves to the value of its member `name`.
        mutating func enterMember(named name: String) -> Bool {
            guard eat(0x7B) else { return false }
            if eat(0x7D) { return false }
            repeat {
                guard let key = string(), eat(0x3A) else { return false }
                if key.utf8.elementsEqual(name.utf8) { return true }
                guard skipValue() else { return false }
            } while eat(0x2C)
            return false
        }

        mutating func integerMembers() -> [(key: String, value: Int)]? {
            guard eat(0x7B) else { return nil }
            var out: [(key: String, value: Int)] = []
            if eat(0x7D) { return out }
            repeat {
                guard let key = string(), eat(0x3A), let v = integer() else { return nil }
                out.append((key, v))
            } while eat(0x2C)
            return eat(0x7D) ? out : nil
        }

        mutating func integer() -> Int? {
            skipSpace()
            let start = i
            if i < bytes.count, bytes[i] == 0x2D { i += 1 }
            while i < bytes.count, (0x30...0x39).contains(bytes[i]) { i += 1 }
            return Int(String(decoding: bytes[start..<i], as: UTF8.self))
        }

        /// A string, unescaped.
        mutating func string() -> String? {
            guard eat(0x22) else { return nil }
            var out: [UInt8] = []
            while i < bytes.count {
                let b = bytes[i]
                i += 1
                if b == 0x22 { return String(decoding: out, as: UTF8.self) }
                guard b == 0x5C else { out.append(b); continue }
                guard i < bytes.count else { return nil }
                let e = bytes[i]
                i += 1
                switch e {
                case 0x22, 0x5C, 0x2F: out.append(e)
                case 0x62: out.append(0x08)
                case 0x66: out.append(0x0C)
                case 0x6E: out.append(0x0A)
                case 0x72: out.append(0x0D)
                case 0x74: out.append(0x09)
                case 0x75:
                    guard var u = hex4() else { return nil }
                    if (0xD800..<0xDC00).contains(u), i + 1 < bytes.count, bytes[i] == 0x5C, bytes[i + 1] == 0x75 {
                        i += 2
                        guard let low = hex4(), (0xDC00..<0xE000).contains(low) else { return nil }
                        u = 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00)
                    }
                    out.append(contentsOf: String(Unicode.Scalar(u) ?? "\u{FFFD}").utf8)
                default: return nil
                }
            }
            return nil
        }

        mutating func hex4() -> UInt32? {
            guard i + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[i..<(i + 4)], as: UTF8.self), radix: 16) else { return nil }
            i += 4
            return v
        }

        /// Skips one value of any kind.
        mutating func skipValue() -> Bool {
            skipSpace()
            guard i < bytes.count else { return false }
            switch bytes[i] {
            case 0x22: return string() != nil
            case 0x7B, 0x5B:
                var depth = 0
                while i < bytes.count {
                    switch bytes[i] {
                    case 0x22:
                        guard string() != nil else { return false }
                        continue
                    case 0x7B, 0x5B: depth += 1
                    case 0x7D, 0x5D:
                        depth -= 1
                        if depth == 0 { i += 1; return true }
                    default: break
                    }
                    i += 1
                }
                return false
            default:
                while i < bytes.count, ![0x2C, 0x7D, 0x5D].contains(bytes[i]) { i += 1 }
                return true
            }
        }
    }
}
