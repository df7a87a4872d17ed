import Foundation

/// Which OpenBLAS kernel family to use on this CPU.
///
/// Debian's OpenBLAS (0.3.21) does not recognise recent Xeons and falls back to its generic
/// "Prescott" (SSE3) kernels, 4× slower here than its AVX-512 "SkylakeX" ones (see `locus bench blas`).
/// OpenBLAS reads `OPENBLAS_CORETYPE` once, when the library loads, so the `locus` command re-executes
/// itself with the variable set when the user has not set it.
public enum BLASCoreType {
    /// The kernel family measured fastest for the CPU (`locus bench forward`, SmolLM2, 2 threads):
    /// SkylakeX on Intel CPUs with AVX-512, Haswell on any other CPU with AVX2, else nil (OpenBLAS's own
    /// choice). On an AMD EPYC with AVX-512 (family 25, model 17) Haswell kernels with OpenBLAS's
    /// threading prefilled 128 tokens at 582–584 tok/s, SkylakeX at 559–560, and OpenBLAS's own pick
    /// (Cooperlake, an AVX-512 family, so Locus split the products) at 438.
    public static func recommended(cpuinfo: String? = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) -> String? {
        guard let info = cpuinfo else { return nil }
        let lines = info.split(separator: "\n")
        guard let flagsLine = lines.first(where: { $0.hasPrefix("flags") }) else { return nil }
        let flags = Set(flagsLine.split(separator: " ").map(String.init))
        let intel = lines.first(where: { $0.hasPrefix("vendor_id") })?.contains("GenuineIntel") ?? false
        if intel && flags.isSuperset(of: ["avx512f", "avx512bw", "avx512dq", "avx512vl"]) { return "SkylakeX" }
        if flags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        return nil
    }
}
