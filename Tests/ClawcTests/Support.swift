import ClawcCatalog
import ClawcCompiler
import ClawcDiagnostics
import ClawcSyntax
import Foundation

/// Where the repository is, found from this file's path.
enum Repo {
    static let root: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }
    static let catalog: Catalog = {
        do { return try Catalog.bundled() } catch { fatalError("the shipped catalog does not load: \(error)") }
    }()
}

/// A small deterministic generator, so property tests can print and replay their seed.
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

/// The seed for a property test: `CLAWC_SEED` to replay one, otherwise a fixed default.
func propertySeed(_ fallback: UInt64) -> UInt64 {
    ProcessInfo.processInfo.environment["CLAWC_SEED"].flatMap { UInt64($0) } ?? fallback
}

/// A scratch folder removed by the caller.
func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("clawc-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Compiles from in-memory texts: rules by file name, and a task.
func compile(rules: [String: String], task: String, maxChars: Int = 2048) throws -> Compiler.Outcome {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let rulesDir = dir.appendingPathComponent("rules")
    try FileManager.default.createDirectory(at: rulesDir, withIntermediateDirectories: true)
    for (name, text) in rules { try text.write(to: rulesDir.appendingPathComponent(name), atomically: true, encoding: .utf8) }
    let taskURL = dir.appendingPathComponent("task.yaml")
    try task.write(to: taskURL, atomically: true, encoding: .utf8)
    return Compiler.compile(
        rulesDirectory: rulesDir.path, rulesDisplay: "rules", taskPath: taskURL.path, taskDisplay: "task.yaml",
        catalog: Repo.catalog, maxChars: maxChars)
}

extension Compiler.Outcome {
    var codes: [String] { diagnostics.sorted.map(\.code) }
    var rendered: String { DiagnosticRenderer.render(diagnostics) }
}
