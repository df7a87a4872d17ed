import Foundation
import XCTest

@testable import Linalg

/// The spinning workers run every part of every job exactly once: back to back (the workers spin),
/// after a pause long enough for them to sleep (they are woken), and with a job started inside a
/// job (it goes to `concurrentPerform`).
final class SpinPoolTests: XCTestCase {
    func testEveryPartRunsOnceWhetherTheWorkersSpinOrSleep() {
        let pool = SpinPool(workers: 1)
        final class Counts: @unchecked Sendable {
            let lock = NSLock()
            var runs = [Int](repeating: 0, count: 3)
            func add(_ p: Int) { lock.lock(); runs[p] += 1; lock.unlock() }
        }
        let counts = Counts()
        for round in 0..<2000 {
            if round % 500 == 499 { usleep(20_000) }  // far past the workers' patience: they sleep
            pool.run(parts: 2) { p in counts.add(p) }
        }
        XCTAssertEqual(counts.runs[0], 2000)
        XCTAssertEqual(counts.runs[1], 2000)
        // More parts than threads, and a job inside a job, run on concurrentPerform.
        pool.run(parts: 3) { p in counts.add(p) }
        pool.run(parts: 2) { _ in pool.run(parts: 2) { q in counts.add(q) } }
        XCTAssertEqual(counts.runs, [2000 + 1 + 2, 2000 + 1 + 2, 1])
    }
}
