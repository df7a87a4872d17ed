import Dispatch
import Foundation
import Synchronization

/// Worker threads that wait for the next job by spinning for a while before they sleep, so that a
/// run of short parallel jobs (decoding's matrix–vector products, a few hundred per token) does not
/// pay a thread wake-up for each, as `DispatchQueue.concurrentPerform` does. The caller runs part 0
/// itself; worker w runs part w + 1. Jobs are run one at a time (the pool is for the calling thread
/// of the engine, not for concurrent callers: those fall back to `concurrentPerform`).
final class SpinPool: @unchecked Sendable {
    private let workers: Int
    /// Incremented to publish a job; each worker runs it once when it sees the new value.
    private let generation = Atomic<Int>(0)
    private let finished = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    /// Per worker: `sleeping` is 1 while it waits on `wake` (the caller then signals it).
    private final class Slot: Sendable {
        let sleeping = Atomic<Int>(0)
        let wake = DispatchSemaphore(value: 0)
    }
    private let slots: [Slot]
    private var job: ((Int) -> Void)?
    private var parts = 0
    /// Spin iterations before a worker sleeps (about a millisecond).
    private let patience = 200_000

    init(workers: Int) {
        self.workers = workers
        slots = (0..<workers).map { _ in Slot() }
        for w in 0..<workers {
            let t = Thread { [unowned self] in self.loop(worker: w) }
            t.stackSize = 1 << 20
            t.start()
        }
    }

    /// Runs `body(p)` for `p` in `0..<parts` and returns when all are done (more parts than the pool
    /// has threads, or a job already running, go to `concurrentPerform`).
    static let shared = SpinPool(workers: max(1, ProcessInfo.processInfo.activeProcessorCount - 1))

    func run(parts: Int, _ body: (Int) -> Void) {
        guard parts > 1, parts <= workers + 1, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            DispatchQueue.concurrentPerform(iterations: parts, execute: body)
            return
        }
        withoutActuallyEscaping(body) { b in
            job = b
            self.parts = parts
            finished.store(0, ordering: .relaxed)
            generation.add(1, ordering: .sequentiallyConsistent)
            for w in 0..<(parts - 1) where slots[w].sleeping.exchange(0, ordering: .sequentiallyConsistent) == 1 { slots[w].wake.signal() }
            b(0)
            while finished.load(ordering: .acquiring) < parts - 1 {}
            job = nil
        }
        busy.store(false, ordering: .releasing)
    }

    /// Runs part `p` of the current job; the worker's reference to the job ends when this returns,
    /// before it reports the part done (the caller's `withoutActuallyEscaping` checks that none is left).
    @inline(never) private func runPart(_ p: Int) {
        job?(p)
    }

    private func loop(worker w: Int) {
        var seen = 0
        while true {
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                spins += 1
                if spins < patience { continue }
                // Sleep, unless a job was published in between (then the caller may or may not signal).
                slots[w].sleeping.store(1, ordering: .sequentiallyConsistent)
                if generation.load(ordering: .sequentiallyConsistent) != seen {
                    if slots[w].sleeping.exchange(0, ordering: .sequentiallyConsistent) == 1 { break }
                }
                slots[w].wake.wait()
                spins = 0
            }
            seen = generation.load(ordering: .acquiring)
            if w + 1 < parts {
                runPart(w + 1)
                finished.add(1, ordering: .releasing)
            }
        }
    }
}
