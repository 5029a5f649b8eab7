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

extension Compiler.Outcome {
    var codes: [String] { diagnostics.sorted.map(\.code) }
    var rendered: String { DiagnosticRenderer.render(diagnostics) }
}
