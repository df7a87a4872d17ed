// swift-tools-version:6.0
import PackageDescription

// Module graph (data flows one way):
//   CBLAS, CHDF5, CCairo (system libraries: the only code that sees C)
//   -> Linalg -> Tensors -> ModelFormats, Tokenization -> Models -> ArrayStore
//   -> Probing (which hands figures to Plotting, on CCairo), Editing
//   -> Locus (umbrella library) -> locus (CLI)
let package = Package(
    name: "Locus",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Locus", targets: ["Locus"]),
        .executable(name: "locus", targets: ["LocusCLI"]),
        .executable(name: "locate-and-edit", targets: ["LocateAndEdit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]),
        .systemLibrary(
            name: "CHDF5", path: "Sources/CHDF5", pkgConfig: "hdf5",
            providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(
            name: "CCairo", path: "Sources/CCairo", pkgConfig: "cairo",
            providers: [.apt(["libcairo2-dev", "fonts-dejavu-core"])]),
        .target(name: "Linalg", dependencies: ["CBLAS"]),
        .target(name: "Tensors", dependencies: ["Linalg"]),
        .target(name: "ModelFormats", dependencies: ["Tensors"]),
        .target(name: "Tokenization"),
        .target(name: "Models", dependencies: ["Linalg", "Tensors", "ModelFormats", "Tokenization"]),
        .target(name: "ArrayStore", dependencies: ["CHDF5", "Tensors"]),
        .target(name: "Datasets", resources: [.copy("Resources")]),
        .target(name: "Notebooks"),
        .target(name: "Plotting", dependencies: ["CCairo"]),
        .target(name: "Probing", dependencies: ["Models", "ArrayStore", "Linalg", "Tensors", "Datasets", "Plotting"]),
        .target(
            name: "Editing",
            dependencies: [
                "Models", "ArrayStore", "Linalg", "Tensors", "Datasets", "ModelFormats", "ModelStore",
                .product(name: "Yams", package: "Yams"),
            ],
            resources: [.copy("Hyperparameters")]),
        .target(
            name: "ModelStore",
            dependencies: [
                "ModelFormats", .product(name: "Crypto", package: "swift-crypto"), .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            ]),
        .target(
            name: "Locus",
            dependencies: ["Linalg", "Tensors", "ModelFormats", "Tokenization", "Models", "ArrayStore", "ModelStore", "Datasets", "Plotting", "Probing", "Editing", "Notebooks"]),
        .executableTarget(
            name: "LocusCLI",
            dependencies: [
                "Locus", .product(name: "ArgumentParser", package: "swift-argument-parser"), .product(name: "Yams", package: "Yams"),
            ]),
        .executableTarget(name: "LocateAndEdit", dependencies: ["Locus"]),
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
        .testTarget(name: "ModelStoreTests", dependencies: ["ModelStore", "TestSupport"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets"]),
        .testTarget(name: "NotebooksTests", dependencies: ["Notebooks"]),
        .testTarget(name: "PlottingTests", dependencies: ["Plotting"]),
        .testTarget(name: "ProbingTests", dependencies: ["Probing", "Plotting", "TestSupport"]),
        .testTarget(name: "EditingTests", dependencies: ["Editing", "TestSupport"]),
        .testTarget(
            name: "LocusCLITests",
            dependencies: ["LocusCLI", "Locus", "Notebooks", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v5]
)

// The kernels (dequantization, products on weights in their file's type, norms, softmax) are Swift
// loops and SIMD types; compiled for the baseline x86-64 (SSE2) they lack FMA, F16C and 8-wide
// vectors, and `addProduct` becomes a library call per element. Locus is built for x86-64 CPUs with
// AVX2, FMA and F16C (Intel since Haswell, 2013; AMD since Zen). `LOCUS_GENERIC_CPU=1` builds for any
// x86-64.
#if arch(x86_64)
import Foundation
if ProcessInfo.processInfo.environment["LOCUS_GENERIC_CPU"] != "1" {
    for target in package.targets where target.type != .system {
        target.swiftSettings = (target.swiftSettings ?? []) + [.unsafeFlags(["-target-cpu", "haswell"]), .define("LOCUS_F16C")]
    }
}
#endif
