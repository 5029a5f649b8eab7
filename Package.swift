// swift-tools-version: 6.0
import PackageDescription

// Modules, with dependencies pointing one way:
// ClawcDiagnostics ← ClawcSyntax ← ClawcCatalog (← ClawcCatalogPack, the catalog's data) ← ClawcPolicy ← ClawcCompiler ← ClawcRuntime ← ClawcBroker ← clawc (CLI)
// Generic types are instantiated through direct metadata accessors instead of mangled names the runtime decodes:
// each decoded name looks up its conformances by scanning every conformance record in the binary, thousands of
// them, and a cold `clawc compile` made hundreds of such look-ups (docs/benchmarks.md, "Cold start").
let coldStart: [SwiftSetting] = [.unsafeFlags(["-Xfrontend", "-disable-concrete-type-metadata-mangled-name-accessors"])]

let package = Package(
    name: "clawc",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "clawc", targets: ["clawc"]),
        .library(name: "ClawcCompiler", targets: ["ClawcCompiler"]),
        .library(name: "ClawcCatalog", targets: ["ClawcCatalog"]),
        .library(name: "ClawcSyntax", targets: ["ClawcSyntax"]),
        .library(name: "ClawcPolicy", targets: ["ClawcPolicy"]),
    ],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/vapor/jwt-kit", exact: "5.8.0"),
        .package(url: "https://github.com/apple/swift-crypto", exact: "4.5.2"),
        .package(url: "https://github.com/swift-server/async-http-client", exact: "1.37.0"),
        // SwiftNIO comes with async-http-client; named here only so ClawcRuntime may import its modules.
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/vapor/postgres-nio", exact: "1.33.2"),
        // Named for their modules only: PostgresNIO brings them (TLS settings for `sslmode`, its logger type).
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // The broker (`clawc serve`): its HTTP server, its metrics.
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
        // Named for their modules only: Hummingbird brings them (signals and graceful shutdown; HTTP field types).
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
    ],
    targets: [
        .target(name: "ClawcDiagnostics", swiftSettings: coldStart),
        .target(name: "ClawcSyntax", dependencies: ["ClawcDiagnostics", .product(name: "Yams", package: "Yams")], swiftSettings: coldStart),
        // The catalog's reviewed form is the JSON under Resources/catalog; what clawc loads is the pack made from it by
        // scripts/build-catalog.py and compiled into the binary (CatalogPackTests holds the two equal).
        .target(name: "ClawcCatalogPack", exclude: ["catalog.pack"]),
        .target(name: "ClawcCatalog", dependencies: ["ClawcDiagnostics", "ClawcCatalogPack"], exclude: ["Resources/catalog"], swiftSettings: coldStart),
        .target(name: "ClawcPolicy", dependencies: ["ClawcDiagnostics", "ClawcSyntax", "ClawcCatalog"], swiftSettings: coldStart),
        .target(name: "ClawcCompiler", dependencies: ["ClawcDiagnostics", "ClawcSyntax", "ClawcCatalog", "ClawcPolicy",
                                                      // SHA-256 for PostgreSQL grant-set names and plan hashes.
                                                      .product(name: "Crypto", package: "swift-crypto")],
                swiftSettings: coldStart),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .target(name: "ClawcRuntime", dependencies: [
            "ClawcCompiler", "ClawcPolicy", "ClawcSyntax", "ClawcDiagnostics", "CSQLite",
            .product(name: "JWTKit", package: "jwt-kit"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "ClawcBroker", dependencies: [
            "ClawcCompiler", "ClawcRuntime", "ClawcSyntax", "ClawcDiagnostics",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "clawc", dependencies: [
            "ClawcCompiler", "ClawcRuntime", "ClawcBroker",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: coldStart, linkerSettings: [
            // SwiftPM exports every symbol of an executable on Linux (for `@testable import` of executables, which
            // clawc's tests do not use: they run the binary). 55,000 exported symbols made each `dladdr` the
            // runtime makes at start a linear search through them.
            .unsafeFlags(["-Xlinker", "--no-export-dynamic"], .when(platforms: [.linux])),
        ]),
        // The ledger's cost per issuance, SQLite beside PostgreSQL (docs/benchmarks.md); not part of the product.
        .executableTarget(name: "ledger-bench", dependencies: ["ClawcRuntime"]),
        // A fast STS peer for the broker benchmark (bench/broker.sh); not part of the product.
        .executableTarget(name: "bench-sts", dependencies: [
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        .testTarget(
            name: "ClawcTests",
            // CSQLite: the ledger tests open raw connections to edit a ledger behind the store's back and to hold its lock.
            // PostgresNIO: the PostgreSQL tests make databases and edit ledgers behind the store's back on connections of their own.
            dependencies: ["ClawcCompiler", "ClawcCatalog", "ClawcSyntax", "ClawcPolicy", "ClawcDiagnostics", "ClawcRuntime", "ClawcBroker", "CSQLite",
                           .product(name: "PostgresNIO", package: "postgres-nio")],
            exclude: ["Corpus", "CorpusSamples"]),
    ]
)
