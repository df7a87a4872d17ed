import CHDF5
import Foundation
import Tensors

/// A failure of the HDF5 layer, naming the file and object.
public struct StoreError: Error, CustomStringConvertible, Sendable, Equatable {
    public let file: String
    public let object: String
    public let message: String
    public init(file: String, object: String, message: String) {
        self.file = file
        self.object = object
        self.message = message
    }
    public var description: String { "\(file): \(object): \(message)" }
}

/// The version string recorded in files Locus writes (`locus_version`).
public enum LocusVersion {
    public static let string = "0.1.0"
}

/// An open HDF5 file: datasets of Float32/Float64/Int64 addressed by slash paths, with attributes.
///
/// Files Locus writes are created under a temporary name and renamed into place by `H5File.write`,
/// so a reader never sees a half-written file. They open in h5py like any other HDF5 file.
public final class H5File {
    public let path: String
    let id: hid_t
    private var closed = false

    private init(path: String, id: hid_t) {
        self.path = path
        self.id = id
    }

    deinit { close() }

    /// Closes the file (idempotent).
    public func close() {
        if !closed {
            H5Fclose(id)
            closed = true
        }
    }

    /// The command that is writing files, as a shell would take it back (arguments with spaces or
    /// quotes are single-quoted); recorded as `command` on every file `write` creates.
    public static var commandLine: String {
        CommandLine.arguments.map { a in
            a.isEmpty || a.contains(where: { " \t\n'\"\\$`*?;&|<>()[]{}".contains($0) })
                ? "'" + a.replacingOccurrences(of: "'", with: "'\\''") + "'" : a
        }.joined(separator: " ")
    }

    static let quiet: Void = { _ = locus_no_error_printing() }()

    /// Opens an existing file for reading (or writing, in place — only for resumable statistics).
    public static func open(_ path: String, writable: Bool = false) throws(StoreError) -> H5File {
        _ = quiet
        guard FileManager.default.fileExists(atPath: path) else {
            throw StoreError(file: path, object: "/", message: "no such file")
        }
        let fid = H5Fopen(path, writable ? locus_H5F_ACC_RDWR() : locus_H5F_ACC_RDONLY(), locus_H5P_DEFAULT())
        guard fid >= 0 else { throw StoreError(file: path, object: "/", message: "not an HDF5 file or unreadable") }
        return H5File(path: path, id: fid)
    }

    /// Creates `path` atomically: `body` fills a temporary file, which is renamed to `path` only if
    /// `body` returns normally. An existing file at `path` is replaced only then. Files are written in
    /// the HDF5 1.8+ format, so an attribute may exceed 64 KiB (a JSON record of many requests).
    public static func write<T>(_ path: String, _ body: (H5File) throws -> T) throws -> T {
        _ = quiet
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        AtomicFile.removeStale(for: path)
        let tmp = AtomicFile.temporaryPath(for: path)
        let fapl = locus_file_access_dense_attributes()
        defer { H5Pclose(fapl) }
        let fid = H5Fcreate(tmp, locus_H5F_ACC_TRUNC(), locus_H5P_DEFAULT(), fapl)
        guard fid >= 0 else { throw StoreError(file: path, object: "/", message: "cannot create \(tmp)") }
        let file = H5File(path: path, id: fid)
        do {
            try file.setAttributes(["locus_version": .string(LocusVersion.string), "command": .string(commandLine)])
            let result = try body(file)
            file.close()
            do { try AtomicFile.commit(tmp, to: path) } catch { throw StoreError(file: path, object: "/", message: error.message) }
            return result
        } catch {
            file.close()
            unlink(tmp)
            throw error
        }
    }

    // MARK: datasets

    /// Writes a Float32 tensor as a dataset (intermediate groups are created).
    public func write(_ tensor: Tensor, at name: String, attributes: [String: AttributeValue] = [:]) throws(StoreError) {
        try tensor.data.withUnsafeBufferPointer { p throws(StoreError) in
            try writeRaw(p.baseAddress!, type: locus_H5T_NATIVE_FLOAT(), shape: tensor.shape, at: name)
        }
        try setAttributes(attributes, on: name)
    }

    public func write(doubles: [Double], shape: [Int], at name: String, attributes: [String: AttributeValue] = [:]) throws(StoreError) {
        precondition(shape.reduce(1, *) == doubles.count)
        try doubles.withUnsafeBufferPointer { p throws(StoreError) in
            try writeRaw(p.baseAddress!, type: locus_H5T_NATIVE_DOUBLE(), shape: shape, at: name)
        }
        try setAttributes(attributes, on: name)
    }

    public func write(integers: [Int64], shape: [Int], at name: String, attributes: [String: AttributeValue] = [:]) throws(StoreError) {
        precondition(shape.reduce(1, *) == integers.count)
        try integers.withUnsafeBufferPointer { p throws(StoreError) in
            try writeRaw(p.baseAddress!, type: locus_H5T_NATIVE_INT64(), shape: shape, at: name)
        }
        try setAttributes(attributes, on: name)
    }

    private func writeRaw(_ data: UnsafeRawPointer, type: hid_t, shape: [Int], at name: String) throws(StoreError) {
        var dims = shape.map { hsize_t($0) }
        let space = H5Screate_simple(Int32(dims.count), &dims, nil)
        defer { H5Sclose(space) }
        let lcpl = H5Pcreate(H5P_CLS_LINK_CREATE_ID_g)
        defer { H5Pclose(lcpl) }
        H5Pset_create_intermediate_group(lcpl, 1)
        if exists(name) { H5Ldelete(id, name, locus_H5P_DEFAULT()) }
        let ds = H5Dcreate2(id, name, type, space, lcpl, locus_H5P_DEFAULT(), locus_H5P_DEFAULT())
        guard ds >= 0 else { throw StoreError(file: path, object: name, message: "cannot create dataset") }
        defer { H5Dclose(ds) }
        guard H5Dwrite(ds, type, locus_H5S_ALL(), locus_H5S_ALL(), locus_H5P_DEFAULT(), data) >= 0 else {
            throw StoreError(file: path, object: name, message: "write failed")
        }
    }

    /// True if a dataset or group exists at `name` (every parent must exist too).
    public func exists(_ name: String) -> Bool {
        var prefix = ""
        for part in name.split(separator: "/") {
            prefix += "/" + part
            if H5Lexists(id, prefix, locus_H5P_DEFAULT()) <= 0 { return false }
        }
        return true
    }

    /// The shape of a dataset.
    public func shape(of name: String) throws(StoreError) -> [Int] {
        guard exists(name) else { throw StoreError(file: path, object: name, message: "no such dataset") }
        let ds = H5Dopen2(id, name, locus_H5P_DEFAULT())
        guard ds >= 0 else { throw StoreError(file: path, object: name, message: "not a dataset") }
        defer { H5Dclose(ds) }
        let space = H5Dget_space(ds)
        defer { H5Sclose(space) }
        let rank = Int(H5Sget_simple_extent_ndims(space))
        var dims = [hsize_t](repeating: 0, count: max(rank, 1))
        H5Sget_simple_extent_dims(space, &dims, nil)
        return rank == 0 ? [] : dims.prefix(rank).map { Int($0) }
    }

    private func readRaw(_ name: String, type: hid_t, into p: UnsafeMutableRawPointer) -> StoreError? {
        let ds = H5Dopen2(id, name, locus_H5P_DEFAULT())
        guard ds >= 0 else { return StoreError(file: path, object: name, message: "not a dataset") }
        defer { H5Dclose(ds) }
        guard H5Dread(ds, type, locus_H5S_ALL(), locus_H5S_ALL(), locus_H5P_DEFAULT(), p) >= 0 else {
            return StoreError(file: path, object: name, message: "read failed (wrong element type?)")
        }
        return nil
    }

    public func readTensor(_ name: String) throws(StoreError) -> Tensor {
        let s = try shape(of: name)
        var data = [Float](repeating: 0, count: s.reduce(1, *))
        if let e = data.withUnsafeMutableBytes({ readRaw(name, type: locus_H5T_NATIVE_FLOAT(), into: $0.baseAddress!) }) { throw e }
        return Tensor(shape: s, data: data)
    }

    public func readDoubles(_ name: String) throws(StoreError) -> (values: [Double], shape: [Int]) {
        let s = try shape(of: name)
        var data = [Double](repeating: 0, count: s.reduce(1, *))
        if let e = data.withUnsafeMutableBytes({ readRaw(name, type: locus_H5T_NATIVE_DOUBLE(), into: $0.baseAddress!) }) { throw e }
        return (data, s)
    }

    public func readIntegers(_ name: String) throws(StoreError) -> (values: [Int64], shape: [Int]) {
        let s = try shape(of: name)
        var data = [Int64](repeating: 0, count: s.reduce(1, *))
        if let e = data.withUnsafeMutableBytes({ readRaw(name, type: locus_H5T_NATIVE_INT64(), into: $0.baseAddress!) }) { throw e }
        return (data, s)
    }

    /// Names of the datasets directly under a group (`"/"` for the root).
    public func children(of group: String = "/") throws(StoreError) -> [String] {
        let gid = H5Gopen2(id, group, locus_H5P_DEFAULT())
        guard gid >= 0 else { throw StoreError(file: path, object: group, message: "no such group") }
        defer { H5Gclose(gid) }
        var info = H5G_info_t()
        H5Gget_info(gid, &info)
        var names: [String] = []
        for i in 0..<info.nlinks {
            let n = H5Lget_name_by_idx(gid, ".", H5_INDEX_NAME, H5_ITER_INC, i, nil, 0, locus_H5P_DEFAULT())
            guard n > 0 else { continue }
            var buf = [CChar](repeating: 0, count: Int(n) + 1)
            H5Lget_name_by_idx(gid, ".", H5_INDEX_NAME, H5_ITER_INC, i, &buf, Int(n) + 1, locus_H5P_DEFAULT())
            names.append(String(cString: buf))
        }
        return names
    }

    // MARK: attributes

    /// Creates a group (and parents) if it does not exist.
    public func createGroup(_ name: String) throws(StoreError) {
        guard !exists(name) else { return }
        let lcpl = H5Pcreate(H5P_CLS_LINK_CREATE_ID_g)
        defer { H5Pclose(lcpl) }
        H5Pset_create_intermediate_group(lcpl, 1)
        let g = H5Gcreate2(id, name, lcpl, locus_H5P_DEFAULT(), locus_H5P_DEFAULT())
        guard g >= 0 else { throw StoreError(file: path, object: name, message: "cannot create group") }
        H5Gclose(g)
    }
}
