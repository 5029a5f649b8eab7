import ClawcCompiler
import ClawcDiagnostics
import Foundation
import Testing

/// The bad-input corpus: every case under `Tests/ClawcTests/Corpus/<case>/` (a `rules/` folder and a
/// `task.yaml` or `task.json`) must fail with exit 1, print nothing on stdout, and print exactly its
/// `expected.stderr`. Set `CLAWC_RECORD=1` to write the expected files anew; review the diff before committing.
@Suite struct CorpusTests {
    static let root = Repo.path("Tests/ClawcTests/Corpus")
    static let cases: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).filter {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: "\(root)/\($0)", isDirectory: &isDirectory) && isDirectory.boolValue
    }.sorted()
    static let recording = ProcessInfo.processInfo.environment["CLAWC_RECORD"] == "1"

    @Test func corpusIsNotEmpty() {
        #expect(Self.cases.count >= 20, "the corpus lost its cases")
    }

    @Test(arguments: cases)
    func failsWithTheRecordedDiagnostics(name: String) throws {
        let dir = "\(Self.root)/\(name)"
        let taskName = FileManager.default.fileExists(atPath: "\(dir)/task.json") ? "task.json" : "task.yaml"
        let outcome = Compiler.compile(
            rulesDirectory: "\(dir)/rules", rulesDisplay: "rules", taskPath: "\(dir)/\(taskName)", taskDisplay: taskName,
            catalog: Repo.catalog)
        let stderr = outcome.rendered
        #expect(outcome.json == nil, "\(name): produced a policy")
        #expect(outcome.diagnostics.hasErrors, "\(name): no error reported")
        #expect(!stderr.contains("Fatal error") && !stderr.contains("Stack dump"))
        for diagnostic in outcome.diagnostics.items where diagnostic.severity == .error {
            #expect(diagnostic.span != nil || diagnostic.path != nil, "\(name): an error without a location: \(diagnostic.message)")
        }
        let expectedPath = "\(dir)/expected.stderr"
        if Self.recording {
            try stderr.write(toFile: expectedPath, atomically: true, encoding: .utf8)
            return
        }
        let expected = try? String(contentsOfFile: expectedPath, encoding: .utf8)
        #expect(expected != nil, "\(name): no expected.stderr; run with CLAWC_RECORD=1 and review it")
        #expect(stderr == expected, "\(name): stderr differs from expected.stderr:\n\(stderr)")
    }

    /// Inputs too big to commit are made here.
    @Test func tenMegabyteTaskIsRefusedWithoutReadingIt() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("task.yaml").path
        var text = "taskId: t-1\npurpose: log-analysis\ntags:\n"
        while text.utf8.count < 10_000_000 { text += "  k\(text.utf8.count): \(String(repeating: "v", count: 200))\n" }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let outcome = Compiler.compile(rulesDirectory: Repo.path("rules"), rulesDisplay: "rules", taskPath: path, taskDisplay: "task.yaml", catalog: Repo.catalog)
        #expect(outcome.json == nil)
        #expect(outcome.codes == ["file-too-large"])
        #expect(outcome.rendered.hasPrefix("task.yaml: error: `task.yaml` is larger than 1024 KiB [file-too-large]"))
    }

    @Test func missingFilesAreLocatedByPath() throws {
        let outcome = Compiler.compile(rulesDirectory: "/nonexistent/rules", rulesDisplay: "rules", taskPath: "/nonexistent/t.yaml", taskDisplay: "t.yaml", catalog: Repo.catalog)
        #expect(outcome.codes.sorted() == ["file-not-found", "rules-not-found"])
    }

    @Test func severalErrorsAreReportedSortedByLocation() throws {
        let outcome = try compile(rules: ["a.yaml": """
            purpose: demo
            grants:
              - actions: [s3:GetObjct]
                resources: ["arn:aws:s3:::b/*"]
                resorces: []
              - actions: [s3:GetObject]
                resources: ["arn:aws:s3:::{nope}/*"]
            """], task: "taskId: t\npurpose: demo\n")
        let lines = outcome.diagnostics.sorted.compactMap { $0.span?.start.line }
        #expect(lines == lines.sorted())
        #expect(outcome.codes == ["unknown-key", "unknown-slot"])
    }
}
