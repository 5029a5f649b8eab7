import Foundation
import Testing

/// The `clawc` binary itself: exit codes, stdout only on success, usage errors exit 2.
@Suite struct CLITests {
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static var binary: URL {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("clawc")
        if FileManager.default.isExecutableFile(atPath: beside.path) { return beside }
        return Repo.root.appendingPathComponent(".build/debug/clawc")
    }

    static func run(_ arguments: [String]) throws -> Run {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.currentDirectoryURL = Repo.root
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
    }

    @Test func compilesTheShippedExample() throws {
        let run = try Self.run(["compile", "--rules", "rules", "--task", "golden/log-analysis/one-bucket.task.yaml"])
        let expected = try String(contentsOfFile: Repo.path("golden/log-analysis/one-bucket.policy.json"), encoding: .utf8)
        #expect(run.status == 0)
        #expect(run.stdout == expected)
        #expect(run.stderr.isEmpty)
    }

    @Test func explainGoesToStderrOnly() throws {
        // Run several times: an intermittent crash on this path was seen once and must not come back.
        for _ in 0..<4 {
            let again = try Self.run(["compile", "--rules", "rules", "--task", "golden/inventory-query/eu-west-1.task.yaml", "--explain"])
            #expect(again.status == 0, "\(again.stderr)")
        }
        let run = try Self.run(["compile", "--rules", "rules", "--task", "golden/log-analysis/one-bucket.task.yaml", "--explain"])
        #expect(run.status == 0)
        #expect(run.stderr.contains("explain: target-narrowing:"))
        #expect(!run.stdout.contains("explain"))
    }

    @Test func diagnosticsExitOneWithNothingOnStdout() throws {
        let run = try Self.run(["compile", "--rules", "rules", "--task", "Tests/ClawcTests/CorpusSamples/unknown-purpose.task.yaml"])
        #expect(run.status == 1)
        #expect(run.stdout.isEmpty)
        #expect(run.stderr.contains("Tests/ClawcTests/CorpusSamples/unknown-purpose.task.yaml:2:10: error: no rule has purpose `log-analysys` [unknown-purpose]"))
        #expect(run.stderr.contains("help: did you mean `log-analysis`?"))
    }

    @Test(arguments: [
        ["compile", "--task", "x.yaml"],
        ["compile", "--rules", "rules", "--task", "x.yaml", "--max-chars", "ten"],
        ["compile", "--rules", "rules", "--task", "x.yaml", "--max-chars", "5"],
        ["compile", "--rules", "rules", "--task", "x.yaml", "--bogus"],
        ["frobnicate"],
    ])
    func usageErrorsExitTwo(arguments: [String]) throws {
        let run = try Self.run(arguments)
        #expect(run.status == 2, "\(arguments): \(run.stderr)")
        #expect(run.stdout.isEmpty)
    }

    /// 50 processes opening one new ledger at once: each must wait for the others' setup, none may fail.
    /// `sweep` sets the new ledger up and, finding nothing to do, makes no IAM call (the endpoint is a closed port);
    /// `audit verify` never creates a ledger, so it checks the result afterwards.
    @Test func fiftyProcessesOpenANewLedgerAtOnce() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let ledger = dir.appendingPathComponent("ledger.sqlite").path
        let environment = ["AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_ENDPOINT_URL_IAM": "http://127.0.0.1:9"]
        let runs = try await withThrowingTaskGroup(of: ProcessRun.self) { group in
            for _ in 0..<50 {
                group.addTask { try runClawc(["sweep", "--ledger", ledger], environment: environment) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let failed = runs.filter { $0.status != 0 }
        #expect(failed.isEmpty, "\(failed.map(\.stderr).prefix(3))")
        let verify = try runClawc(["audit", "verify", "--ledger", ledger])
        #expect(verify.status == 0, "\(verify.stderr)")
        #expect(verify.stderr.contains("audit log intact: 0 record(s)"), "\(verify.stderr)")
    }

    /// Help text is part of the product: snapshot it. `CLAWC_RECORD=1` writes the snapshots anew; review the diff.
    @Test(arguments: [[], ["compile"], ["check"], ["diff"], ["issue"], ["serve"], ["revoke"], ["sweep"], ["audit", "verify"], ["audit", "head"], ["ledger", "migrate"], ["ledger", "status"], ["emit", "trust-policy"], ["emit", "postgres-schema"]])
    func helpMatchesItsSnapshot(command: [String]) throws {
        let run = try Self.run(command + ["--help"])
        #expect(run.status == 0)
        let name = command.isEmpty ? "clawc" : command.joined(separator: "-")
        let path = Repo.path("Tests/ClawcTests/CorpusSamples/help/\(name).txt")
        if ProcessInfo.processInfo.environment["CLAWC_RECORD"] == "1" {
            try FileManager.default.createDirectory(atPath: Repo.path("Tests/ClawcTests/CorpusSamples/help"), withIntermediateDirectories: true)
            try run.stdout.write(toFile: path, atomically: true, encoding: .utf8)
            return
        }
        let expected = try? String(contentsOfFile: path, encoding: .utf8)
        #expect(run.stdout == expected, "help for `\(name)` changed; run with CLAWC_RECORD=1 and review:\n\(run.stdout)")
    }

    @Test func helpExitsZero() throws {
        let run = try Self.run(["compile", "--help"])
        #expect(run.status == 0)
        #expect(run.stdout.contains("--max-chars"))
    }
}
