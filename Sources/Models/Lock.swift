import Foundation

/// A small mutex for collecting results from concurrent loops.
final class Lock: @unchecked Sendable {
    private let lock = NSLock()
    func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }
}
