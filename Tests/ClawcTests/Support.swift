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

/// A finished run of the `clawc` binary.
struct ProcessRun {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// The built `clawc` binary, beside the test bundle or in `.build/debug`.
var clawcBinary: URL {
    let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("clawc")
    if FileManager.default.isExecutableFile(atPath: beside.path) { return beside }
    return Repo.root.appendingPathComponent(".build/debug/clawc")
}

/// Runs a program to completion from the repository root, with extra environment variables.
func runProgram(_ executable: URL, _ arguments: [String], environment: [String: String] = [:]) throws -> ProcessRun {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    process.currentDirectoryURL = Repo.root
    var env = ProcessInfo.processInfo.environment
    for key in env.keys where key.hasPrefix("AWS_") { env[key] = nil }
    for (key, value) in environment { env[key] = value }
    process.environment = env
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    // Read both pipes while the child runs so neither fills up.
    let group = DispatchGroup()
    final class Box: @unchecked Sendable { var data = Data() }
    let outBox = Box(), errBox = Box()
    group.enter()
    DispatchQueue.global().async { outBox.data = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    group.enter()
    DispatchQueue.global().async { errBox.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    group.wait()
    process.waitUntilExit()
    return ProcessRun(status: process.terminationStatus, stdout: String(decoding: outBox.data, as: UTF8.self), stderr: String(decoding: errBox.data, as: UTF8.self))
}

func runClawc(_ arguments: [String], environment: [String: String] = [:]) throws -> ProcessRun {
    try runProgram(clawcBinary, arguments, environment: environment)
}

/// Writes a workload token to a new file in `dir`, as a token file for `clawc issue --token-file`.
func writeToken(_ token: String, in dir: URL) throws -> String {
    let url = dir.appendingPathComponent("token-\(UUID().uuidString)")
    try token.write(to: url, atomically: true, encoding: .utf8)
    return url.path
}
