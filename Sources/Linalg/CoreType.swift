import Foundation

/// Which OpenBLAS kernel family to use on this CPU.
///
/// Debian's OpenBLAS (0.3.21) does not recognise recent Xeons and falls back to its generic
/// "Prescott" (SSE3) kernels, 4× slower here than its AVX-512 "SkylakeX" ones (see `locus bench blas`).
/// OpenBLAS reads `OPENBLAS_CORETYPE` once, when the library loads, so the `locus` command re-executes
/// itself with the variable set when the user has not set it.
public enum BLASCoreType {
    /// The kernel family the CPU's flags support best: SkylakeX with AVX-512, Haswell with AVX2, else nil.
    public static func recommended(cpuinfo: String? = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) -> String? {
        guard let info = cpuinfo, let flagsLine = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else {
            return nil
        }
        let flags = Set(flagsLine.split(separator: " ").map(String.init))
        if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512dq", "avx512vl"]) { return "SkylakeX" }
        if flags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        return nil
    }
}
