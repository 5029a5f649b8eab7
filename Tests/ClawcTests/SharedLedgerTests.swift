import ClawcRuntime
import Foundation
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

extension PeerSuites {
/// One task, one credential, with many issuers on one PostgreSQL ledger: `clawc issue` processes on three lanes
/// (three nodes) racing for the same tasks, editing one role's trust policy at once, and a server that crashes
/// mid-run. Credentials are counted at the STS side (`Tests/peers/chaos_sts.py --only ok`, which records every one it
/// makes), trust policies read back from moto's IAM.
@Suite(.enabled(if: TestPostgres.available, "CLAWC_TEST_POSTGRES is unset: no PostgreSQL server to test against"))
struct SharedLedgerTests {
    typealias Job = FaultInjectionTests.Job
    let peers: Peers
    let dir: URL

    init() throws {
        peers = try Peers.withNormalKeys()
        dir = try temporaryDirectory()
    }

    /// Runs a shell command to its end with posix_spawn and waitpid, output (stdout and stderr) from a file. Not
    /// Foundation's `Process`: a server the command leaves running (pg_ctl's) would keep `waitUntilExit` waiting.
    static func shell(_ command: String) -> (status: Int32, output: String) {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("clawc-shell-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        let arguments = ["/bin/sh", "-c", "exec </dev/null >'\(file)' 2>&1; \(command)"]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, "/bin/sh", nil, nil, &argv, environ) == 0 else { return (-1, "cannot start /bin/sh") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let output = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        return ((status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f), output)
    }

    /// A counting STS that always issues, after `delay` seconds.
    func countingSTS(delay: Double = 0) throws -> (url: String, stop: () -> Void) {
        let (sts, stdin, object) = try Peers.launch("Tests/peers/chaos_sts.py", arguments: ["--only", "ok", "--delay", String(delay)])
        guard let url = object["url"] else { throw TestPostgres.Failure(description: "chaos_sts did not start") }
        return (url, {
            try? stdin.fileHandleForWriting.close()
            kill(sts.processIdentifier, SIGKILL)
        })
    }

    func issued(by sts: String) throws -> [String: [String]] {
        try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(string: sts + "/issued")!)) as? [String: [String]] ?? [:]
    }

    func taskFile(_ task: String) throws -> String {
        let file = dir.appendingPathComponent("\(task).yaml")
        try "taskId: \(task)\npurpose: log-analysis\ntags: {bucket: acme-logs-123}\n".write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }

    func issueCommand(ledger: String, files: [String: String], extra: [String] = ["--no-trust-policy"], role: String = "arn:aws:iam::123456789012:role/agents")
        -> @Sendable (Job) -> [String]
    {
        let rules = Repo.path("rules"), issuer = peers.issuer.absoluteString
        return { job in
            ["issue", "--rules", rules, "--task", files[job.task] ?? "", "--token-file", job.token, "--role-arn", role, "--issuer", issuer,
             "--ledger", ledger, "--explain"] + extra
        }
    }

    static func heads(in outcomes: [FaultInjectionTests.Outcome]) -> [(Int64, String)] {
        outcomes.flatMap { outcome in
            outcome.stderr.split(separator: "\n").compactMap { line -> (Int64, String)? in
                guard line.hasPrefix("explain: audit head: ") else { return nil }
                let parts = line.dropFirst("explain: audit head: ".count).split(separator: " ")
                guard parts.count == 2, let seq = Int64(parts[0]) else { return nil }
                return (seq, String(parts[1]))
            }
        }
    }

    static func printed(_ outcome: FaultInjectionTests.Outcome) -> (session: String, key: String)? {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8))) as? [String: Any],
            let session = object["SessionName"] as? String, let key = object["AccessKeyId"] as? String
        else { return nil }
        return (session, key)
    }

    /// 300 requests for 100 tasks from three nodes at once, three racers per task with the same token (half without
    /// `jti`): exactly 100 credentials at STS, the other 200 answers `already-issued` or the winner's credential handed
    /// back, no error, and the chain verifies against the last head any node reported.
    @Test(.timeLimit(.minutes(5)))
    func threeNodesIssuingThreeHundredRequestsForAHundredTasks() async throws {
        let (url, drop) = try await TestPostgres.freshDatabase()
        // STS answers after 150 ms, so racers for a task also arrive while the winner's outcome is unknown.
        let (sts, stop) = try countingSTS(delay: 0.15)
        defer { stop() }
        var files: [String: String] = [:]
        var lanes: [[Job]] = [[], [], []]
        var tokens: [String: String] = [:]
        for index in 0..<100 {
            let task = String(format: "shared-%03d", index)
            files[task] = try taskFile(task)
            tokens[task] = try writeToken(try peers.mint(index % 2 == 0 ? ["task": task] : ["jti": NSNull(), "task": task]), in: dir)
        }
        // The three lanes take the tasks in the same order, so the racers for a task run at the same moment.
        for lane in 0..<3 {
            lanes[lane] = files.keys.sorted().map { Job(task: $0, token: tokens[$0]!, kill: nil) }
        }
        let command = issueCommand(ledger: url, files: files)
        let environment = ["AWS_ENDPOINT_URL_STS": sts, "AWS_REGION": "us-east-1"]
        // Three nodes: three lanes of processes at once, each lane one process at a time.
        let outcomes = await withTaskGroup(of: [FaultInjectionTests.Outcome].self) { group in
            for jobs in lanes {
                group.addTask { FaultInjectionTests.run(jobs, lanes: 1, environment: environment, command: command) }
            }
            return await group.reduce(into: []) { $0 += $1 }
        }
        #expect(outcomes.count == 300)

        let made = try issued(by: sts)
        #expect(made.count == 100, "STS made credentials for \(made.count) sessions")
        #expect(made.values.allSatisfy { $0.count == 1 }, "\(made.filter { $0.value.count > 1 })")
        var refused = 0
        var keysByTask: [String: Set<String>] = [:]
        for outcome in outcomes {
            if outcome.status == 0, let (session, key) = Self.printed(outcome) {
                #expect(made[session] == [key], "\(outcome.job.task) printed \(key), STS made \(made[session] ?? [])")
                keysByTask[outcome.job.task, default: []].insert(key)
            } else if outcome.status == 1, outcome.stderr.contains("[already-issued]") {
                refused += 1
                #expect(outcome.stdout.isEmpty)
            } else {
                Issue.record("\(outcome.job.task): exit \(outcome.status): \(outcome.stderr)")
            }
        }
        let winners = keysByTask.count
        let idempotent = outcomes.filter { $0.status == 0 }.count - winners
        #expect(winners == 100)
        #expect(keysByTask.values.allSatisfy { $0.count == 1 }, "a task was printed two credentials")
        #expect(refused + idempotent == 200, "\(refused) already-issued, \(idempotent) handed back")
        print("shared ledger: 300 requests, 100 credentials, \(refused) already-issued, \(idempotent) handed back the same credential")

        let head = try runClawc(["audit", "head", "--ledger", url])
        #expect(head.status == 0, "\(head.stderr)")
        let anchor = head.stdout.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: " ", with: ":")
        let verify = try runClawc(["audit", "verify", "--ledger", url, "--expect-head", anchor])
        #expect(verify.status == 0, "\(verify.stderr)")
        let ledger = try TestPostgres.ledger(url, create: false)
        for (seq, hash) in Self.heads(in: outcomes) {
            if case .broken(let at, let why) = try await ledger.verifyAudit(expecting: (seq, hash)) { Issue.record("head \(seq): record \(at): \(why)") }
        }
        #expect(try await ledger.entries(in: [.pending]).count == 100)
        await ledger.close()
        await drop()
    }

    /// 60 tasks issued from three nodes at once, each adding its task ID to one role's trust policy: the role's
    /// policy, read back from IAM, lists all 60.
    @Test(.timeLimit(.minutes(5)))
    func concurrentTrustPolicyEditsFromThreeNodesLoseNoEntry() async throws {
        let (url, drop) = try await TestPostgres.freshDatabase()
        let roleName = "shared-\(UUID().uuidString.prefix(8))"
        let emitted = try runClawc(["emit", "trust-policy", "--provider-arn", "arn:aws:iam::123456789012:oidc-provider/127.0.0.1"])
        let roleARN = try RevocationTests.boto(peers, """
            r = iam.create_role(RoleName=sys.argv[2], AssumeRolePolicyDocument=sys.argv[3])
            print(r["Role"]["Arn"])
            """, [roleName, emitted.stdout])
        var files: [String: String] = [:]
        var lanes: [[Job]] = [[], [], []]
        for index in 0..<60 {
            let task = String(format: "edit-%02d", index)
            files[task] = try taskFile(task)
            lanes[index % 3].append(Job(task: task, token: try writeToken(try peers.mint(), in: dir), kill: nil))
        }
        let command = issueCommand(ledger: url, files: files, extra: ["--trust-policy-limit", "20000"], role: roleARN)
        var environment = RevocationTests.orchestrator
        environment["AWS_ENDPOINT_URL_STS"] = peers.sts.absoluteString
        environment["AWS_ENDPOINT_URL_IAM"] = peers.sts.absoluteString
        let env = environment
        let outcomes = await withTaskGroup(of: [FaultInjectionTests.Outcome].self) { group in
            for jobs in lanes {
                group.addTask { FaultInjectionTests.run(jobs, lanes: 1, environment: env, command: command) }
            }
            return await group.reduce(into: []) { $0 += $1 }
        }
        for outcome in outcomes {
            #expect(outcome.status == 0, "\(outcome.job.task): \(outcome.stderr)")
            #expect(!outcome.stderr.contains("warning"), "\(outcome.job.task): \(outcome.stderr)")
        }
        let document = try RevocationTests.boto(peers, """
            doc = iam.get_role(RoleName=sys.argv[2])["Role"]["AssumeRolePolicyDocument"]
            print(doc if isinstance(doc, str) else json.dumps(doc))
            """, [roleName])
        let denied = try TrustPolicy.revokedTaskIDs(in: document)
        #expect(denied == Set(files.keys), "missing from the trust policy: \(Set(files.keys).subtracting(denied).sorted())")
        let ledger = try TestPostgres.ledger(url, create: false)
        #expect(try await ledger.entries(in: [.sealed]).count == 60)
        #expect(try await TestPostgres.sql(url, "SELECT sum(version)::text FROM clawc.role_edits") == "60", "one counted edit per task")
        await ledger.close()
        await drop()
    }

    /// The server is killed (`pg_ctl stop -m immediate`) while three lanes issue, and started again: requests while
    /// it is down are refused before STS, no task gets two credentials, nothing recorded is lost, and once it is
    /// back every refused task can be issued (or is refused because its begin had committed).
    @Test(.timeLimit(.minutes(5)))
    func aServerCrashMidRunLosesNothingAndIssuesNothingTwice() async throws {
        let server = try temporaryDirectory().appendingPathComponent("pg").path
        // Below Linux's ephemeral range (32768-60999): a port in it can be taken by any outgoing connection of a
        // test running beside this one between the pick and the server's bind ("Address already in use").
        let port = Int.random(in: 25_000...29_999)
        let pg = Repo.path("Tests/peers/pg.sh")
        let started = Self.shell("\(pg) start \(server) \(port)")
        try #require(started.status == 0, "\(started.output)")
        defer { _ = Self.shell("\(pg) stop \(server)") }
        let url = TestPostgres.url(started.output.trimmingCharacters(in: .whitespacesAndNewlines), database: "postgres", query: "sslmode=disable")
        let (sts, stop) = try countingSTS()
        defer { stop() }
        var files: [String: String] = [:], tokens: [String: String] = [:]
        var lanes: [[Job]] = [[], [], []]
        for index in 0..<150 {
            let task = String(format: "crash-%03d", index)
            files[task] = try taskFile(task)
            tokens[task] = try writeToken(try peers.mint(index % 2 == 0 ? ["task": task] : ["jti": NSNull(), "task": task]), in: dir)
            lanes[index % 3].append(Job(task: task, token: tokens[task]!, kill: nil))
        }
        let command = issueCommand(ledger: url, files: files)
        let environment = ["AWS_ENDPOINT_URL_STS": sts, "AWS_REGION": "us-east-1"]

        // The crash: once the first tasks are through, the server stops at once; two seconds later it is back.
        let crash = Thread {
            Thread.sleep(forTimeInterval: 4)
            _ = Self.shell("\(pg) stop \(server)")
            Thread.sleep(forTimeInterval: 2)
            _ = Self.shell("\(pg) resume \(server) \(port)")
        }
        crash.start()
        let outcomes = await withTaskGroup(of: [FaultInjectionTests.Outcome].self) { group in
            for jobs in lanes {
                group.addTask { FaultInjectionTests.run(jobs, lanes: 1, environment: environment, command: command) }
            }
            return await group.reduce(into: []) { $0 += $1 }
        }
        while !crash.isFinished { try await Task.sleep(for: .milliseconds(100)) }
        let afterFirstRound = try issued(by: sts)

        // Every request was issued, or refused: by the ledger being down (before STS), or as already issued.
        var unavailable: [Job] = []
        for outcome in outcomes {
            switch outcome.status {
            case 0: #expect(Self.printed(outcome) != nil, "\(outcome.job.task): \(outcome.stdout)")
            case 3 where outcome.stderr.contains("[ledger-unavailable]"):
                unavailable.append(outcome.job)
                #expect(outcome.stdout.isEmpty)
            case 1 where outcome.stderr.contains("[already-issued]"): break
            default: Issue.record("\(outcome.job.task): exit \(outcome.status): \(outcome.stderr)")
            }
        }
        print("shared ledger crash: \(outcomes.filter { $0.status == 0 }.count) issued, \(unavailable.count) refused while the server was down")
        #expect(!unavailable.isEmpty, "the crash came after every request: the test proved nothing")
        #expect(outcomes.filter { $0.status == 0 }.count > 0)
        // Refused for the ledger means refused before STS: no credential exists for those tasks' sessions.
        for job in unavailable {
            #expect(!afterFirstRound.keys.contains { $0.hasSuffix("@" + job.task) },
                    "task \(job.task) was refused for the ledger but STS issued for it")
        }

        // The server is back: the refused tasks again, with the same tokens.
        let retried = FaultInjectionTests.run(unavailable, lanes: 3, environment: environment, command: command)
        for outcome in retried {
            #expect(outcome.status == 0 || (outcome.status == 1 && outcome.stderr.contains("[already-issued]")),
                    "\(outcome.job.task): exit \(outcome.status): \(outcome.stderr)")
        }
        let made = try issued(by: sts)
        #expect(made.values.allSatisfy { $0.count == 1 }, "a task got two credentials: \(made.filter { $0.value.count > 1 })")
        // Nothing recorded was lost: every credential printed is in the ledger under its task, with its key, or the
        // task is `issuing` (its record did not commit) and swept later.
        let ledger = try TestPostgres.ledger(url, create: false)
        for outcome in outcomes + retried where outcome.status == 0 {
            guard let (_, key) = Self.printed(outcome) else { continue }
            let row = try await ledger.entry(task: outcome.job.task)
            #expect(row != nil, "\(outcome.job.task) was issued but has no ledger row")
            if let row, row.state != .issuing { #expect(row.accessKeyID == key, "\(outcome.job.task): ledger \(row.accessKeyID ?? "-"), printed \(key)") }
        }
        if case .broken(let seq, let why) = try await ledger.verifyAudit() { Issue.record("the chain broke at \(seq): \(why)") }
        await ledger.close()
    }
}
}
