import Foundation
import XCTest
import ModelFormats

/// Checks `dequantize(_:from:count:into:)` and the F16 / Q8_0 encoders against fixtures made by
/// Tests/Reference/make_quant_fixtures.py with the Python `gguf` package (and numpy).
///
/// Dequantized values are compared bit for bit: each Swift function performs the same Float32
/// operations in the same order as ggml's reference code and gguf's numpy code (f16 -> f32 is
/// exact, then one multiply and at most one add or subtract), so no tolerance is needed.
final class DequantizeTests: XCTestCase {
    /// The types Locus claims to dequantize; each has a fixture pair `<TYPE>.bin` / `<TYPE>.f32`.
    static let supported: [GGMLType] = [
        .f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K,
    ]

    // MARK: - Fixtures

    private func fixture(_ name: String, _ ext: String) throws -> [UInt8] {
        let url = try XCTUnwrap(
            Bundle.module.url(forResource: "Fixtures/quants/\(name)", withExtension: ext),
            "missing fixture Fixtures/quants/\(name).\(ext); run Tests/Reference/make_quant_fixtures.py")
        return [UInt8](try Data(contentsOf: url))
    }

    private func littleEndianFloats(_ bytes: [UInt8]) -> [Float] {
        precondition(bytes.count % 4 == 0)
        return bytes.withUnsafeBytes { raw in
            (0..<bytes.count / 4).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
    }

    /// Dequantizes `raw` placed `misalignment` bytes past an aligned address (GGUF blocks are
    /// memory-mapped at arbitrary offsets).
    private func dequantized(_ type: GGMLType, _ raw: [UInt8], count: Int, misalignment: Int) throws -> [Float] {
        let padded = [UInt8](repeating: 0xA5, count: misalignment) + raw
        var out = [Float](repeating: .nan, count: count)
        try padded.withUnsafeBytes { buffer in
            let slice = UnsafeRawBufferPointer(rebasing: buffer[misalignment...])
            try out.withUnsafeMutableBufferPointer { try dequantize(type, from: slice, count: count, into: $0.baseAddress!) }
        }
        return out
    }

    /// Dequantizes the fixture for `type` and requires every value to match gguf's bit for bit.
    private func checkAgainstReference(_ type: GGMLType, file: StaticString = #filePath, line: UInt = #line) throws {
        let raw = try fixture(type.description, "bin")
        let expected = littleEndianFloats(try fixture(type.description, "f32"))
        XCTAssertGreaterThanOrEqual(expected.count, 4 * type.blockSize, "fixture too small", file: file, line: line)
        XCTAssertEqual(type.byteCount(elements: expected.count), raw.count, "fixture sizes disagree with typeSize", file: file, line: line)
        for misalignment in [0, 1, 3] {
            let got = try dequantized(type, raw, count: expected.count, misalignment: misalignment)
            let mismatches = (0..<expected.count).filter { got[$0].bitPattern != expected[$0].bitPattern }
            if let first = mismatches.first {
                XCTFail(
                    "\(type) (misalignment \(misalignment)): \(mismatches.count) of \(expected.count) values differ; "
                        + "first at \(first) (block \(first / type.blockSize)): got \(got[first]), gguf \(expected[first])",
                    file: file, line: line)
            }
        }
    }

    // MARK: - Every supported type against gguf

    func testSupportedSetIsExactlyCanDequantize() {
        XCTAssertEqual(Set(GGMLType.allCases.filter(\.canDequantize)), Set(Self.supported))
    }

    func testF32() throws { try checkAgainstReference(.f32) }
    func testF16() throws { try checkAgainstReference(.f16) }
    func testBF16() throws { try checkAgainstReference(.bf16) }
    func testQ4_0() throws { try checkAgainstReference(.q4_0) }
    func testQ4_1() throws { try checkAgainstReference(.q4_1) }
    func testQ5_0() throws { try checkAgainstReference(.q5_0) }
    func testQ5_1() throws { try checkAgainstReference(.q5_1) }
    func testQ8_0() throws { try checkAgainstReference(.q8_0) }
    func testQ2_K() throws { try checkAgainstReference(.q2_K) }
    func testQ3_K() throws { try checkAgainstReference(.q3_K) }
    func testQ4_K() throws { try checkAgainstReference(.q4_K) }
    func testQ5_K() throws { try checkAgainstReference(.q5_K) }
    func testQ6_K() throws { try checkAgainstReference(.q6_K) }
    /// gguf has no Q8_K dequantizer; this reference is the script's numpy port of ggml's.
    func testQ8_K() throws { try checkAgainstReference(.q8_K) }

    // MARK: - Errors

    private func dequantizeError(_ type: GGMLType, bytes: Int, count: Int) -> DequantizeError? {
        let raw = [UInt8](repeating: 0, count: bytes)
        var out = [Float](repeating: 0, count: max(count, 1))
        do {
            try raw.withUnsafeBytes { buffer in
                try out.withUnsafeMutableBufferPointer { try dequantize(type, from: buffer, count: count, into: $0.baseAddress!) }
            }
            return nil
        } catch let error as DequantizeError {
            return error
        } catch {
            XCTFail("unexpected error \(error)")
            return nil
        }
    }

    func testUnsupportedTypesThrow() {
        let unsupported = GGMLType.allCases.filter { !$0.canDequantize }
        XCTAssertTrue(unsupported.contains(.q8_1))
        for type in unsupported {
            let count = type.blockSize * 2
            let bytes = type.byteCount(elements: count) ?? 64
            XCTAssertEqual(dequantizeError(type, bytes: bytes, count: count), .unsupportedType(type), "\(type)")
        }
    }

    func testWrongByteCountThrows() {
        XCTAssertEqual(dequantizeError(.q4_K, bytes: 143, count: 256), .byteCountMismatch(type: .q4_K, expected: 144, found: 143))
        XCTAssertEqual(dequantizeError(.q4_K, bytes: 145, count: 256), .byteCountMismatch(type: .q4_K, expected: 144, found: 145))
        XCTAssertEqual(dequantizeError(.q8_0, bytes: 34, count: 64), .byteCountMismatch(type: .q8_0, expected: 68, found: 34))
        XCTAssertEqual(dequantizeError(.f16, bytes: 8, count: 3), .byteCountMismatch(type: .f16, expected: 6, found: 8))
        XCTAssertEqual(dequantizeError(.f32, bytes: 0, count: 1), .byteCountMismatch(type: .f32, expected: 4, found: 0))
    }

    func testCountNotMultipleOfBlockThrows() {
        XCTAssertEqual(dequantizeError(.q4_0, bytes: 18, count: 31), .countNotMultipleOfBlock(type: .q4_0, count: 31))
        XCTAssertEqual(dequantizeError(.q6_K, bytes: 210, count: 32), .countNotMultipleOfBlock(type: .q6_K, count: 32))
        XCTAssertEqual(dequantizeError(.q8_0, bytes: 0, count: -32), .countNotMultipleOfBlock(type: .q8_0, count: -32))
    }

    func testZeroElementsIsFine() {
        XCTAssertNil(dequantizeError(.q4_K, bytes: 0, count: 0))
        XCTAssertNil(dequantizeError(.f32, bytes: 0, count: 0))
    }

    func testErrorDescriptionsNameTheType() {
        XCTAssertTrue(DequantizeError.unsupportedType(.q8_1).description.contains("Q8_1"))
        XCTAssertTrue(DequantizeError.countNotMultipleOfBlock(type: .q4_K, count: 100).description.contains("256"))
        XCTAssertTrue(DequantizeError.byteCountMismatch(type: .q5_0, expected: 22, found: 21).description.contains("22"))
    }

    // MARK: - Encoders

    /// quantizeQ8_0 must give gguf's (= ggml's reference) bytes, including round-half-away ties
    /// and f16 underflow / overflow of d.
    func testQuantizeQ8_0MatchesGGUF() throws {
        let input = littleEndianFloats(try fixture("Q8_0_quantize_input", "f32"))
        let expected = try fixture("Q8_0_quantize_expected", "bin")
        let got = input.withUnsafeBufferPointer { quantizeQ8_0($0) }
        XCTAssertEqual(got.count, expected.count)
        let differing = (0..<min(got.count, expected.count)).filter { got[$0] != expected[$0] }
        XCTAssertEqual(differing, [], "bytes differ (block = index / 34)")
        XCTAssertEqual([Float]().withUnsafeBufferPointer { quantizeQ8_0($0) }, [])
    }

    /// Quantizing ordinary data and dequantizing it again lands within about half a step.
    func testQ8_0RoundTrip() throws {
        let input = Array(littleEndianFloats(try fixture("Q8_0_quantize_input", "f32")).prefix(96))  // 3 normal blocks
        let bytes = input.withUnsafeBufferPointer { quantizeQ8_0($0) }
        let back = try dequantized(.q8_0, bytes, count: input.count, misalignment: 0)
        for b in 0..<3 {
            let amax = input[(32 * b)..<(32 * b + 32)].map(abs).max()!
            for j in (32 * b)..<(32 * b + 32) {
                XCTAssertLessThanOrEqual(abs(back[j] - input[j]), 0.6 * amax / 127, "element \(j)")
            }
        }
    }

    func testEncodeF16MatchesNumpy() throws {
        let input = littleEndianFloats(try fixture("F16_encode_input", "f32"))
        let expected = try fixture("F16_encode_expected", "bin")
        let got = input.withUnsafeBufferPointer { encodeF16($0) }
        XCTAssertEqual(got.count, 2 * input.count)
        let pairs = min(got.count, expected.count) / 2
        let differing: [Int] = (0..<pairs).filter { (i: Int) -> Bool in
            got[2 * i] != expected[2 * i] || got[2 * i + 1] != expected[2 * i + 1]
        }
        XCTAssertEqual(differing, [], "indices of values whose f16 encoding differs from numpy")
    }

    func testFloat32ToFloat16Bits() {
        XCTAssertEqual(float32ToFloat16Bits(1.0), 0x3C00)
        XCTAssertEqual(float32ToFloat16Bits(-2.0), 0xC000)
        XCTAssertEqual(float32ToFloat16Bits(-0.0), 0x8000)
        XCTAssertEqual(float32ToFloat16Bits(1.0 + 0x1p-11), 0x3C00)  // tie: to even
        XCTAssertEqual(float32ToFloat16Bits(1.0 + 3 * 0x1p-11), 0x3C02)  // tie: to even
        XCTAssertEqual(float32ToFloat16Bits(65520), 0x7C00)  // overflow: infinity
        XCTAssertEqual(float32ToFloat16Bits(0x1p-24), 0x0001)  // smallest subnormal
    }
}
