import Foundation
import Linalg

/// glibc malloc settings for Locus's allocation pattern: every block makes arrays of 1–30 MB (activations of
/// a few thousand rows) and frees them a moment later. With glibc's defaults each of them is a fresh `mmap`
/// whose pages the kernel zeroes on first touch and unmaps on `free` (page faults and `clear_page` were 7 %
/// of a causal trace's profile, and the idle core waiting on them more). Kept below 32 MiB in the heap and not
/// trimmed back to the system until 512 MiB are free, they are reused: the Eiffel trace went from 50.3 to
/// 38.2 s for 100 MiB more peak memory (`locus bench trace`, 2026-12-07). Larger arrays (a 7B model's
/// covariance) are still mapped and returned when freed.
let mallocTunables = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=536870912:glibc.malloc.top_pad=67108864"

/// Re-executes the program once with the environment only a fresh process can take: `OPENBLAS_CORETYPE`
/// set to the recommended kernel family (OpenBLAS reads it at load time) and glibc's malloc tunables
/// (`mallocTunables`), each only when the user has not set it. `LOCUS_NO_RELAUNCH=1` disables this.
func relaunchWithEnvironmentIfNeeded() {
    let env = ProcessInfo.processInfo.environment
    guard env["LOCUS_NO_RELAUNCH"] == nil else { return }
    var changed = false
    if env["OPENBLAS_CORETYPE"] == nil, let core = BLASCoreType.recommended() {
        setenv("OPENBLAS_CORETYPE", core, 1)
        changed = true
    }
    #if os(Linux)
    if env["GLIBC_TUNABLES"] == nil {
        setenv("GLIBC_TUNABLES", mallocTunables, 1)
        changed = true
    }
    #endif
    guard changed else { return }
    setenv("LOCUS_NO_RELAUNCH", "1", 1)
    let args = CommandLine.arguments
    var cargs = args.map { strdup($0) } + [nil]
    execv("/proc/self/exe", &cargs)
    // execv only returns on failure: carry on with the defaults.
}
