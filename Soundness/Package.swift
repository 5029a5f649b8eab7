// swift-tools-version: 6.0
import PackageDescription

// The soundness suites in a release build, 20,000 random cases each: the proofs must hold where users run them.
// A package of its own so that its release build compiles the compiler and its few dependencies only, not the
// runtime's HTTP, crypto and JWT stack. CI runs it as `swift test -c release -Xswiftc -enable-testing` from this
// folder; the same suites also run in the main package's debug `swift test`, with fewer cases. Two test files are
// links to the main package's, so there is one copy of each.
let package = Package(
    name: "ClawcSoundness",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "clawc", path: ".."),
    ],
    targets: [
        .testTarget(
            name: "SoundnessTests",
            dependencies: [
                .product(name: "ClawcCompiler", package: "clawc"),
                .product(name: "ClawcPolicy", package: "clawc"),
                .product(name: "ClawcSyntax", package: "clawc"),
                .product(name: "ClawcCatalog", package: "clawc"),
            ]),
    ]
)
