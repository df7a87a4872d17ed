import Foundation
import XCTest
@testable import ModelFormats

/// `StoredMatrix.rowDots` (decoding's matrix–vector product, read straight from the blocks) against
/// the dequantized rows dotted in Float64, for every type Locus reads, on the same fixtures as
/// DequantizeTests and placed one byte past an aligned address (mapped tensors have no alignment).
final class RowDotsTests: XCTestCase {
    final class Bytes { let raw: UnsafeMutableRawPointer; init(_ n: Int) { raw = .allocate(byteCount: n + 1, alignment: 64) }; deinit { raw.deallocate() } }

    func testRowDotsEqualDequantizedDotsToRounding() throws {
        for type in DequantizeTests.supported {
            let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/quants/\(type.description)", withExtension: "bin"))
            let data = [UInt8](try Data(contentsOf: url))
            let count = data.count / type.typeSize! * type.blockSize
            // Rows of 288 columns where the blocks allow it (not a whole 256-value chunk: the tail path too).
            let cols = type.blockSize == 256 ? 256 : (count % 288 == 0 ? 288 : 32)
            let rows = count / cols
            XCTAssertGreaterThanOrEqual(rows, 2, "\(type)")
            let bytes = Bytes(data.count)
            (bytes.raw + 1).copyMemory(from: data, byteCount: data.count)
            let m = try StoredMatrix(type: type, rows: rows, cols: cols, base: bytes.raw + 1, owner: bytes, name: "\(type)")
            let w = m.floats()
            let x = (0..<cols).map { Float(sin(Double($0) * 0.37) + 0.25) }
            var y = [Float](repeating: .nan, count: rows)
            x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { m.rowDots(0..<rows, xp.baseAddress!, into: $0.baseAddress!) } }
            for r in 0..<rows {
                var exact = 0.0, scale = 0.0
                for c in 0..<cols {
                    exact += Double(w[r * cols + c]) * Double(x[c])
                    scale += abs(Double(w[r * cols + c]) * Double(x[c]))
                }
                // The plain types' fixtures hold infinities and NaNs: they must come through as such.
                guard exact.isFinite else { XCTAssertFalse(y[r].isFinite, "\(type) row \(r)"); continue }
                XCTAssertLessThanOrEqual(abs(Double(y[r]) - exact), 1e-5 * scale + 1e-30, "\(type) row \(r): \(y[r]) vs \(exact)")
            }
            // A range of rows writes only its own outputs, from its own rows.
            var part = [Float](repeating: .nan, count: rows - 1)
            x.withUnsafeBufferPointer { xp in part.withUnsafeMutableBufferPointer { m.rowDots(1..<rows, xp.baseAddress!, into: $0.baseAddress!) } }
            XCTAssert(zip(part, y[1...]).allSatisfy { $0.bitPattern == $1.bitPattern }, "\(type)")
        }
    }
}
