// swift-tools-version: 6.0
import PackageDescription

// Modules, with dependencies pointing one way:
// ClawcDiagnostics ← ClawcSyntax ← ClawcCatalog ← ClawcPolicy ← ClawcCompiler ← clawc (CLI)
let package = Package(
    name: "clawc",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "clawc", targets: ["clawc"]),
        .library(name: "ClawcCompiler", targets: ["ClawcCompiler"]),
        .library(name: "ClawcCatalog", targets: ["ClawcCatalog"]),
    ],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
    ],
    targets: [
        .target(name: "ClawcDiagnostics"),
        .target(name: "ClawcSyntax", dependencies: ["ClawcDiagnostics", .product(name: "Yams", package: "Yams")]),
        .target(name: "ClawcCatalog", dependencies: ["ClawcDiagnostics"], resources: [.copy("Resources/catalog")]),
        .target(name: "ClawcPolicy", dependencies: ["ClawcDiagnostics", "ClawcCatalog"]),
        .target(name: "ClawcCompiler", dependencies: ["ClawcDiagnostics", "ClawcSyntax", "ClawcCatalog", "ClawcPolicy"]),
        .executableTarget(name: "clawc", dependencies: [
            "ClawcCompiler",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(
            name: "ClawcTests",
            dependencies: ["ClawcCompiler", "ClawcSyntax", "ClawcPolicy", "ClawcDiagnostics"],
            exclude: ["Corpus", "CorpusSamples"]),
    ]
)
