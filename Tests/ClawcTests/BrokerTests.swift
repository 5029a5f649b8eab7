import Foundation
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One `clawc serve` process, on a free port it reports in its first log line. Stopped with SIGTERM (the drain path)
/// or SIGKILL; started with posix_spawn, stderr to a file, so nothing waits on a pipe.
final class BrokerProcess: @unchecked Sendable {
    let pid: pid_t
    let log: String
    let url: String

    init(_ arguments: [String], environment: [String: String]) throws {
        log = FileManager.default.temporaryDirectory.appendingPathComponent("clawc-serve-\(UUID().uuidString).log").path
        var env = ProcessInfo.processInfo.environment
        for key in env.keys where key.hasPrefix("AWS_") || key.hasPrefix("CLAWC_") { env[key] = nil }
        for (key, value) in environment { env[key] = value }
        let argv0 = [clawcBinary.path, "serve", "--listen", "127.0.0.1:0"] + arguments
        let command = "exec </dev/null >/dev/null 2>'\(log)'; exec " + argv0.map { "'\($0.replacingOccurrences(of: "'", with: "'\\''"))'" }.joined(separator: " ")
        let words: [String] = ["/bin/sh", "-c", command]
        var argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in envp { free(pointer) } }
        var child: pid_t = 0
        guard posix_spawn(&child, "/bin/sh", nil, nil, &argv, &envp) == 0 else { throw Peers.PeersError(description: "cannot start clawc serve") }
        pid = child
        let deadline = Date().addingTimeInterval(30)
        var found: String?
        while Date() < deadline, found == nil {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first(where: { $0.contains("\"message\":\"listening\"") }),
                let range = line.range(of: "\"address\":\"127.0.0.1:") {
                found = String(line[range.upperBound...].prefix { $0.isNumber })
            }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { break }
            if found == nil { usleep(50_000) }
        }
        guard let found else {
            kill(pid, SIGKILL)
            throw Peers.PeersError(description: "clawc serve did not start: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        }
        url = "http://127.0.0.1:\(found)"
    }

    var logText: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    /// Sends `signal` and waits (up to `seconds`) for the exit status; SIGKILL after that.
    private let lock = NSLock()
    private var exitStatus: Int32?

    /// Sends `signal` and waits (up to `seconds`) for the exit status; SIGKILL after that. Once the process was
    /// reaped, its status is returned at once.
    @discardableResult
    func stop(_ signal: Int32 = SIGKILL, seconds: Double = 15) -> Int32 {
        lock.lock()
        defer { lock.unlock() }
        if let exitStatus { return exitStatus }
        kill(pid, signal)
        let deadline = Date().addingTimeInterval(seconds)
        var status: Int32 = 0
        var result: Int32 = -1
        while Date() < deadline {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid {
                result = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
                break
            }
            if reaped == -1 && errno != EINTR { break }
            usleep(20_000)
        }
        if result == -1 {
            kill(pid, SIGKILL)
            _ = waitpid(pid, &status, 0)
        }
        exitStatus = result
        return result
    }

    struct Answer {
        var status: Int
        var headers: [String: String]
        var body: String
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]) ?? [:] }
        var code: String { (json["error"] as? [String: Any])?["code"] as? String ?? "" }
    }

    func send(_ method: String = "POST", _ path: String = "/v1/credentials", headers: [String: String] = [:], body: Data? = nil) throws -> Answer {
        var request = URLRequest(url: URL(string: url + path)!)
        request.httpMethod = method
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        request.httpBody = body
        request.timeoutInterval = 30
        final class Box: @unchecked Sendable { var answer: Answer?; var error: Error? }
        let box = Box()
        let semaphore = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: request) { data, response, error in
            if let response = response as? HTTPURLResponse {
                var fields: [String: String] = [:]
                for (key, value) in response.allHeaderFields { fields[String(describing: key).lowercased()] = String(describing: value) }
                box.answer = Answer(status: response.statusCode, headers: fields, body: String(decoding: data ?? Data(), as: UTF8.self))
            }
            box.error = error
            semaphore.signal()
        }.resume()
        semaphore.wait()
        guard let answer = box.answer else { throw box.error ?? Peers.PeersError(description: "no answer") }
        return answer
    }

    func credentials(token: String, task: [String: Any], query: String = "") throws -> Answer {
        try send("POST", "/v1/credentials" + query, headers: ["Authorization": "Bearer \(token)", "Content-Type": "application/json"],
                 body: try JSONSerialization.data(withJSONObject: task))
    }
}

/// Runs blocking work (sockets, semaphores, waiting on child processes) on a thread of its own, never on Swift's
/// cooperative pool: a test that blocked a pool thread for seconds would stall every async test running beside it.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}

@Suite(.serialized)
struct BrokerTests {
    let peers: Peers
    let scoped: ScopedPeer
    let dir: URL

    init() throws {
        peers = try Peers.withNormalKeys()
        scoped = try ScopedPeer.get()
        dir = try temporaryDirectory()
    }

    /// The broker's own role session, registered with the GetScopedCredentials peer, as the AWS environment.
    func scopedEnvironment() throws -> [String: String] {
        let session = try scoped.session(arn: "arn:aws:sts::123456789012:assumed-role/broker/b-\(UUID().uuidString.prefix(6))", expiresIn: 7200)
        return [
            "AWS_ACCESS_KEY_ID": session["AccessKeyId"] ?? "", "AWS_SECRET_ACCESS_KEY": session["SecretAccessKey"] ?? "",
            "AWS_SESSION_TOKEN": session["SessionToken"] ?? "", "AWS_CREDENTIAL_EXPIRATION": session["Expiration"] ?? "",
            "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_STS": scoped.url.absoluteString,
        ]
    }

    func broker(ledger: String? = nil, rules: String = Repo.path("rules"), extra: [String] = []) throws -> BrokerProcess {
        try BrokerProcess(["--rules", rules, "--issuer", peers.issuer.absoluteString,
                           "--ledger", ledger ?? dir.appendingPathComponent("ledger-\(UUID().uuidString).sqlite").path] + extra,
                          environment: try scopedEnvironment())
    }

    static func task(_ id: String, tags: [String: Any] = ["bucket": "acme-logs-123"]) -> [String: Any] {
        ["taskId": id, "purpose": "log-analysis", "tags": tags]
    }

    func token(_ claims: [String: Any] = [:]) throws -> String {
        var claims = claims
        if claims["aud"] == nil { claims["aud"] = "clawc" }
        return try peers.mint(claims)
    }

    /// Successful GetScopedCredentials calls the peer saw for a task.
    func stsIssued(task: String) throws -> Int {
        try scoped.calls(forTask: task).count
    }

    /// Runs Tests/peers/openapi_check.py over answers: each must be a documented status with a body of its schema.
    static func checkAgainstOpenAPI(_ answers: [(method: String, path: String, answer: BrokerProcess.Answer)]) throws -> ProcessRun {
        let lines = try answers.map { item -> String in
            let object: [String: Any] = ["method": item.method, "path": item.path, "status": item.answer.status,
                                         "content_type": item.answer.headers["content-type"] ?? "", "body": item.answer.body]
            return String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        }.joined(separator: "\n")
        let input = FileManager.default.temporaryDirectory.appendingPathComponent("clawc-openapi-\(UUID().uuidString).jsonl")
        try lines.write(to: input, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: input) }
        return try runProgram(URL(fileURLWithPath: "/bin/sh"), ["-c", "exec python3 '\(Repo.path("Tests/peers/openapi_check.py"))' < '\(input.path)'"])
    }

    @Test func scopedBrokerIssuesOnceAndHandsBackTheSameCredentialToARetry() async throws {
        try await offPool { try self.scopedBrokerIssuesOnceAndHandsBackTheSameCredentialToARetryBlocking() }
    }

    func scopedBrokerIssuesOnceAndHandsBackTheSameCredentialToARetryBlocking() throws {
        let node = try broker()
        defer { node.stop() }
        #expect(try node.send("GET", "/healthz").status == 200)
        let ready = try node.send("GET", "/readyz")
        #expect(ready.status == 200, "\(ready.body)")
        let token = try token()
        let id = "bk-\(UUID().uuidString.prefix(8))"
        let first = try node.credentials(token: token, task: Self.task(id))
        #expect(first.status == 200, "\(first.body)")
        #expect(first.json["TaskId"] as? String == id)
        let key = first.json["AccessKeyId"] as? String
        #expect(key?.hasPrefix("ASIA") == true)
        // The same token and task again: the same credential, as credential_process output this time.
        let again = try node.credentials(token: token, task: Self.task(id), query: "?format=credential-process")
        #expect(again.status == 200 && again.json["Version"] as? Int == 1 && again.json["AccessKeyId"] as? String == key, "\(again.body)")
        // Another token for the same task: never a second credential.
        let other = try node.credentials(token: try self.token(), task: Self.task(id))
        #expect(other.status == 409 && other.code == "already-issued", "\(other.body)")
        #expect(try stsIssued(task: id) == 1)
        // A token for STS's audience is not for the broker.
        let stsToken = try node.credentials(token: try peers.mint(), task: Self.task("bk-aud-\(UUID().uuidString.prefix(6))"))
        #expect(stsToken.status == 401 && stsToken.code == "token-audience", "\(stsToken.body)")
        // A subject the rule's callers do not list.
        let stranger = try node.credentials(token: try self.token(["sub": "repo:evil/agent:ref:main"]), task: Self.task("bk-403-\(UUID().uuidString.prefix(6))"))
        #expect(stranger.status == 403 && stranger.code == "caller-not-allowed", "\(stranger.body)")
        let metrics = try node.send("GET", "/metrics")
        #expect(metrics.body.contains("clawc_issuances_total{purpose=\"log-analysis\",outcome=\"issued\"} 1"), "\(metrics.body)")
        #expect(metrics.body.contains("clawc_issue_duration_seconds_count"))
        let conformance = try BrokerTests.checkAgainstOpenAPI([
            ("POST", "/v1/credentials", first), ("POST", "/v1/credentials", again), ("POST", "/v1/credentials", other),
            ("POST", "/v1/credentials", stsToken), ("POST", "/v1/credentials", stranger), ("GET", "/readyz", ready), ("GET", "/metrics", metrics),
        ])
        #expect(conformance.status == 0, "\(conformance.stdout)\(conformance.stderr)")
        // Log lines are JSON and carry no secret.
        let log = node.logText
        #expect(!log.contains(token) && !log.contains(first.json["SecretAccessKey"] as? String ?? "?"))
        for line in log.split(separator: "\n") {
            #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) != nil, "not a JSON line: \(line)")
        }
    }

    /// Each hostile request gets its 4xx with a JSON error, and nothing reaches STS.
    @Test func hostileRequestsGetTheirStatusAndIssueNothing() async throws {
        try await offPool { try self.hostileRequestsGetTheirStatusAndIssueNothingBlocking() }
    }

    func hostileRequestsGetTheirStatusAndIssueNothingBlocking() throws {
        let node = try broker()
        defer { node.stop() }
        let token = try token()
        // Other suites use the same STS peer at the same time: count only this test's tasks (`hostile-…`).
        func hostileCalls() throws -> Int { try scoped.calls().filter { String(describing: $0).contains("task=hostile") }.count }
        let json = ["Authorization": "Bearer \(token)", "Content-Type": "application/json"]
        let body = try JSONSerialization.data(withJSONObject: Self.task("hostile-1"))
        var forged = token.split(separator: ".").map(String.init)
        forged[2] = String(forged[2].reversed())
        let cases: [(String, BrokerProcess.Answer, Int, String)] = [
            ("no content type", try node.send(headers: ["Authorization": "Bearer \(token)"], body: body), 415, "unsupported-media-type"),
            ("text body", try node.send(headers: ["Authorization": "Bearer \(token)", "Content-Type": "text/plain"], body: body), 415, "unsupported-media-type"),
            ("no token", try node.send(headers: ["Content-Type": "application/json"], body: body), 401, "missing-token"),
            ("basic auth", try node.send(headers: ["Authorization": "Basic YTpi", "Content-Type": "application/json"], body: body), 401, "missing-token"),
            ("forged signature", try node.send(headers: ["Authorization": "Bearer " + forged.joined(separator: "."), "Content-Type": "application/json"], body: body),
             401, "token-signature"),
            ("garbage token", try node.send(headers: ["Authorization": "Bearer not.a.jwt", "Content-Type": "application/json"], body: body), 401, "token-malformed"),
            ("bad json", try node.send(headers: json, body: Data("{\"taskId\": ".utf8)), 400, "bad-json"),
            ("duplicate key", try node.send(headers: json, body: Data("{\"taskId\":\"a\",\"taskId\":\"b\",\"purpose\":\"log-analysis\"}".utf8)), 400, "bad-json"),
            ("a list", try node.send(headers: json, body: Data("[1,2]".utf8)), 400, "bad-json"),
            ("deep", try node.send(headers: json, body: Data((String(repeating: "{\"a\":", count: 40) + "1" + String(repeating: "}", count: 40)).utf8)), 400, "bad-json"),
            ("not utf-8", try node.send(headers: json, body: Data([0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D])), 400, "bad-json"),
            ("oversize", try node.send(headers: json, body: Data(("{\"taskId\":\"" + String(repeating: "a", count: 70_000) + "\"}").utf8)), 413, "body-too-large"),
            ("wrong type", try node.credentials(token: token, task: ["taskId": "hostile-0", "purpose": "log-analysis", "tags": ["x"]]), 400, "wrong-type"),
            ("wildcard slot", try node.credentials(token: token, task: Self.task("hostile-2", tags: ["bucket": "acme-logs-*"])), 400, ""),
            ("policy variable slot", try node.credentials(token: token, task: Self.task("hostile-3", tags: ["bucket": "acme-logs-${aws:username}"])), 400, ""),
            ("quote in task id", try node.credentials(token: token, task: Self.task("t\"; DROP TABLE issuance; --")), 400, ""),
            ("unknown purpose", try node.credentials(token: token, task: ["taskId": "hostile-4", "purpose": "everything"]), 400, ""),
            ("unknown format", try node.credentials(token: token, task: Self.task("hostile-5"), query: "?format=env"), 400, "bad-request"),
            ("unknown query", try node.credentials(token: token, task: Self.task("hostile-6"), query: "?debug=1"), 400, "bad-request"),
            ("wrong method", try node.send("GET", "/v1/credentials"), 405, "method-not-allowed"),
            ("unknown path", try node.send("GET", "/admin"), 404, "not-found"),
        ]
        for (name, answer, status, code) in cases {
            #expect(answer.status == status, "\(name): \(answer.status) \(answer.body)")
            if !code.isEmpty { #expect(answer.code == code, "\(name): \(answer.body)") }
            #expect(answer.json["error"] != nil, "\(name): the error is JSON: \(answer.body)")
            #expect(answer.headers["content-type"]?.hasPrefix("application/json") == true, "\(name)")
        }
        #expect(try hostileCalls() == 0, "nothing reached STS")
        // Every answer is as docs/openapi.yaml documents it.
        let conformance = try BrokerTests.checkAgainstOpenAPI(cases.map { ($0.0 == "wrong method" ? "GET" : $0.0 == "unknown path" ? "GET" : "POST",
                                                                           $0.0 == "unknown path" ? "/admin" : "/v1/credentials", $0.1) })
        #expect(conformance.status == 0, "\(conformance.stdout)\(conformance.stderr)")
        // The slot errors are located in the body.
        let slot = try node.credentials(token: token, task: Self.task("hostile-7", tags: ["bucket": "acme-logs-*"]))
        let diagnostics = slot.json["diagnostics"] as? [[String: Any]] ?? []
        #expect(diagnostics.first?["file"] as? String == "request body" && (diagnostics.first?["line"] as? Int ?? 0) >= 1, "\(slot.body)")
    }

    /// A client that sends its headers and then trickles the body is cut off at the deadline, without an issuance.
    @Test func aStalledBodyIsCutOff() async throws {
        try await offPool { try self.aStalledBodyIsCutOffBlocking() }
    }

    func aStalledBodyIsCutOffBlocking() throws {
        let node = try broker()
        defer { node.stop() }
        let port = UInt16(node.url.split(separator: ":").last!)!
        let socket = Darwin_or_Glibc_socket()
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        #expect(connected == 0)
        defer { close(socket) }
        let head = "POST /v1/credentials HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer \(try token())\r\nContent-Length: 100\r\n\r\n{"
        _ = head.withCString { send(socket, $0, strlen($0), 0) }
        let started = Date()
        var buffer = [UInt8](repeating: 0, count: 4096)
        var received = Data()
        while Date().timeIntervalSince(started) < 25 {
            let n = recv(socket, &buffer, buffer.count, 0)
            if n <= 0 { break }
            received.append(contentsOf: buffer[0..<n])
        }
        let elapsed = Date().timeIntervalSince(started)
        #expect(elapsed < 20, "the connection was cut within the body deadline (took \(elapsed) s)")
        let text = String(decoding: received, as: UTF8.self)
        #expect(text.isEmpty || text.contains("408"), "\(text)")
    }

    @Test func rulesWithoutCallersAreNotServed() async throws {
        try await offPool { try self.rulesWithoutCallersAreNotServedBlocking() }
    }

    func rulesWithoutCallersAreNotServedBlocking() throws {
        let rules = dir.appendingPathComponent("rules-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: rules, withIntermediateDirectories: true)
        let text = try String(contentsOfFile: Repo.path("rules/log-analysis.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "callers:", with: "# callers:").replacingOccurrences(of: "  - {sub: \"system:serviceaccount:agents:*\"}", with: "")
        try text.write(to: rules.appendingPathComponent("log-analysis.yaml"), atomically: true, encoding: .utf8)
        let run = try runClawc(["serve", "--rules", rules.path, "--issuer", peers.issuer.absoluteString, "--listen", "127.0.0.1:0",
                                "--ledger", dir.appendingPathComponent("l.sqlite").path], environment: try scopedEnvironment())
        #expect(run.status == 1 && run.stderr.contains("[no-callers]") && run.stderr.contains("[rules-not-servable]"), "\(run.stderr)")
        // `clawc check` warns about the same rule.
        let check = try runClawc(["check", "--rules", rules.path, "--golden", dir.appendingPathComponent("none").path])
        #expect(check.stderr.contains("warning: rule `log-analysis` names no `callers`"), "\(check.stderr)")
        // And the scoped broker never takes STS's own audience.
        let sts = try runClawc(["serve", "--rules", Repo.path("rules"), "--issuer", peers.issuer.absoluteString, "--audience", "sts.amazonaws.com",
                                "--ledger", dir.appendingPathComponent("l.sqlite").path], environment: try scopedEnvironment())
        #expect(sts.status == 1 && sts.stderr.contains("[audience-accepted-by-sts]"), "\(sts.stderr)")
    }

    /// SIGHUP with a broken rules folder keeps the old rules; a good one is swapped in; SIGTERM drains and exits 0.
    @Test func reloadKeepsTheOldRulesOnFailureAndSigtermExitsZero() async throws {
        try await offPool { try self.reloadKeepsTheOldRulesOnFailureAndSigtermExitsZeroBlocking() }
    }

    func reloadKeepsTheOldRulesOnFailureAndSigtermExitsZeroBlocking() throws {
        let rules = dir.appendingPathComponent("rules-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: rules, withIntermediateDirectories: true)
        let good = try String(contentsOfFile: Repo.path("rules/log-analysis.yaml"), encoding: .utf8)
        try good.write(to: rules.appendingPathComponent("log-analysis.yaml"), atomically: true, encoding: .utf8)
        let node = try broker(rules: rules.path)
        try "purpose: [broken\n".write(to: rules.appendingPathComponent("log-analysis.yaml"), atomically: true, encoding: .utf8)
        kill(node.pid, SIGHUP)
        var waited = 0
        while !node.logText.contains("rules not reloaded"), waited < 100 { usleep(50_000); waited += 1 }
        #expect(node.logText.contains("rules not reloaded"))
        let served = try node.credentials(token: try token(), task: Self.task("reload-\(UUID().uuidString.prefix(6))"))
        #expect(served.status == 200, "the old rules still serve: \(served.body)")
        try good.replacingOccurrences(of: "purpose: log-analysis", with: "purpose: log-reading")
            .write(to: rules.appendingPathComponent("log-analysis.yaml"), atomically: true, encoding: .utf8)
        kill(node.pid, SIGHUP)
        waited = 0
        while !node.logText.contains("rules reloaded"), waited < 100 { usleep(50_000); waited += 1 }
        let renamed = try node.credentials(token: try token(), task: ["taskId": "reload-2-\(UUID().uuidString.prefix(6))", "purpose": "log-reading", "tags": ["bucket": "acme-logs-123"]])
        #expect(renamed.status == 200, "\(renamed.body)")
        #expect(node.stop(SIGTERM) == 0, "SIGTERM exits 0: \(node.logText)")
    }
}

/// Three brokers on one PostgreSQL ledger, every task asked of all three at once with the same token: one
/// credential per task at STS, and each answer is that credential or `already-issued`.
@Suite(.serialized)
struct BrokerSharedLedgerTests {
    @Test(.enabled(if: TestPostgres.url != nil), .timeLimit(.minutes(5)))
    func threeBrokersOnOnePostgresLedgerIssueEachTaskOnce() async throws {
        let base = try BrokerTests()
        let (url, drop) = try await TestPostgres.freshDatabase()
        let ledger = url.contains("?") ? url : url + (TestPostgres.caFile.map { "?sslmode=verify-ca&sslrootcert=\($0)" } ?? "")
        let nodes = try await offPool { try (0..<3).map { _ in try base.broker(ledger: ledger) } }
        defer { for node in nodes { node.stop() } }
        let tasks = (0..<40).map { "shared-\($0)-\(UUID().uuidString.prefix(6))" }
        let tokens = try tasks.map { _ in try base.token() }
        final class Tally: @unchecked Sendable {
            let lock = NSLock()
            var keys: [String: Set<String>] = [:]
            var statuses: [Int: Int] = [:]
            var bodies: [String] = []
        }
        let tally = Tally()
        try await offPool { DispatchQueue.concurrentPerform(iterations: tasks.count * 3) { index in
            let task = index / 3, node = nodes[index % 3]
            let answer = try? node.credentials(token: tokens[task], task: BrokerTests.task(tasks[task]))
            tally.lock.withLock {
                tally.statuses[answer?.status ?? -1, default: 0] += 1
                if let key = answer?.json["AccessKeyId"] as? String { tally.keys[tasks[task], default: []].insert(key) }
                if answer?.status != 200 && answer?.status != 409 { tally.bodies.append(answer?.body ?? "no answer") }
            }
        } }
        #expect(tally.bodies.isEmpty, "\(tally.bodies.prefix(3))")
        #expect(tally.keys.count == tasks.count && tally.keys.values.allSatisfy { $0.count == 1 }, "one credential per task: \(tally.statuses)")
        var issuedAtSTS = 0
        issuedAtSTS = try await offPool { try tasks.reduce(0) { $0 + (try base.stsIssued(task: $1)) } }
        #expect(issuedAtSTS == tasks.count, "STS issued \(issuedAtSTS) for \(tasks.count) tasks; answers \(tally.statuses)")
        try await offPool { for node in nodes { node.stop() } }
        await drop()
    }
}

private func Darwin_or_Glibc_socket() -> Int32 {
    #if canImport(Glibc)
    return socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    #else
    return socket(AF_INET, SOCK_STREAM, 0)
    #endif
}
