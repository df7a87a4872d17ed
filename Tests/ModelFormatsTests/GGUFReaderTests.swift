import Foundation
import XCTest

@testable import ModelFormats

/// Builds small GGUF files byte by byte for the reader's tests (independent of any writer in Locus).
struct GGUFBytes {
    var bytes = Data()
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func f32(_ v: Float) { u32(v.bitPattern) }
    mutating func string(_ s: String) { u64(UInt64(s.utf8.count)); bytes.append(contentsOf: Array(s.utf8)) }
    mutating func kvString(_ k: String, _ v: String) { string(k); u32(8); string(v) }
    mutating func kvU32(_ k: String, _ v: UInt32) { string(k); u32(4); u32(v) }
    mutating func kvF32(_ k: String, _ v: Float) { string(k); u32(6); f32(v) }
    mutating func pad(to alignment: Int) { while bytes.count % alignment != 0 { bytes.append(0) } }

    /// A file with metadata `kvs` (written by the closure) and one F32 tensor "t" of `dims` holding `values`.
    static func file(version: UInt32 = 3, kvCount: UInt64, kvs: (inout GGUFBytes) -> Void, dims: [UInt64], type: UInt32 = 0, values: [Float]) -> Data {
        var g = GGUFBytes()
        g.u32(0x4655_4747)
        g.u32(version)
        g.u64(1)
        g.u64(kvCount)
        kvs(&g)
        g.string("t")
        g.u32(UInt32(dims.count))
        for d in dims { g.u64(d) }
        g.u32(type)
        g.u64(0)
        g.pad(to: 32)
        for v in values { g.f32(v) }
        return g.bytes
    }
}

final class GGUFReaderTests: XCTestCase {
    var dir: String!
    override func setUp() {
        dir = NSTemporaryDirectory() + "locus-gguf-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func write(_ data: Data, _ name: String = "m.gguf") -> String {
        let p = dir + "/" + name
        FileManager.default.createFile(atPath: p, contents: data)
        return p
    }

    func expectError(_ data: Data, _ kind: ModelFormatError.Kind, field: String, file: StaticString = #filePath, line: UInt = #line) {
        let p = write(data)
        XCTAssertThrowsError(try GGUFFile(path: p), file: file, line: line) { e in
            guard let e = e as? ModelFormatError else { return XCTFail("\(e)", file: file, line: line) }
            XCTAssertEqual(e.kind, kind, "\(e)", file: file, line: line)
            XCTAssertTrue(e.field.contains(field), "field \(e.field) should mention \(field)", file: file, line: line)
            XCTAssertEqual(e.file, p, file: file, line: line)
        }
    }

    func good() -> Data {
        GGUFBytes.file(kvCount: 2, kvs: { g in g.kvString("general.architecture", "llama"); g.kvU32("llama.block_count", 2) }, dims: [4, 2], values: [1, 2, 3, 4, 5, 6, 7, 8])
    }

    func testReadsMetadataAndTensor() throws {
        let g = try GGUFFile(path: write(good()))
        XCTAssertEqual(g.version, 3)
        XCTAssertEqual(try g.string("general.architecture"), "llama")
        XCTAssertEqual(try g.integer("llama.block_count"), 2)
        XCTAssertEqual(g.tensors.map(\.name), ["t"])
        XCTAssertEqual(g.tensorInfo("t")?.shape, [2, 4])
        XCTAssertEqual(try g.floats("t"), [1, 2, 3, 4, 5, 6, 7, 8])
        XCTAssertThrowsError(try g.integer("general.architecture")) { XCTAssertTrue("\($0)".contains("metadata.general.architecture")) }
        XCTAssertThrowsError(try g.string("missing.key")) { XCTAssertTrue("\($0)".contains("missing.key")) }
    }

    func testVersion2IsAccepted() throws {
        let data = GGUFBytes.file(version: 2, kvCount: 0, kvs: { _ in }, dims: [2], values: [1, 2])
        XCTAssertEqual(try GGUFFile(path: write(data)).floats("t"), [1, 2])
    }

    func testBadMagicAndVersion() {
        var d = good()
        d[0] = 0x47
        d[1] = 0x47
        d[2] = 0x4D
        expectError(d, .badMagic, field: "magic")
        var v = good()
        v[4] = 9
        expectError(v, .unsupportedVersion, field: "version")
    }

    func testTruncatedAnywhereIsATypedError() {
        let d = good()
        for cut in stride(from: 0, to: d.count - 1, by: 3) {
            let p = write(d.prefix(cut), "cut.gguf")
            XCTAssertThrowsError(try GGUFFile(path: p), "cut at \(cut)") { e in
                XCTAssertTrue(e is ModelFormatError, "cut at \(cut): \(e)")
            }
        }
    }

    func testUnknownTensorType() {
        let d = GGUFBytes.file(kvCount: 0, kvs: { _ in }, dims: [4], type: 99, values: [0, 0, 0, 0])
        expectError(d, .unsupportedTensorType, field: "tensor.t.type")
    }

    func testTensorSizeDisagreesWithData() {
        // Declares 64 floats but carries 8.
        let d = GGUFBytes.file(kvCount: 0, kvs: { _ in }, dims: [8, 8], values: [1, 2, 3, 4, 5, 6, 7, 8])
        expectError(d, .truncated, field: "tensor.t.data")
    }

    func testAbsurdCountsAndDimensions() {
        var g = GGUFBytes()
        g.u32(0x4655_4747)
        g.u32(3)
        g.u64(UInt64.max)
        g.u64(0)
        expectError(g.bytes, .malformed, field: "tensor_count")
        let d = GGUFBytes.file(kvCount: 0, kvs: { _ in }, dims: [1 << 30, 1 << 30, 1 << 30], values: [])
        expectError(d, .malformed, field: "dims")
    }

    func testMissingFileNamesIt() {
        XCTAssertThrowsError(try GGUFFile(path: dir + "/absent.gguf")) { e in
            XCTAssertEqual((e as? ModelFormatError)?.kind, .fileNotFound)
            XCTAssertTrue("\(e)".contains("absent.gguf"))
        }
    }

    /// Mutates header bytes of a small model file at random, for a bounded number of rounds:
    /// every outcome must be a value or a typed error, never a crash.
    func testFuzzMutatedHeaders() throws {
        var base = GGUFBytes()
        base.u32(0x4655_4747)
        base.u32(3)
        base.u64(2)
        base.u64(3)
        base.kvString("general.architecture", "llama")
        base.kvU32("llama.block_count", 1)
        base.kvF32("llama.rope.freq_base", 10000)
        for (name, dims) in [("a", [32, 2]), ("b", [4])] {
            base.string(name)
            base.u32(UInt32(dims.count))
            for d in dims { base.u64(UInt64(d)) }
            base.u32(0)
            base.u64(name == "a" ? 0 : 256)
        }
        base.pad(to: 32)
        base.bytes.append(Data(count: 256 + 16))
        let headerEnd = base.bytes.count - 272
        var rng = SystemRandomNumberGenerator()
        let deadline = Date().addingTimeInterval(5)
        var rounds = 0, parsed = 0
        while rounds < 3000 && Date() < deadline {
            var d = base.bytes
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let i = Int.random(in: 0..<headerEnd, using: &rng)
                d[i] = [0, 0xFF, 0x7F, 0x80, UInt8.random(in: 0...255, using: &rng)].randomElement(using: &rng)!
            }
            let p = write(d, "fuzz.gguf")
            do {
                let g = try GGUFFile(path: p)
                for t in g.tensors { _ = try? g.floats(t) }
                parsed += 1
            } catch {
                XCTAssertTrue(error is ModelFormatError, "untyped error \(error)")
            }
            rounds += 1
        }
        XCTAssertGreaterThan(rounds, 100)
        XCTAssertGreaterThan(parsed, 0, "some mutations (e.g. in string bytes) still parse")
    }
}
