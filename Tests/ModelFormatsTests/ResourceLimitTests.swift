import Foundation
import XCTest

@testable import ModelFormats

/// Files that declare absurd sizes are refused quickly, with the file, the field and what was
/// expected, before anything of that size is allocated or read.
final class ResourceLimitTests: XCTestCase {
    /// Parses `data` (in memory, under the name `name`) with `open`, which must throw `kind` naming
    /// `field` within a second.
    func expectRefusal(
        _ data: Data, name: String, _ kind: ModelFormatError.Kind, field: String, expected: String,
        open: (UnsafeRawBufferPointer, String) throws -> Void, file: StaticString = #filePath, line: UInt = #line
    ) {
        let start = Date()
        XCTAssertThrowsError(try data.withUnsafeBytes { try open($0, name) }, file: file, line: line) { e in
            guard let e = e as? ModelFormatError else { return XCTFail("untyped \(e)", file: file, line: line) }
            XCTAssertEqual(e.kind, kind, "\(e)", file: file, line: line)
            XCTAssertEqual(e.field, field, "\(e)", file: file, line: line)
            XCTAssertEqual(e.file, name, file: file, line: line)
            XCTAssertTrue(e.expected.contains(expected), "expected '\(e.expected)' to say \(expected)", file: file, line: line)
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 1, "refused slowly", file: file, line: line)
    }

    func gguf(_ data: Data, _ kind: ModelFormatError.Kind, field: String, expected: String, file: StaticString = #filePath, line: UInt = #line) {
        expectRefusal(data, name: "m.gguf", kind, field: field, expected: expected, open: { _ = try GGUFFile(bytes: $0, name: $1) }, file: file, line: line)
    }

    func header(tensors: UInt64, kvs: UInt64) -> GGUFBytes {
        var g = GGUFBytes()
        g.u32(0x4655_4747)
        g.u32(3)
        g.u64(tensors)
        g.u64(kvs)
        return g
    }

    func testInMemoryGGUFReadsAsTheFileDoes() throws {
        let d = GGUFBytes.file(kvCount: 1, kvs: { $0.kvString("general.architecture", "llama") }, dims: [2, 2], values: [1, 2, 3, 4])
        let g = try d.withUnsafeBytes { try GGUFFile(bytes: $0, name: "memory.gguf") }
        XCTAssertEqual(g.path, "memory.gguf")
        XCTAssertEqual(try g.string("general.architecture"), "llama")
        XCTAssertEqual(try g.floats("t"), [1, 2, 3, 4])
    }

    func testGGUFWith2To60TensorsOrMetadataEntries() {
        var t = header(tensors: 1 << 60, kvs: 0)
        t.bytes.append(Data(count: 64))
        gguf(t.bytes, .malformed, field: "header.tensor_count", expected: "remaining bytes")
        var k = header(tensors: 0, kvs: 1 << 60)
        k.bytes.append(Data(count: 64))
        gguf(k.bytes, .malformed, field: "header.metadata_kv_count", expected: "remaining bytes")
    }

    func testGGUFStringOf10GBInASmallFile() {
        var key = header(tensors: 0, kvs: 1)
        key.u64(10_000_000_000)
        key.bytes.append(Data(count: 32))
        gguf(key.bytes, .truncated, field: "metadata[0].key", expected: "10000000000 more bytes")
        var value = header(tensors: 0, kvs: 1)
        value.string("general.name")
        value.u32(8)
        value.u64(10_000_000_000)
        value.bytes.append(Data(count: 32))
        gguf(value.bytes, .truncated, field: "metadata.general.name", expected: "10000000000 more bytes")
        var name = header(tensors: 1, kvs: 0)
        name.u64(10_000_000_000)
        name.bytes.append(Data(count: 32))
        gguf(name.bytes, .truncated, field: "tensor[0].name", expected: "10000000000 more bytes")
    }

    func testGGUFArrayOf10GBInASmallFile() {
        for type: UInt32 in [0, 8, 9] {  // uint8, string, array elements
            var g = header(tensors: 0, kvs: 1)
            g.string("tokenizer.ggml.tokens")
            g.u32(9)
            g.u32(type)
            g.u64(10_000_000_000)
            g.bytes.append(Data(count: 64))
            gguf(g.bytes, .malformed, field: "metadata.tokenizer.ggml.tokens.count", expected: "remaining bytes")
        }
    }

    func testGGUFTensorRunningPastTheEnd() {
        /// One F32 tensor "t" of `dims` at `offset`, with 16 data bytes.
        func file(offset: UInt64, dims: [UInt64]) -> Data {
            var g = header(tensors: 1, kvs: 0)
            g.string("t")
            g.u32(UInt32(dims.count))
            for d in dims { g.u64(d) }
            g.u32(0)
            g.u64(offset)
            g.pad(to: 32)
            g.bytes.append(Data(count: 16))
            return g.bytes
        }
        // An offset within the header's limits but past the end of a small file, and a size (2 TB) that is.
        gguf(file(offset: 1 << 40, dims: [4]), .truncated, field: "tensor.t.data", expected: "16 bytes at offset")
        gguf(file(offset: 0, dims: [1 << 20, 1 << 19]), .truncated, field: "tensor.t.data", expected: "2199023255552 bytes at offset")
        gguf(file(offset: 1 << 60, dims: [4]), .malformed, field: "tensor.t.offset", expected: "a multiple of 32")
    }

    // MARK: safetensors

    func safetensors(header json: String, dataBytes: Int = 16, length: UInt64? = nil) -> Data {
        var d = Data()
        let h = Data(json.utf8)
        withUnsafeBytes(of: (length ?? UInt64(h.count)).littleEndian) { d.append(contentsOf: $0) }
        d.append(h)
        d.append(Data(count: dataBytes))
        return d
    }

    func st(_ data: Data, _ kind: ModelFormatError.Kind, field: String, expected: String, file: StaticString = #filePath, line: UInt = #line) {
        expectRefusal(data, name: "m.safetensors", kind, field: field, expected: expected, open: { _ = try SafetensorsFile(bytes: $0, name: $1) }, file: file, line: line)
    }

    func testSafetensorsReadsAGoodFile() throws {
        let d = safetensors(header: #"{"t":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#)
        XCTAssertEqual(try d.withUnsafeBytes { try SafetensorsFile(bytes: $0, name: "ok.safetensors") }.tensor("t").shape, [2, 2])
    }

    func testSafetensorsHeaderLongerThanTheFile() {
        st(safetensors(header: "{}", length: 10_000_000_000), .truncated, field: "header.length", expected: "at most 18 bytes")
        st(safetensors(header: "{}", length: UInt64.max), .truncated, field: "header.length", expected: "at most 18 bytes")
    }

    func testSafetensorsOffsetsNearIntMax() {
        // 8 + header + Int.max overflowed before the bound was taken from the remaining bytes.
        st(safetensors(header: #"{"t":{"dtype":"U8","shape":[4],"data_offsets":[0,9223372036854775807]}}"#),
           .truncated, field: "header.t.data_offsets", expected: "a range inside the 16 data bytes")
        st(safetensors(header: #"{"t":{"dtype":"U8","shape":[4],"data_offsets":[4,17]}}"#),
           .truncated, field: "header.t.data_offsets", expected: "a range inside the 16 data bytes")
    }

    func testSafetensorsShapeThatOverflowsOrIsNegative() {
        // The element count of [2^40, 2^40] overflowed Int; [-1, -4] multiplied to a plausible 4.
        st(safetensors(header: #"{"t":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,16]}}"#),
           .shapeMismatch, field: "header.t.shape", expected: "at most 2^48 elements")
        st(safetensors(header: #"{"t":{"dtype":"F32","shape":[-1,-4],"data_offsets":[0,16]}}"#),
           .shapeMismatch, field: "header.t.shape", expected: "non-negative sizes")
        st(safetensors(header: #"{"t":{"dtype":"X9","shape":[4611686018427387904,4],"data_offsets":[0,16]}}"#),
           .shapeMismatch, field: "header.t.shape", expected: "at most 2^48 elements")
    }
}
