@testable import ClawcCompiler
import ClawcPolicy
import ClawcSyntax
import Foundation
import Testing

/// The final proof in the build users run: a widening pass injected after the shipped ones is caught and nothing
/// is printed. (The per-pass checks exist in debug builds only; this build has none.)
@Suite struct ReleaseProofTests {
    @Test func thisIsAReleaseBuild() {
        #if DEBUG
        Issue.record("the soundness package is meant to run with `-c release`")
        #endif
    }

    @Test func aWideningPassIsRefusedInARelease() throws {
        let ruleSet = try #require(RuleSet.load(directory: Repo.path("rules"), displayPath: "rules").0)
        let source = try YAMLSource.parse(data: Data("taskId: t-42\npurpose: log-analysis\ntags: {bucket: acme-logs-123}\n".utf8), displayPath: "task.yaml").get()
        let task = try #require(SyntaxReader.task(source).0)
        let widened = Compiler.$hooks.withValue(Compiler.Hooks(extraPasses: [WidenToEverything()], checkEachPass: false)) {
            Compiler.compile(ruleSet: ruleSet, task: task, catalog: Repo.catalog)
        }
        #expect(widened.json == nil)
        #expect(widened.diagnostics.items.map(\.code) == ["unproven-policy"])
        #expect(Compiler.compile(ruleSet: ruleSet, task: task, catalog: Repo.catalog).json != nil)
    }
}
