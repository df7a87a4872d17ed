import Foundation
import Locus

/// A progress bar on stderr, drawn only when stderr is a terminal.
final class ProgressBar {
    let label: String
    let enabled: Bool
    private var last = Date.distantPast
    private let start = Date()

    init(_ label: String, quiet: Bool = false) {
        self.label = label
        enabled = !quiet && isatty(STDERR_FILENO) != 0
    }

    func update(_ done: Int, _ total: Int) {
        guard enabled, total > 0 else { return }
        let now = Date()
        guard done == total || now.timeIntervalSince(last) > 0.1 else { return }
        last = now
        let width = 30, filled = width * done / total
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let s = String(format: "\r%@ %@ %d/%d  %.1f s", label, bar, done, total, now.timeIntervalSince(start))
        FileHandle.standardError.write(Data(s.utf8))
        if done == total { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    /// A progress callback for covariance statistics (nil when stderr is not a terminal).
    static func statistics() -> StatisticsProgress? {
        let bar = ProgressBar("covariance (tokens)")
        guard bar.enabled else { return nil }
        let lock = NSLock()
        return { done, total in
            lock.lock()
            bar.update(done, total)
            lock.unlock()
        }
    }
}

