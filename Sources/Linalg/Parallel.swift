import Foundation
import Dispatch

/// Independent work items spread over the cores Locus uses (`BLAS.threads`), in contiguous ranges.
public enum Parallel {
    /// Calls `body` on ranges covering `0..<count`, concurrently when `count` allows at least `minimum` items
    /// per thread, else once on the whole range. `body` must only write what its items own.
    public static func ranges(_ count: Int, minimum: Int = 1, _ body: (Range<Int>) -> Void) {
        let parts = min(BLAS.threads, count / max(1, minimum))
        guard parts > 1 else {
            if count > 0 { body(0..<count) }
            return
        }
        perform(parts) { p in body((count * p / parts)..<(count * (p + 1) / parts)) }
    }

    /// Runs `body(p)` for `p` in `0..<parts` concurrently, on the engine's spinning workers
    /// (`SpinPool`), and returns when all are done.
    /// `LOCUS_SPIN_POOL=0` dispatches each job with `concurrentPerform` instead (to compare).
    public static func perform(_ parts: Int, _ body: (Int) -> Void) {
        if spinning { SpinPool.shared.run(parts: parts, body) } else { DispatchQueue.concurrentPerform(iterations: parts, execute: body) }
    }

    static let spinning = ProcessInfo.processInfo.environment["LOCUS_SPIN_POOL"] != "0"
}
