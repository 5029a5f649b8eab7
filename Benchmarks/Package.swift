// swift-tools-version: 6.1
import PackageDescription

// Benchmarks for clawc, kept in their own package so that the main `swift build` and `swift test` never build
// ordo-one/benchmark. Run from this folder with `swift package benchmark`; see docs/benchmarks.md.
let package = Package(
    name: "ClawcBenchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "clawc", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", exact: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "ClawcBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "ClawcCatalog", package: "clawc"),
                .product(name: "ClawcCompiler", package: "clawc"),
                .product(name: "ClawcSyntax", package: "clawc"),
                .product(name: "ClawcPolicy", package: "clawc"),
            ],
            path: "Benchmarks/ClawcBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
