import Foundation
import Testing

/// `clawc compile` and `clawc check` read their usual command lines without argument-parser (`QuickArguments`, for
/// cold-start time). The fast path must mean exactly what argument-parser means: each command line here is run
/// as written and again with a trailing `--`, which argument-parser accepts and the fast path never does, and the
/// two runs must print the same bytes and exit the same way.
@Suite struct QuickArgumentsTests {
    static let task = "golden/log-analysis/one-bucket.task.yaml"

    static func commandLines(scratch: String) -> [[String]] {
        let compile = ["compile", "--rules", "rules", "--task", task]
        return [
            compile,
            ["compile", "--task", task, "--rules", "rules"],
            ["compile", "--rules=rules", "--task=\(task)"],
            compile + ["--max-chars", "300"],
            compile + ["--max-chars=100000"],
            compile + ["--max-chars", "0100"],
            compile + ["--max-chars", "+500"],
            compile + ["--explain"],
            compile + ["--target", "aws", "--explain"],
            compile + ["--target=postgres"],
            ["compile", "--rules", "rules", "--task", "golden/order-report/one-tenant.task.yaml", "--target", "postgres"],
            ["compile", "--rules", "rules", "--task", "golden/order-report/one-tenant.task.yaml", "--target", "postgres", "--explain"],
            ["compile", "--rules", "rules", "--task", "golden/log-analysis/objects-only.task.json"],
            compile + ["--catalog", "Sources/ClawcCatalog/Resources/catalog"],
            compile + ["--catalog", "no-such-catalog"],
            ["compile", "--rules", "no-such-rules", "--task", task],
            ["compile", "--rules", "rules", "--task", "no-such-task.yaml"],
            ["compile", "--rules", "rules", "--task", "rules/log-analysis.yaml"],
            ["check"],
            ["check", "--rules", "rules", "--golden", "golden"],
            ["check", "--format", "github"],
            ["check", "--format=sarif"],
            ["check", "--golden", "no-such-golden"],
            ["check", "--rules", "golden", "--golden", "golden"],
            ["check", "--golden", scratch, "--update"],
        ]
    }

    @Test func theFastPathMeansWhatArgumentParserMeans() throws {
        let scratch = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        try FileManager.default.copyItem(at: Repo.root.appendingPathComponent("golden/log-analysis"), to: scratch.appendingPathComponent("cases"))
        for arguments in Self.commandLines(scratch: scratch.appendingPathComponent("cases").path) {
            let quick = try runClawc(arguments), full = try runClawc(arguments + ["--"])
            #expect(quick.status == full.status, "\(arguments)")
            #expect(quick.stdout == full.stdout, "\(arguments)")
            #expect(quick.stderr == full.stderr, "\(arguments)")
        }
    }

    /// Command lines outside the fast path's narrow form: argument-parser reads them and refuses them as before.
    @Test(arguments: [
        ["compile", "--rules", "rules", "--task", task, "--max-chars", "99"],
        ["compile", "--rules", "rules", "--task", task, "--max-chars", "many"],
        ["compile", "--rules", "rules", "--task", task, "--target", "AWS"],
        ["compile", "--rules", "rules", "--task", task, "--bogus"],
        ["compile", "--rules", "rules", "--task", task, "--explain=yes"],
        ["compile", "--rules", "rules"],
        ["compile", "--rules", "rules", "--task"],
        ["compile", "--rules", "rules", "--task", task, "extra"],
        ["check", "--format", "xml"],
        ["check", "--frmat", "text"],
        ["check", "--update=now"],
    ])
    func usageErrorsStayArgumentParsers(arguments: [String]) throws {
        let run = try runClawc(arguments)
        #expect(run.status == 2, "\(arguments): \(run.stderr)")
        #expect(run.stdout.isEmpty)
        #expect(run.stderr.contains("Usage: clawc \(arguments[0])"), "\(run.stderr)")
    }

    /// `--version` alone is answered by the fast path; with anything after it, by argument-parser.
    @Test func theVersionIsTheSameEitherWay() throws {
        let quick = try runClawc(["--version"]), full = try runClawc(["--version", "--"])
        #expect(quick.status == 0 && full.status == 0)
        #expect(quick.stdout == full.stdout && quick.stderr == full.stderr, "\(quick) \(full)")
        #expect(quick.stdout.range(of: #"^\d+\.\d+\.\d+\n$"#, options: .regularExpression) != nil, "\(quick.stdout)")
    }

    @Test func helpStaysArgumentParsers() throws {
        let run = try runClawc(["compile", "--rules", "rules", "--task", Self.task, "--help"])
        #expect(run.status == 0)
        #expect(run.stdout.contains("USAGE: clawc compile"), "\(run.stdout)")
    }
}
