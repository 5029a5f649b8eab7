import ClawcRuntime
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A finished run of a program, with what the kernel counted for that one process.
struct MeasuredRun {
    var status: Int32
    var stdout: String
    var stderr: String
    /// User plus system CPU seconds.
    var cpuSeconds: Double
    /// Peak resident set size in MiB (`ru_maxrss`).
    var peakMiB: Double
    var elapsedSeconds: Double
}

/// A program started through `Tests/peers/measure.py`, which reaps it with `wait4` and reports the CPU time and
/// peak memory of that process alone: robust while other tests start processes of their own (unlike
/// `RUSAGE_CHILDREN`), no `/usr/bin/time` needed, and not inflated by the test process's own size (Linux carries
/// the pre-`exec` address space's peak into `ru_maxrss`, and a child spawned straight from this large process
/// would start in it). Output goes to files, so a chatty child never blocks on a full pipe, and starting many
/// before waiting for any runs them truly at once (a task group of blocking waits would run only as many as the
/// cooperative pool has threads).
struct SpawnedProcess {
    /// The launcher's pid; the measured program's is `programPID()`.
    let pid: pid_t
    let dir: URL
    let started: ContinuousClock.Instant

    var report: URL { dir.appendingPathComponent("report.json") }

    init(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        dir = try temporaryDirectory()
        var env = ProcessInfo.processInfo.environment
        for key in env.keys where key.hasPrefix("AWS_") { env[key] = nil }
        for (key, value) in environment { env[key] = value }
        let launcher = ["/usr/bin/env", "python3", Repo.path("Tests/peers/measure.py"), dir.appendingPathComponent("report.json").path, "--"]
        let argv: [UnsafeMutablePointer<CChar>?] = (launcher + [executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, dir.appendingPathComponent("stdout").path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, dir.appendingPathComponent("stderr").path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)

        started = ContinuousClock.now
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, "/usr/bin/env", &actions, nil, argv, envp)
        guard spawned == 0 else { throw Peers.PeersError(description: "cannot start \(executable): errno \(spawned)") }
        self.pid = pid
    }

    /// The measured program's pid, once the launcher has started it (waits up to 20 s).
    func programPID() -> pid_t? {
        let deadline = Date().addingTimeInterval(20)
        let path = report.path + ".pid"
        while Date() < deadline {
            if let text = try? String(contentsOfFile: path, encoding: .utf8), let pid = pid_t(text) { return pid }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return nil
    }

    /// Blocks until the program has ended; its status, output and what the kernel counted for it.
    func wait() throws -> MeasuredRun {
        defer { try? FileManager.default.removeItem(at: dir) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw Peers.PeersError(description: "waitpid failed: errno \(errno)") }
        }
        let elapsed = started.duration(to: ContinuousClock.now)
        let exitStatus: Int32 = status & 0x7F == 0 ? (status >> 8) & 0xFF : -(status & 0x7F)
        let stderr = (try? String(contentsOf: dir.appendingPathComponent("stderr"), encoding: .utf8)) ?? ""
        guard let data = try? Data(contentsOf: report),
              let counted = try JSONSerialization.jsonObject(with: data) as? [String: Double],
              let user = counted["user"], let system = counted["system"], let kib = counted["maxrss_kib"]
        else { throw Peers.PeersError(description: "the launcher wrote no report (exit \(exitStatus)): \(stderr)") }
        return MeasuredRun(
            status: exitStatus,
            stdout: (try? String(contentsOf: dir.appendingPathComponent("stdout"), encoding: .utf8)) ?? "",
            stderr: stderr,
            cpuSeconds: user + system,
            peakMiB: kib / 1024,
            elapsedSeconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }
}

func runMeasured(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> MeasuredRun {
    try SpawnedProcess(executable, arguments, environment: environment).wait()
}

extension PeerSuites {
/// The HTTP transport's bounds, end to end: a total deadline per request, the body capped while it is read, no
/// CPU spent waiting, and many processes waiting at once. The issuer's test server plays the hostile peer
/// (`Tests/peers/peers.py`: JWKS modes `trickle` and `huge`; `/sts-slow`, `/sts-trickle`, `/sts-huge`).
@Suite struct HTTPBoundsTests {
    static let role = "arn:aws:iam::123456789012:role/agents"
    static let nowhere = "http://127.0.0.1:1"
    /// Peak memory allowed to a clawc process that is sent a 1 GiB answer.
    static let peakLimitMiB = 100.0

    let peers: Peers
    let dir: URL

    init() throws {
        peers = try Peers.withNormalKeys()
        dir = try temporaryDirectory()
    }

    func tokenFile() throws -> String { try writeToken(try peers.mint(), in: dir) }

    func taskFile(_ id: String) throws -> String {
        let url = dir.appendingPathComponent("task-\(id).yaml")
        try "taskId: \(id)\npurpose: inventory-query\nestimatedDuration: 5m\n".write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// `clawc issue` for a task of its own, with its own ledger unless one is given, against `sts`; started.
    func startIssue(sts: String, task: String = UUID().uuidString.prefix(8).lowercased(), ledger: String? = nil) throws -> SpawnedProcess {
        try SpawnedProcess(clawcBinary.path, [
            "issue", "--rules", Repo.path("rules"), "--task", try taskFile("t-\(task)"), "--token-file", try tokenFile(),
            "--role-arn", Self.role, "--issuer", peers.issuer.absoluteString, "--no-trust-policy",
            "--ledger", ledger ?? dir.appendingPathComponent("ledger-\(UUID().uuidString).sqlite").path,
        ], environment: ["AWS_ENDPOINT_URL_STS": sts, "AWS_REGION": "us-east-1"])
    }

    /// The same, run to the end and measured.
    func issue(sts: String) throws -> MeasuredRun { try startIssue(sts: sts).wait() }

    func stsStandIn(_ path: String) -> String { peers.issuer.appendingPathComponent(path).absoluteString }

    static func summary(_ run: MeasuredRun) -> String {
        String(format: "exit %d, %.3f s CPU, %.1f MiB peak, %.2f s elapsed: ", run.status, run.cpuSeconds, run.peakMiB, run.elapsedSeconds)
            + run.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The meter itself: a program that touches 200 MiB is seen peaking above 200 MiB, and one that spins
    /// for 0.3 s of CPU is seen using it, so the bounds below are not met by a meter that reads low.
    @Test func theMeterSeesMemoryAndCPU() throws {
        let run = try runMeasured("/usr/bin/env", ["python3", "-c", """
            import time
            block = b"x" * (200 << 20)
            end = time.process_time() + 0.3
            while time.process_time() < end: pass
            """])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.peakMiB > 200 && run.peakMiB < 300, "\(Self.summary(run))")
        #expect(run.cpuSeconds >= 0.3, "\(Self.summary(run))")
    }

    /// A 1 GiB JWKS, chunked (the size is only known by reading) or with its `Content-Length`: refused, and the
    /// process never holds more than the cap.
    @Test(arguments: [false, true])
    func aOneGigabyteJWKSIsRefusedInBoundedMemory(declaresLength: Bool) throws {
        _ = try peers.control("jwks-mode", ["mode": "huge", "bytes": 1 << 30, "content_length": declaresLength])
        defer { _ = try? peers.control("jwks-mode", ["mode": "normal"]) }
        let run = try issue(sts: Self.nowhere)
        print("1 GiB JWKS (content-length: \(declaresLength)): \(Self.summary(run))")
        // An IdP answering nonsense is an upstream failure (exit 3), not a refused token.
        #expect(run.status == 3, "\(run.stderr)")
        #expect(run.stderr.contains("[issuer-unavailable]"), "\(run.stderr)")
        #expect(run.stderr.contains("answered with more than the allowed size"), "\(run.stderr)")
        #expect(run.peakMiB < Self.peakLimitMiB, "\(Self.summary(run))")
        #expect(run.elapsedSeconds < 10, "refused while reading, not after: \(Self.summary(run))")
        #expect(run.stdout.isEmpty)
    }

    /// A 1 GiB STS answer: an upstream failure (exit 3), in bounded memory.
    @Test(arguments: ["0", "1"])
    func aOneGigabyteSTSAnswerIsRefusedInBoundedMemory(contentLength: String) throws {
        let run = try issue(sts: stsStandIn("sts-huge") + "?bytes=\(1 << 30)&content_length=\(contentLength)")
        print("1 GiB STS answer (content-length: \(contentLength)): \(Self.summary(run))")
        #expect(run.status == 3, "\(run.stderr)")
        #expect(run.stderr.contains("[sts-unavailable]"), "\(run.stderr)")
        #expect(run.stderr.contains("answered with more than the allowed size"), "\(run.stderr)")
        #expect(run.peakMiB < Self.peakLimitMiB, "\(Self.summary(run))")
        #expect(run.elapsedSeconds < 10, "\(Self.summary(run))")
        #expect(run.stdout.isEmpty)
    }

    /// An STS that sends one byte a second is cut at the 10 s deadline (not kept alive one read at a time), and
    /// that is an upstream failure.
    @Test func aTricklingSTSIsCutAtTheDeadline() throws {
        let run = try issue(sts: stsStandIn("sts-trickle") + "?interval=1&bytes=600")
        print("trickling STS: \(Self.summary(run))")
        #expect(run.status == 3, "\(run.stderr)")
        #expect(run.stderr.contains("[sts-unavailable]"), "\(run.stderr)")
        #expect(run.stderr.contains("did not answer in full within 10 s"), "\(run.stderr)")
        // 10 s for the request, plus the process's own start and compile (well under a second here).
        #expect(run.elapsedSeconds >= 10 && run.elapsedSeconds < 13, "\(Self.summary(run))")
    }

    /// An STS error's code and message are the peer's text: they reach stderr on one line, escaped.
    @Test func stsErrorTextIsEscapedOnStderr() throws {
        let run = try issue(sts: stsStandIn("sts-error") + "?status=400&code=Bad%0Aclawc:%20note:%20fine")
        #expect(run.status == 1, "\(run.stderr)")
        #expect(run.stderr.contains("STS Bad\\nclawc: note: fine"), "\(run.stderr)")
        #expect(!run.stderr.contains("\nclawc: note"), "\(run.stderr)")
    }

    /// In process, with a short deadline: a JWKS trickled a byte a second fails at the deadline.
    @Test func aTricklingJWKSIsCutAtTheDeadline() async throws {
        _ = try peers.control("jwks-mode", ["mode": "trickle", "interval": 1, "bytes": 600])
        defer { _ = try? peers.control("jwks-mode", ["mode": "normal"]) }
        let transport = HTTPTransport(timeout: 2, maxBytes: 256 * 1024)
        let clock = ContinuousClock()
        let start = clock.now
        await #expect(throws: HTTPTransport.Failure.self) { _ = try await transport.get(peers.issuer.appendingPathComponent("jwks")) }
        let elapsed = start.duration(to: clock.now)
        #expect(elapsed >= .milliseconds(1900) && elapsed < .milliseconds(3000), "\(elapsed)")

        do {
            _ = try await transport.get(peers.issuer.appendingPathComponent("jwks"))
            Issue.record("a trickled body must not be returned")
        } catch {
            #expect(error.description.contains("did not answer in full within 2 s"), "\(error.description)")
        }
        // Through the key cache, the same deadline is the issuer being unavailable.
        let cache = JWKSCache(http: transport)
        await #expect(throws: TokenRefusal.self) { _ = try await cache.keys(issuer: peers.issuer.absoluteString) }
    }

    /// A peer that answers slowly, but in time, is waited for.
    @Test func aSlowAnswerWithinTheDeadlineIsWaitedFor() async throws {
        _ = try peers.control("jwks-mode", ["mode": "slow", "delay": 1])
        defer { _ = try? peers.control("jwks-mode", ["mode": "normal"]) }
        let answer = try await HTTPTransport(timeout: 3).get(peers.issuer.appendingPathComponent("jwks"))
        #expect(answer.status == 200)
        #expect(String(decoding: answer.body, as: UTF8.self).contains("\"keys\""))
    }

    /// Requests to one host reuse the pooled connection (the peer sees the same client port), and a 3xx is an
    /// answer, not something to follow.
    @Test func connectionsAreReusedAndRedirectsReturned() async throws {
        let transport = HTTPTransport(timeout: 5)
        func port() async throws -> Int {
            let answer = try await transport.get(peers.issuer.appendingPathComponent("whoami"))
            return (try JSONSerialization.jsonObject(with: answer.body) as? [String: Int])?["port"] ?? -1
        }
        let first = try await port()
        let second = try await port()
        #expect(first > 0 && first == second, "\(first) then \(second)")

        _ = try peers.control("jwks-mode", ["mode": "redirect"])
        defer { _ = try? peers.control("jwks-mode", ["mode": "normal"]) }
        let redirect = try await transport.get(peers.issuer.appendingPathComponent("jwks"))
        #expect(redirect.status == 302)
    }

    /// The size cap holds for a body the peer does not announce: in process, a chunked 1 GiB JWKS is cut at
    /// `maxBytes`, and a body exactly at the cap is accepted.
    @Test func theBodyIsCappedWhileReading() async throws {
        _ = try peers.control("jwks-mode", ["mode": "huge", "bytes": 1 << 30])
        let jwks = peers.issuer.appendingPathComponent("jwks")
        do {
            _ = try await HTTPTransport(timeout: 10, maxBytes: 64 * 1024).get(jwks)
            Issue.record("a 1 GiB body must be refused")
        } catch {
            #expect(error.description.contains("answered with more than the allowed size"), "\(error.description)")
        }
        _ = try peers.control("jwks-mode", ["mode": "huge", "bytes": 64 * 1024])
        defer { _ = try? peers.control("jwks-mode", ["mode": "normal"]) }
        let exact = try await HTTPTransport(timeout: 10, maxBytes: 64 * 1024).get(jwks)
        #expect(exact.body.count == 64 * 1024)
    }

    /// Waiting 5 s on a slow STS costs almost no CPU. Measured two ways: the CPU the process uses over 4 s while
    /// its request sits at the slow STS (read from `/proc`, from the moment the peer has the request), and the
    /// whole run's CPU time against a run whose STS answers at once (the rest, compiling, validating the token
    /// and the ledger, is the same in both).
    @Test func waitingOnASlowSTSCostsAlmostNoCPU() throws {
        let fast = try issue(sts: peers.sts.absoluteString)
        func slowRequests() throws -> Int {
            (try JSONSerialization.jsonObject(with: try peers.get("stats")) as? [String: Int])?["sts_slow_requests"] ?? -1
        }
        let before = try slowRequests()
        let process = try startIssue(sts: stsStandIn("sts-slow") + "?delay=5")
        var waiting: Double?
        #if os(Linux)
        let deadline = Date().addingTimeInterval(20)
        while try slowRequests() == before, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if let pid = process.programPID(), let start = Self.cpuSeconds(pid) {
            Thread.sleep(forTimeInterval: 4)
            waiting = Self.cpuSeconds(pid).map { $0 - start }
        }
        #endif
        let slow = try process.wait()
        print("STS at once: \(Self.summary(fast))")
        print("STS after 5 s: \(Self.summary(slow))")
        print("CPU over 4 s of the wait: \(waiting.map { String(format: "%.3f s", $0) } ?? "not measured")")
        #expect(fast.status == 0, "\(fast.stderr)")
        #expect(slow.status == 0, "\(slow.stderr)")
        #expect(slow.elapsedSeconds >= 5, "\(Self.summary(slow))")
        #expect(slow.cpuSeconds - fast.cpuSeconds < 0.1, "waiting cost \(slow.cpuSeconds - fast.cpuSeconds) s of CPU")
        #if os(Linux)
        #expect(waiting.map { $0 < 0.1 } == true, "CPU while waiting: \(String(describing: waiting))")
        #endif
    }

    /// User plus system CPU seconds of a running process, from `/proc/PID/stat` (fields 14 and 15, in clock ticks).
    static func cpuSeconds(_ pid: pid_t) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// 40 `clawc issue` processes at once, each for its own task and sharing one ledger, all waiting on a slow STS
    /// at the same time on this 2-core machine: every one succeeds.
    @Test func fortyConcurrentIssuesAgainstASlowSTSAllSucceed() async throws {
        _ = try peers.control("reset")
        let ledger = dir.appendingPathComponent("ledger.sqlite").path
        let sts = stsStandIn("sts-slow") + "?delay=5"
        let clock = ContinuousClock()
        let start = clock.now
        let processes = try (0..<40).map { try startIssue(sts: sts, task: "many-\($0)", ledger: ledger) }
        let runs = try processes.map { try $0.wait() }
        let elapsed = start.duration(to: clock.now)
        let stats = try JSONSerialization.jsonObject(with: try peers.get("stats")) as? [String: Int] ?? [:]
        let cpu = runs.map(\.cpuSeconds), peak = runs.map(\.peakMiB).max() ?? 0
        print(String(format: "40 concurrent issues: %d succeeded in %.2f s; %d waiting on STS at once at most; CPU per process %.3f s mean, %.3f s max; peak %.1f MiB",
                     runs.filter { $0.status == 0 }.count, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
                     stats["sts_slow_max_in_flight"] ?? -1, cpu.reduce(0, +) / Double(cpu.count), cpu.max() ?? 0, peak))
        let failed = runs.filter { $0.status != 0 }
        #expect(failed.isEmpty, "\(failed.count) failed: \(failed.prefix(3).map(Self.summary))")
        #expect(try await Ledger(path: ledger).entries(in: [.sealed, .pending]).count == 40)
        #expect(stats["sts_slow_requests"] == 40)
        // They did wait together: most of them were at the slow STS at the same moment.
        #expect((stats["sts_slow_max_in_flight"] ?? 0) >= 20, "\(stats)")
    }
}
}
