import ClawcRuntime
import Foundation
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

extension PeerSuites {
/// One task, one credential, with the network failing as networks do: 200 `clawc issue` processes against an STS
/// stand-in (`Tests/peers/chaos_sts.py`) that answers late, resets, truncates, answers twice, fails with a 5xx or
/// refuses, while some clients are killed with SIGKILL mid-call. Counted at the STS side, in the worst case (every
/// answer but a documented refusal is a credential that exists), no task ever gets two.
@Suite struct FaultInjectionTests {
    let peers: Peers
    let dir: URL

    init() throws {
        peers = try Peers.withNormalKeys()
        dir = try temporaryDirectory()
    }

    struct Job: Sendable {
        var task: String
        var token: String
        var kill: TimeInterval?
    }

    struct Outcome: Sendable {
        var job: Job
        var status: Int32
        var killed: Bool
        var stdout: String
        var stderr: String
    }

    /// What the lanes share, under one lock.
    final class Shared: @unchecked Sendable {
        let lock = NSLock()
        var next = 0
        var outcomes: [Outcome] = []
        var killed: Set<Int32> = []
    }

    /// Runs the jobs on `lanes` threads (not the test pool: its waits block), killing a job's process with SIGKILL
    /// when it has a `kill` delay and is still running then.
    static func run(_ jobs: [Job], lanes: Int, environment extra: [String: String], command: @escaping @Sendable (Job) -> [String]) -> [Outcome] {
        let shared = Shared()
        let done = DispatchGroup()
        var environment = ProcessInfo.processInfo.environment
        for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "CLAWC_LEDGER", "CLAWC_AUDIT_KEY"] {
            environment[name] = nil
        }
        environment.merge(extra) { _, new in new }
        let childEnvironment = environment
        for _ in 0..<lanes {
            done.enter()
            let thread = Thread {
                while true {
                    let index: Int? = shared.lock.withLock {
                        guard shared.next < jobs.count else { return nil }
                        shared.next += 1
                        return shared.next - 1
                    }
                    guard let index else { break }
                    let job = jobs[index]
                    let process = Process()
                    process.executableURL = clawcBinary
                    process.arguments = command(job)
                    process.environment = childEnvironment
                    let out = Pipe(), err = Pipe()
                    process.standardOutput = out
                    process.standardError = err
                    guard (try? process.run()) != nil else { continue }
                    let pid = process.processIdentifier
                    if let delay = job.kill {
                        Thread {
                            Thread.sleep(forTimeInterval: delay)
                            if process.isRunning {
                                shared.lock.withLock { _ = shared.killed.insert(pid) }
                                kill(pid, SIGKILL)
                            }
                        }.start()
                    }
                    let stdout = out.fileHandleForReading.readDataToEndOfFile()
                    let stderr = err.fileHandleForReading.readDataToEndOfFile()
                    process.waitUntilExit()
                    shared.lock.withLock {
                        shared.outcomes.append(Outcome(
                            job: job, status: process.terminationStatus, killed: shared.killed.contains(pid),
                            stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self)))
                    }
                }
                done.leave()
            }
            thread.start()
        }
        done.wait()
        return shared.lock.withLock { shared.outcomes }
    }

    @Test(.timeLimit(.minutes(5)))
    func twoHundredIssuancesUnderFaultsNeverGiveATaskTwoCredentials() async throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["CLAWC_SEED"] ?? "") ?? UInt64.random(in: 1...1_000_000)
        print("fault injection: seed \(seed) (replay with CLAWC_SEED=\(seed))")
        let (chaos, stdin, object) = try Peers.launch("Tests/peers/chaos_sts.py", arguments: ["--seed", String(seed), "--late", "11"])
        defer {
            try? stdin.fileHandleForWriting.close()
            kill(chaos.processIdentifier, SIGKILL)
        }
        let sts = try #require(object["url"])
        let ledger = dir.appendingPathComponent("ledger.sqlite").path

        // 100 tasks, each tried twice: a second try must be refused unless the first was a documented refusal.
        // Half the tokens carry no `jti`. One first try in ten is killed between 50 ms and 1.5 s in.
        var random = SplitMix64(seed: seed)
        var taskFiles: [String: String] = [:]
        var first: [Job] = [], second: [Job] = []
        for index in 0..<100 {
            let task = "chaos-\(index)"
            let file = dir.appendingPathComponent("\(task).yaml")
            try "taskId: \(task)\npurpose: log-analysis\ntags: {bucket: acme-logs-123}\n".write(to: file, atomically: true, encoding: .utf8)
            taskFiles[task] = file.path
            let claims: [String: Any] = index % 2 == 0 ? [:] : ["jti": NSNull()]
            let kill = Int.random(in: 0..<10, using: &random) == 0 ? Double.random(in: 0.05...1.5, using: &random) : nil
            first.append(Job(task: task, token: try writeToken(try peers.mint(claims), in: dir), kill: kill))
            second.append(Job(task: task, token: try writeToken(try peers.mint(claims), in: dir), kill: nil))
        }
        let rules = Repo.path("rules"), issuer = peers.issuer.absoluteString
        let files = taskFiles
        let command: @Sendable (Job) -> [String] = { job in
            ["issue", "--rules", rules, "--task", files[job.task] ?? "", "--token-file", job.token,
             "--role-arn", "arn:aws:iam::123456789012:role/agents", "--issuer", issuer, "--ledger", ledger, "--no-trust-policy", "--explain"]
        }
        let environment = ["AWS_ENDPOINT_URL_STS": sts, "AWS_REGION": "us-east-1"]
        let outcomes = Self.run(first, lanes: 16, environment: environment, command: command)
            + Self.run(second, lanes: 16, environment: environment, command: command)
        #expect(outcomes.count == 200)

        // No crash: every process that was not killed ended 0 (issued), 1 (refused) or 3 (unknown or unavailable),
        // with nothing on stdout unless it issued.
        for outcome in outcomes where !outcome.killed {
            #expect([0, 1, 3].contains(outcome.status), "\(outcome.job.task): exit \(outcome.status): \(outcome.stderr)")
            if outcome.status != 0 { #expect(outcome.stdout.isEmpty, "\(outcome.job.task)") }
        }

        // At the STS side: no session name, hence no task, has two credentials.
        let issued = try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(string: sts + "/issued")!)) as? [String: [String]] ?? [:]
        let modes = try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(string: sts + "/modes")!)) as? [String: Int] ?? [:]
        print("fault injection: modes \(modes.sorted { $0.key < $1.key }), \(outcomes.filter(\.killed).count) killed")
        for (session, keys) in issued {
            #expect(keys.count == 1, "session `\(session)` got \(keys.count) credentials: \(keys)")
        }

        // Every task with a credential at STS is accounted for in the ledger: recorded (`revocation-pending`; no
        // trust policy here), or `issuing` and reported by `clawc sweep`.
        let store = try Ledger(path: ledger, create: false)
        let rows = try await store.entries(in: Set(LedgerState.allCases))
        let bySession = Dictionary(rows.map { ($0.sessionName, $0) }, uniquingKeysWith: { a, _ in a })
        try await Task.sleep(for: .milliseconds(1100))  // `--stale-after 0` counts whole seconds
        let sweep = try runClawc(["sweep", "--ledger", ledger, "--stale-after", "0"],
                                 environment: ["AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": ""])
        for (session, keys) in issued {
            guard let row = bySession[session] else {
                Issue.record("STS issued \(keys) for session `\(session)`, which the ledger does not know")
                continue
            }
            switch row.state {
            case .pending:
                #expect(row.accessKeyID == keys.first, "task `\(row.taskID)`: the ledger recorded \(row.accessKeyID ?? "nothing"), STS made \(keys)")
            case .issuing:
                #expect(sweep.stderr.contains(row.taskID), "task `\(row.taskID)` is issuing but sweep did not report it: \(sweep.stderr)")
            default:
                Issue.record("task `\(row.taskID)` has a credential at STS but is `\(row.state.rawValue)` in the ledger")
            }
        }
        // What clawc printed is what STS made for that task, and only tasks STS made one for printed anything.
        for outcome in outcomes where outcome.status == 0 && !outcome.killed {
            let printed = (try? JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8))) as? [String: Any]
            let session = printed?["SessionName"] as? String ?? ""
            #expect(issued[session]?.first == printed?["AccessKeyId"] as? String, "\(outcome.job.task): \(outcome.stdout)")
        }

        // Every head an issuance reported is in the final chain, unchanged.
        var heads: [(Int64, String)] = []
        for outcome in outcomes {
            for line in outcome.stderr.split(separator: "\n") where line.hasPrefix("explain: audit head: ") {
                let parts = line.dropFirst("explain: audit head: ".count).split(separator: " ")
                if parts.count == 2, let seq = Int64(parts[0]) { heads.append((seq, String(parts[1]))) }
            }
        }
        #expect(heads.count >= outcomes.filter { $0.status == 0 }.count)
        for head in heads {
            #expect(try await store.verifyAudit(expecting: head) == .intact(records: Int(try await store.auditHead()?.seq ?? 0)), "head \(head)")
        }
        if let last = heads.max(by: { $0.0 < $1.0 }) {
            let verify = try runClawc(["audit", "verify", "--ledger", ledger, "--expect-head", "\(last.0):\(last.1)"])
            #expect(verify.status == 0, "\(verify.stderr)")
        }
    }
}
}
