/// A matrix kept as its file stores it: `rows` rows of `cols` values in one GGML type (F32, F16, BF16,
/// Q8_0, Q4_K, …), read in place from the memory-mapped file. Nothing is converted until a product
/// or a row lookup asks for it (block by block, in `Models`' kernels), so a 7–8B model's weights cost
/// their file size, not four bytes per parameter.
///
/// A GGUF linear map `[outputs, inputs]` and a safetensors `nn.Linear` weight are both such rows (one
/// per output), so fused projections split into views of consecutive rows without a copy.
public struct StoredMatrix: @unchecked Sendable {
    public let type: GGMLType
    public let rows: Int
    public let cols: Int
    /// The first byte of row 0.
    public let base: UnsafeRawPointer
    public let rowBytes: Int
    /// Keeps the mapping alive.
    let owner: AnyObject
    /// A name for messages (the tensor's).
    public let name: String

    init(type: GGMLType, rows: Int, cols: Int, base: UnsafeRawPointer, owner: AnyObject, name: String) throws(ModelFormatError) {
        guard type.canDequantize, let bytes = type.byteCount(elements: cols) else {
            throw ModelFormatError(
                .unsupportedTensorType, file: name, field: "type",
                expected: "a type Locus can convert with rows of whole blocks (\(cols) columns)", found: "\(type)")
        }
        self.type = type
        self.rows = rows
        self.cols = cols
        self.base = base
        self.rowBytes = bytes
        self.owner = owner
        self.name = name
    }

    /// Rows `range` as their own matrix (no copy).
    public func rows(_ range: Range<Int>) -> StoredMatrix {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "StoredMatrix.rows: \(range) of \(rows)")
        return try! StoredMatrix(type: type, rows: range.count, cols: cols, base: base + range.lowerBound * rowBytes, owner: owner, name: name)
    }

    /// Converts rows `range` to Float32, row-major, into `out` (`range.count × cols` floats).
    public func dequantizeRows(_ range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        let raw = UnsafeRawBufferPointer(start: base + range.lowerBound * rowBytes, count: range.count * rowBytes)
        try! dequantize(type, from: raw, count: range.count * cols, into: out)
    }

    /// Every row in Float32 (`rows × cols`).
    public func floats() -> [Float] {
        [Float](unsafeUninitializedCapacity: rows * cols) { b, n in
            if rows > 0 { dequantizeRows(0..<rows, into: b.baseAddress!) }
            n = rows * cols
        }
    }

    /// Bytes the matrix occupies in the file.
    public var byteCount: Int { rows * rowBytes }
}

extension GGUFFile {
    /// A 2-D tensor (ggml `ne = [cols, rows]`) as a stored matrix, read in place.
    public func storedMatrix(_ info: GGUFTensorInfo) throws(ModelFormatError) -> StoredMatrix {
        let shape = info.shape
        guard shape.count == 2 else {
            throw ModelFormatError(.shapeMismatch, file: path, field: "tensor.\(info.name).shape", expected: "2 dimensions", found: "\(shape)")
        }
        do {
            return try StoredMatrix(
                type: info.type, rows: shape[0], cols: shape[1], base: rawBytes(of: info).baseAddress!, owner: self, name: info.name)
        } catch {
            throw ModelFormatError(.unsupportedTensorType, file: path, field: "tensor.\(info.name).type", expected: error.expected, found: error.found)
        }
    }
}

extension SafetensorsFile {
    /// A 2-D F32, F16 or BF16 tensor as a stored matrix, read in place.
    public func storedMatrix(_ name: String) throws(ModelFormatError) -> StoredMatrix {
        guard let e = entries[name] else {
            throw ModelFormatError(.missingField, file: path, field: name, expected: "a tensor of that name", found: "none")
        }
        let types: [String: GGMLType] = ["F32": .f32, "F16": .f16, "BF16": .bf16]
        guard let type = types[e.dtype] else {
            throw ModelFormatError(.unsupportedTensorType, file: path, field: "\(name).dtype", expected: "F32, F16 or BF16", found: e.dtype)
        }
        guard e.shape.count == 2 else {
            throw ModelFormatError(.shapeMismatch, file: path, field: "\(name).shape", expected: "2 dimensions", found: "\(e.shape)")
        }
        return try StoredMatrix(type: type, rows: e.shape[0], cols: e.shape[1], base: mappedBytes.baseAddress! + e.range.lowerBound, owner: self, name: name)
    }
}
