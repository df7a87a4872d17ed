import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A read-only memory map of a whole file. The original file is never written through it.
///
/// `init(copying:path:)` holds bytes that are not a file (built in memory by a test or a fuzzer) the
/// same way, under a name that errors report as the file.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let count: Int
    private let base: UnsafeMutableRawPointer?
    private var owned = false

    public init(copying bytes: UnsafeRawBufferPointer, path: String) {
        self.path = path
        count = bytes.count
        owned = true
        guard let source = bytes.baseAddress, count > 0 else {
            base = nil
            return
        }
        let b = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 64)
        b.copyMemory(from: source, byteCount: count)
        base = b
    }

    public init(path: String) throws(ModelFormatError) {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw ModelFormatError(
                exists ? .unreadable : .fileNotFound, file: path, field: "file",
                expected: "a readable model file", found: exists ? "permission denied or unreadable" : "no such file")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw ModelFormatError(.unreadable, file: path, field: "file", expected: "stat to succeed", found: "errno \(errno)")
        }
        count = Int(st.st_size)
        if count == 0 {
            base = nil
            return
        }
        let p = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else {
            throw ModelFormatError(.unreadable, file: path, field: "file", expected: "mmap to succeed", found: "errno \(errno)")
        }
        base = p
    }

    deinit {
        guard let base else { return }
        if owned { base.deallocate() } else { munmap(base, count) }
    }

    /// The mapped bytes. Valid as long as this object lives.
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
}
