import CHDF5
import Foundation

/// An attribute value stored on a dataset or group, typed as h5py reads it back: strings are
/// variable-length UTF-8 (h5py returns `str`), numbers are scalars, lists are 1-D arrays.
public enum AttributeValue: Sendable, Equatable, CustomStringConvertible {
    case string(String)
    case double(Double)
    case int(Int64)
    /// An Int64 array of the given shape, row-major (h5py: a `numpy.ndarray` of `int64` with that shape).
    case integers([Int64], shape: [Int])
    /// A 1-D array of variable-length UTF-8 strings (h5py: an object array of `str`).
    case strings([String])

    public var description: String {
        switch self {
        case .string(let s): return s
        case .double(let d): return String(d)
        case .int(let i): return String(i)
        case .integers(let v, _): return "\(v)"
        case .strings(let v): return "\(v)"
        }
    }
}

extension H5File {
    /// Sets attributes on the object at `name` (a group or dataset), replacing any of the same names.
    public func setAttributes(_ attributes: [String: AttributeValue], on name: String = "/") throws(StoreError) {
        guard !attributes.isEmpty else { return }
        let obj = H5Oopen(id, name, locus_H5P_DEFAULT())
        guard obj >= 0 else { throw StoreError(file: path, object: name, message: "no such object for attributes") }
        defer { H5Oclose(obj) }
        for (key, value) in attributes.sorted(by: { $0.key < $1.key }) {
            if H5Aexists(obj, key) > 0 { H5Adelete(obj, key) }
            guard write(value, key, on: obj) else {
                throw StoreError(file: path, object: name, message: "cannot set attribute \(key)")
            }
        }
    }

    private func write(_ value: AttributeValue, _ key: String, on obj: hid_t) -> Bool {
        func create(_ type: hid_t, shape: [Int]?, _ data: UnsafeRawPointer) -> Bool {
            var dims = (shape ?? []).map { hsize_t($0) }
            let space = shape == nil ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(dims.count), &dims, nil)
            defer { H5Sclose(space) }
            let attr = H5Acreate2(obj, key, type, space, locus_H5P_DEFAULT(), locus_H5P_DEFAULT())
            guard attr >= 0 else { return false }
            defer { H5Aclose(attr) }
            return H5Awrite(attr, type, data) >= 0
        }
        switch value {
        case .double(var d): return create(locus_H5T_NATIVE_DOUBLE(), shape: nil, &d)
        case .int(var i): return create(locus_H5T_NATIVE_INT64(), shape: nil, &i)
        case .integers(let v, let shape):
            precondition(shape.reduce(1, *) == v.count, "attribute \(key): \(v.count) integers for shape \(shape)")
            return v.withUnsafeBytes { create(locus_H5T_NATIVE_INT64(), shape: shape, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 8)!) }
        case .string(let s): return withUTF8Strings([s]) { type, p in create(type, shape: nil, p) }
        case .strings(let v): return withUTF8Strings(v) { type, p in create(type, shape: [v.count], p) }
        }
    }

    /// Calls `body` with the variable-length UTF-8 string type and an array of C string pointers.
    private func withUTF8Strings(_ strings: [String], _ body: (hid_t, UnsafeRawPointer) -> Bool) -> Bool {
        let type = utf8StringType()
        defer { H5Tclose(type) }
        let cs = strings.map { strdup($0) }
        defer { cs.forEach { free($0) } }
        return cs.withUnsafeBytes { body(type, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 8)!) }
    }

    private func utf8StringType() -> hid_t {
        let t = H5Tcopy(locus_H5T_C_S1())
        H5Tset_size(t, locus_H5T_VARIABLE())
        H5Tset_cset(t, H5T_CSET_UTF8)
        return t
    }

    /// Reads every attribute of an object (scalars, integer arrays and 1-D string arrays; others are skipped).
    public func attributes(of name: String = "/") throws(StoreError) -> [String: AttributeValue] {
        let obj = H5Oopen(id, name, locus_H5P_DEFAULT())
        guard obj >= 0 else { throw StoreError(file: path, object: name, message: "no such object") }
        defer { H5Oclose(obj) }
        var result: [String: AttributeValue] = [:]
        let n = H5Aget_num_attrs(obj)
        for i in 0..<max(n, 0) {
            let attr = H5Aopen_by_idx(obj, ".", H5_INDEX_NAME, H5_ITER_INC, hsize_t(i), locus_H5P_DEFAULT(), locus_H5P_DEFAULT())
            guard attr >= 0 else { continue }
            defer { H5Aclose(attr) }
            let len = H5Aget_name(attr, 0, nil)
            guard len >= 0 else { continue }
            var buf = [CChar](repeating: 0, count: len + 1)
            H5Aget_name(attr, len + 1, &buf)
            if let v = read(attr) { result[String(cString: buf)] = v }
        }
        return result
    }

    private func read(_ attr: hid_t) -> AttributeValue? {
        let type = H5Aget_type(attr), space = H5Aget_space(attr)
        defer { H5Tclose(type); H5Sclose(space) }
        let rank = Int(H5Sget_simple_extent_ndims(space))
        let count = Int(H5Sget_simple_extent_npoints(space))
        guard rank >= 0, count >= 0 else { return nil }
        var dims = [hsize_t](repeating: 0, count: rank)
        if rank > 0 { H5Sget_simple_extent_dims(space, &dims, nil) }
        switch H5Tget_class(type) {
        case H5T_STRING:
            guard rank <= 1 else { return nil }
            let strings = readStrings(attr, type, count: count)
            return rank == 0 ? strings.first.map(AttributeValue.string) : .strings(strings)
        case H5T_FLOAT:
            guard rank == 0 else { return nil }
            var d: Double = 0
            H5Aread(attr, locus_H5T_NATIVE_DOUBLE(), &d)
            return .double(d)
        case H5T_INTEGER:
            var v = [Int64](repeating: 0, count: max(count, 1))
            H5Aread(attr, locus_H5T_NATIVE_INT64(), &v)
            return rank == 0 ? .int(v[0]) : .integers(Array(v.prefix(count)), shape: dims.map { Int($0) })
        default: return nil
        }
    }

    /// Strings of a string attribute, variable-length (Locus' own) or fixed-length (older files, other writers).
    private func readStrings(_ attr: hid_t, _ type: hid_t, count: Int) -> [String] {
        let n = max(count, 1)
        if H5Tis_variable_str(type) > 0 {
            let mem = utf8StringType()
            defer { H5Tclose(mem) }
            var ptrs = [UnsafeMutablePointer<CChar>?](repeating: nil, count: n)
            guard H5Aread(attr, mem, &ptrs) >= 0 else { return [] }
            defer { ptrs.forEach { H5free_memory($0) } }
            return ptrs.prefix(count).map { $0.map { String(cString: $0) } ?? "" }
        }
        let size = H5Tget_size(type)
        var chars = [CChar](repeating: 0, count: size * n + 1)
        guard H5Aread(attr, type, &chars) >= 0 else { return [] }
        return (0..<count).map { i in
            let slice = chars[(i * size)..<((i + 1) * size)]
            return String(decoding: slice.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }
}
