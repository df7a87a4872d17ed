import Foundation

/// Files replaced whole. A new version is written under a temporary name beside the file, flushed to
/// disk and renamed onto it, so the name holds the old version or the new one, never part of either,
/// whenever the writer stops (`Tests/LocusCLITests/CrashSafetyTests.swift` kills writers with SIGKILL).
/// Temporaries that a killed writer left behind are removed by the next write of the same file.
public enum AtomicFile {
    /// A failure to write or rename, naming the file.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let path: String
        public let message: String
        public var description: String { "\(path): \(message)" }
    }

    /// A fresh temporary name beside `path`: `.<name>.tmp-<pid>-<random>` (hidden from listings).
    public static func temporaryPath(for path: String) -> String {
        let (dir, name) = split(path)
        return "\(dir)/.\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    /// Removes the temporaries of `path` whose writer no longer runs.
    public static func removeStale(for path: String) {
        let (dir, name) = split(path)
        let prefix = ".\(name).tmp-"
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        for e in entries where e.hasPrefix(prefix) {
            guard let pid = Int32(e.dropFirst(prefix.count).prefix { $0 != "-" }) else { continue }
            if pid != getpid(), kill(pid, 0) != 0, errno == ESRCH { unlink("\(dir)/\(e)") }
        }
    }

    /// Flushes the finished temporary `tmp` to disk and renames it onto `path` (removing `tmp` on failure).
    public static func commit(_ tmp: String, to path: String) throws(Failure) {
        let fd = open(tmp, O_RDONLY)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
        guard rename(tmp, path) == 0 else {
            let code = errno
            unlink(tmp)
            throw Failure(path: path, message: "cannot rename \(tmp) onto it (\(String(cString: strerror(code))))")
        }
    }

    /// Writes `data` to `path` through a temporary file.
    public static func write(_ data: Data, to path: String) throws(Failure) {
        removeStale(for: path)
        let tmp = temporaryPath(for: path)
        do { try data.write(to: URL(fileURLWithPath: tmp)) } catch {
            unlink(tmp)
            throw Failure(path: path, message: "cannot write \(tmp) (\(error.localizedDescription))")
        }
        try commit(tmp, to: path)
    }

    private static func split(_ path: String) -> (String, String) {
        let dir = (path as NSString).deletingLastPathComponent
        return (dir.isEmpty ? "." : dir, (path as NSString).lastPathComponent)
    }
}
