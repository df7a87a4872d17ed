/// A row-major Float32 array with a shape: the value type Locus passes between modules.
///
/// Storage is a Swift array, so copies are cheap until one side writes (copy-on-write).
public struct Tensor: Sendable, Equatable, CustomStringConvertible {
    public private(set) var shape: [Int]
    public var data: [Float]

    /// A tensor over `data`; `data.count` must equal the product of `shape`.
    public init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count, "Tensor: shape \(shape) does not hold \(data.count) values")
        self.shape = shape
        self.data = data
    }

    public init(zeros shape: [Int]) {
        self.shape = shape
        self.data = [Float](repeating: 0, count: shape.reduce(1, *))
    }

    public var count: Int { data.count }
    public var rank: Int { shape.count }

    /// The same values under another shape with the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, data: data)
    }

    /// Row-major strides.
    public var strides: [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            s[i] = acc
            acc *= shape[i]
        }
        return s
    }

    public subscript(_ indices: Int...) -> Float {
        get { data[offset(indices)] }
        set { data[offset(indices)] = newValue }
    }

    private func offset(_ indices: [Int]) -> Int {
        precondition(indices.count == shape.count, "Tensor: \(indices.count) indices for rank \(shape.count)")
        var o = 0
        for (i, idx) in indices.enumerated() {
            precondition(idx >= 0 && idx < shape[i], "Tensor: index \(idx) out of range for axis \(i) of size \(shape[i])")
            o = o * shape[i] + idx
        }
        return o
    }

    /// The sub-tensor at `index` along the first axis (a copy).
    public func slice(_ index: Int) -> Tensor {
        precondition(rank >= 1 && index >= 0 && index < shape[0])
        let inner = Array(shape.dropFirst())
        let n = inner.reduce(1, *)
        return Tensor(shape: inner, data: Array(data[(index * n)..<((index + 1) * n)]))
    }

    /// The transpose of a matrix.
    public func transposed() -> Tensor {
        precondition(rank == 2, "transposed() needs a matrix")
        let (r, c) = (shape[0], shape[1])
        var out = [Float](repeating: 0, count: count)
        data.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<r { for j in 0..<c { dst[j * r + i] = src[i * c + j] } }
            }
        }
        return Tensor(shape: [c, r], data: out)
    }

    /// True when every value is finite.
    public var isFinite: Bool { data.allSatisfy { $0.isFinite } }

    public var description: String {
        let head = data.prefix(6).map { String(format: "%.4g", $0) }.joined(separator: ", ")
        return "Tensor(\(shape), [\(head)\(count > 6 ? ", ..." : "")])"
    }
}

import Foundation
