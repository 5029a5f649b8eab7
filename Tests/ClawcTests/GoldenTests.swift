import ClawcCompiler
import ClawcPolicy
import Foundation
import Testing

/// The whole pipeline on the repository's golden cases: same bytes as the reviewed files, every run.
@Suite struct GoldenTests {
    static let cases: [String] = {
        let root = Repo.path("golden")
        let files = (FileManager.default.enumerator(atPath: root)?.allObjects as? [String]) ?? []
        return files.filter { $0.hasSuffix(".task.yaml") || $0.hasSuffix(".task.json") }.sorted()
    }()

    @Test func thereAreGoldenCasesForEveryExampleRule() {
        let purposes = Set(Self.cases.map { $0.split(separator: "/").first.map(String.init) ?? "" })
        #expect(purposes.isSuperset(of: ["log-analysis", "inventory-query", "config-audit", "order-report"]))
    }

    @Test(arguments: cases)
    func compilesToTheReviewedPolicy(taskFile: String) throws {
        let base = taskFile.replacingOccurrences(of: ".task.yaml", with: "").replacingOccurrences(of: ".task.json", with: "")
        // A PostgreSQL case: the reviewed SQL plan, byte for byte, every run.
        if FileManager.default.fileExists(atPath: Repo.path("golden/\(base).plan.sql")) {
            let expected = try String(contentsOfFile: Repo.path("golden/\(base).plan.sql"), encoding: .utf8)
            let first = Compiler.planPostgres(rulesDirectory: Repo.path("rules"), taskPath: Repo.path("golden/\(taskFile)"), catalog: Repo.catalog)
            let second = Compiler.planPostgres(rulesDirectory: Repo.path("rules"), taskPath: Repo.path("golden/\(taskFile)"), catalog: Repo.catalog)
            #expect(first.0?.text == expected, "\(taskFile): \(first.3.items.map(\.message))")
            #expect(first.0?.text == second.0?.text)
            return
        }
        let expected = try String(contentsOfFile: Repo.path("golden/\(base).policy.json"), encoding: .utf8)
        let first = Compiler.compile(rulesDirectory: Repo.path("rules"), taskPath: Repo.path("golden/\(taskFile)"), catalog: Repo.catalog)
        let second = Compiler.compile(rulesDirectory: Repo.path("rules"), taskPath: Repo.path("golden/\(taskFile)"), catalog: Repo.catalog)
        #expect(first.json == expected, "\(taskFile):\n\(first.rendered)")
        #expect(first.json == second.json, "output is byte-identical across runs")
        // Warm: rules prepared once, the task compiled twice.
        let ruleSet = try #require(RuleSet.load(directory: Repo.path("rules"), displayPath: "rules").0)
        let prepared = PreparedRules(ruleSet: ruleSet, catalog: Repo.catalog)
        let task = try #require(first.task)
        #expect(prepared.compile(task: task).json == expected)
        #expect(prepared.compile(task: task).json == expected)
        #expect(expected.hasSuffix("}\n") && !expected.hasSuffix("\n\n"))
    }
}
