import Foundation
import XCTest

@testable import Models

/// The sixteen-lane kernels against Float64 references: exp over its whole range and its edges, the
/// activations and their derivatives, softmax rows, and the norms' sums, at widths that leave tails.
final class VectorMathTests: XCTestCase {
    func testExpWithinFourULPOfFloat64OverItsRange() {
        var xs: [Float] = stride(from: -87.3, through: 88.3, by: 0.0137).map { Float($0) }
        xs += [0, -0, 1e-8, -1e-8, 0.5, -0.5, 88.37, -87.33]
        var ys = [Float](repeating: 0, count: xs.count)
        VectorMath.exp(xs, into: &ys, count: xs.count)
        var worst = 0.0
        for (x, y) in zip(xs, ys) {
            let ref = Foundation.exp(Double(x))
            let ulp = Double(Float(ref).ulp)
            worst = max(worst, abs(Double(y) - ref) / ulp)
        }
        XCTAssertLessThan(worst, 4, "exp: worst error \(worst) ulp")
    }

    func testExpEdges() {
        let xs: [Float] = [-200, -87.5, 89, 1000, .infinity, -.infinity, .nan]
        var ys = [Float](repeating: 7, count: xs.count)
        VectorMath.exp(xs, into: &ys, count: xs.count)
        XCTAssertEqual(Array(ys[0..<2]), [0, 0])
        XCTAssertEqual(Array(ys[2..<5]), [.infinity, .infinity, .infinity])
        XCTAssertEqual(ys[5], 0)
        XCTAssertTrue(ys[6].isNaN)
    }

    func testActivationsAndDerivativesMatchFloat64() {
        let n = 1000 + 7  // a tail of 15
        let xs = (0..<n).map { Float(-12 + 24 * Double($0) / Double(n - 1)) }
        func silu(_ x: Double) -> Double { x / (1 + exp(-x)) }
        func gelu(_ x: Double) -> Double { 0.5 * x * (1 + tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x))) }
        for (kind, f) in [(Activation.silu, silu as (Double) -> Double), (.geluTanh, gelu)] {
            var y = [Float](repeating: 0, count: n), dy = [Float](repeating: 0, count: n)
            Activations.apply(kind, xs, into: &y, count: n)
            Activations.derivative(kind, xs, into: &dy, count: n)
            for i in 0..<n {
                let x = Double(xs[i]), h = 1e-6
                XCTAssertEqual(Double(y[i]), f(x), accuracy: 1e-6 * max(1, abs(f(x))), "\(kind) at \(x)")
                let d = (f(x + h) - f(x - h)) / (2 * h)
                XCTAssertEqual(Double(dy[i]), d, accuracy: 1e-5, "\(kind)′ at \(x)")
            }
        }
    }

    func testSoftmaxRowsSumToOneAndMatchFloat64() {
        for cols in [1, 5, 16, 37, 300] {
            var rng = SystemRandomNumberGenerator()
            var x = (0..<(3 * cols)).map { _ in Float.random(in: -30...30, using: &rng) }
            if cols > 1 { x[cols - 1] = -.infinity }  // a masked entry
            let ref = x
            Softmax.rows(&x, rows: 3, cols: cols)
            for r in 0..<3 {
                let row = ref[(r * cols)..<((r + 1) * cols)].map(Double.init)
                let m = row.max()!
                let z = row.map { exp($0 - m) }.reduce(0, +)
                for j in 0..<cols {
                    XCTAssertEqual(Double(x[r * cols + j]), exp(row[j] - m) / z, accuracy: 1e-6, "cols \(cols) row \(r) entry \(j)")
                }
            }
        }
        var masked: [Float] = [-.infinity, -.infinity, -.infinity]
        Softmax.rows(&masked, rows: 1, cols: 3)
        XCTAssertEqual(masked, [0, 0, 0])
    }

    func testSumsMatchFloat64() {
        for n in [0, 3, 16, 17, 576, 1000] {
            let a = (0..<n).map { Float(sin(Double($0) * 0.7)) }, b = (0..<n).map { Float(cos(Double($0) * 0.3)) }
            let ss = a.reduce(0.0) { $0 + Double($1) * Double($1) }
            let s = a.reduce(0.0) { $0 + Double($1) }
            let d = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            XCTAssertEqual(Double(VectorMath.sumOfSquares(a, n)), ss, accuracy: 1e-5 * max(1, ss))
            XCTAssertEqual(Double(VectorMath.sum(a, n)), s, accuracy: 1e-5 * max(1, abs(s)))
            XCTAssertEqual(Double(VectorMath.dot(a, b, n)), d, accuracy: 1e-5 * max(1, abs(d)))
            if n > 0 { XCTAssertEqual(VectorMath.max(a, n), a.max()!) }
        }
    }
}
