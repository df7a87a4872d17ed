import Foundation
import Linalg

/// Re-executes the program with `OPENBLAS_CORETYPE` set to the recommended kernel family when the
/// user has not chosen one (OpenBLAS reads it only at load time). `LOCUS_NO_RELAUNCH=1` disables this.
func relaunchWithBLASCoreTypeIfNeeded() {
    let env = ProcessInfo.processInfo.environment
    guard env["OPENBLAS_CORETYPE"] == nil, env["LOCUS_NO_RELAUNCH"] == nil,
        let core = BLASCoreType.recommended()
    else { return }
    setenv("OPENBLAS_CORETYPE", core, 1)
    setenv("LOCUS_NO_RELAUNCH", "1", 1)
    let args = CommandLine.arguments
    var cargs = args.map { strdup($0) } + [nil]
    execv("/proc/self/exe", &cargs)
    // execv only returns on failure: carry on with the default kernels.
}
