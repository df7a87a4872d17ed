import Tensors
import XCTest

/// Elementwise comparison within `absolute + relative·|expected|`, reporting the worst element.
/// Entries where both are the same infinity compare equal; any NaN fails.
public func assertClose(
    _ actual: [Float], _ expected: [Float], absolute: Float = 1e-4, relative: Float = 1e-4, _ what: String,
    file: StaticString = #filePath, line: UInt = #line
) {
    guard actual.count == expected.count else {
        XCTFail("\(what): \(actual.count) values, expected \(expected.count)", file: file, line: line)
        return
    }
    var worst = 0, worstExcess: Float = -1
    for i in 0..<actual.count {
        let a = actual[i], e = expected[i]
        if a == e { continue }
        if a.isNaN || e.isNaN || a.isInfinite || e.isInfinite {
            XCTFail("\(what)[\(i)]: \(a), expected \(e)", file: file, line: line)
            return
        }
        let excess = abs(a - e) - (absolute + relative * abs(e))
        if excess > worstExcess { worstExcess = excess; worst = i }
    }
    if worstExcess > 0 {
        XCTFail("\(what)[\(worst)]: \(actual[worst]), expected \(expected[worst]) (|diff| \(abs(actual[worst] - expected[worst])))", file: file, line: line)
    }
}

/// Largest absolute difference (for reporting).
public func maxAbsoluteDifference(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}
