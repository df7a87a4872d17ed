// swift-tools-version:6.0
import PackageDescription

// Module graph (data flows one way):
//   CBLAS, CHDF5 (system libraries: the only code that sees C)
//   -> Linalg -> Tensors -> ModelFormats, Tokenization -> Models -> ArrayStore
//   -> Locus (umbrella library) -> locus (CLI)
let package = Package(
    name: "Locus",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Locus", targets: ["Locus"]),
        .executable(name: "locus", targets: ["LocusCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]),
        .systemLibrary(
            name: "CHDF5", path: "Sources/CHDF5", pkgConfig: "hdf5",
            providers: [.apt(["libhdf5-dev"])]),
        .target(name: "Linalg", dependencies: ["CBLAS"]),
        .target(name: "Tensors", dependencies: ["Linalg"]),
        .target(name: "ModelFormats", dependencies: ["Tensors"]),
        .target(name: "Tokenization"),
        .target(name: "Models", dependencies: ["Linalg", "Tensors", "ModelFormats", "Tokenization"]),
        .target(name: "ArrayStore", dependencies: ["CHDF5", "Tensors"]),
        .target(
            name: "Locus",
            dependencies: ["Linalg", "Tensors", "ModelFormats", "Tokenization", "Models", "ArrayStore"]),
        .executableTarget(
            name: "LocusCLI",
            dependencies: ["Locus", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .target(name: "TestSupport", dependencies: ["Tensors", "ModelFormats"], path: "Sources/TestSupport"),
        .testTarget(name: "LinalgTests", dependencies: ["Linalg", "TestSupport"]),
        .testTarget(
            name: "ModelFormatsTests", dependencies: ["ModelFormats", "TestSupport"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "TokenizationTests", dependencies: ["Tokenization", "Models", "TestSupport"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "ModelsTests", dependencies: ["Models", "TestSupport"],
            resources: [.copy("Fixtures")]),
        .testTarget(name: "ArrayStoreTests", dependencies: ["ArrayStore", "TestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)
