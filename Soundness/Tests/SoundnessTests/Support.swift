import ClawcCatalog
import ClawcCompiler
import ClawcDiagnostics
import Foundation

/// Where the repository is, found from this file's path (`Soundness/Tests/SoundnessTests/Support.swift`).
enum Repo {
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }
    static let catalog: Catalog = {
        do { return try Catalog(directory: root.appendingPathComponent("Sources/ClawcCatalog/Resources/catalog")) } catch {
            fatalError("the shipped catalog does not load: \(error)")
        }
    }()
}

/// The same generator as the main package's tests, so a seed replays the same cases in both.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func propertySeed(_ fallback: UInt64) -> UInt64 {
    ProcessInfo.processInfo.environment["CLAWC_SEED"].flatMap { UInt64($0) } ?? fallback
}

extension Compiler.Outcome {
    var codes: [String] { diagnostics.sorted.map(\.code) }
    var rendered: String { DiagnosticRenderer.render(diagnostics) }
}
