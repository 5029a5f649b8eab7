import ClawcRuntime
import Foundation
import Testing

/// libpq URLs as clawc reads them: no server needed.
@Suite struct PostgresLocationTests {
    @Test func theURLsPartsAreRead() throws {
        let location = try PostgresLocation.parse(
            "postgresql://ledger%40ops:p%2Fss%3Aw@db.internal:6432/clawc%20ledger?sslmode=verify-full&sslrootcert=/etc/ca.pem&connect_timeout=3&application_name=node-1",
            environment: [:])
        #expect(location.user == "ledger@ops")
        #expect(location.password == "p/ss:w")
        #expect(location.host == "db.internal")
        #expect(location.port == 6432)
        #expect(location.database == "clawc ledger")
        #expect(location.sslMode == .verifyFull)
        #expect(location.sslRootCert == "/etc/ca.pem")
        #expect(location.connectTimeout == .seconds(3))
        #expect(location.applicationName == "node-1")
        #expect(location.description == "postgres://ledger@ops@db.internal:6432/clawc ledger?sslmode=verify-full")
    }

    @Test func defaultsComeFromTheEnvironmentAsLibpqs() throws {
        let location = try PostgresLocation.parse("postgres://[::1]", environment: ["PGUSER": "svc", "PGPASSWORD": "from-env", "PGSSLMODE": "require"])
        #expect(location.host == "::1" && location.port == 5432)
        #expect(location.user == "svc" && location.password == "from-env" && location.database == "svc")
        #expect(location.sslMode == .require)
        #expect(location.description == "postgres://svc@[::1]:5432/svc?sslmode=require")
        // The URL's own password wins over PGPASSWORD; `prefer` is the default mode.
        let own = try PostgresLocation.parse("postgres://u:own@h/d", environment: ["PGPASSWORD": "env"])
        #expect(own.password == "own" && own.sslMode == .prefer)
        // `require` with a root certificate checks the chain, as libpq does.
        #expect(try PostgresLocation.parse("postgres://u@h/d?sslmode=require&sslrootcert=/ca.pem", environment: [:]).sslMode == .verifyCA)
    }

    /// Each of these is refused with a message naming what is wrong, and none repeats the password.
    @Test(arguments: [
        ("postgres://u:s3cret@h/d?sslmode=verify_full", "sslmode `verify_full`"),
        ("postgres://u:s3cret@h/d?ssl=true", "parameter `ssl`"),
        ("postgres://u:s3cret@h/d?sslmode=disable&sslmode=require", "`sslmode` twice"),
        ("postgres://u:s3cret@h:99999/d", "port `99999`"),
        ("postgres://u:s3cret@h:x/d", "port `x`"),
        ("postgres://u:s3cret@/d", "names no host"),
        ("postgres://u:s3cret@h1,h2/d", "several hosts"),
        ("postgres://u:s3cret@%2Ftmp/d", "socket folder"),
        ("postgres://u:s3cret@h/d%00x", "NUL"),
        ("postgres://u:s3cret@h/d%zz", "%-escape"),
        ("postgres://u:s3cret@h/d?connect_timeout=0", "connect_timeout"),
        ("postgres://u:s3cret@h/d#frag", "fragment"),
    ])
    func badURLsAreRefusedWithoutTheirPassword(url: String, expected: String) {
        do {
            _ = try PostgresLocation.parse(url, environment: [:])
            Issue.record("accepted \(url)")
        } catch {
            #expect(error.message.contains(expected), "\(error.message)")
            #expect(!error.message.contains("s3cret"), "\(error.message)")
        }
    }

    @Test func aURLWithNoUserAnywhereIsRefused() {
        #expect(throws: PostgresLocation.Failure.self) { try PostgresLocation.parse("postgres://h/d", environment: [:]) }
    }
}

/// The PostgreSQL ledger's own behaviour, beyond the conformance suite: TLS per `sslmode`, migrations, failing
/// closed, sweep claims across nodes and the per-role lock. Each test has a database of its own.
@Suite(.enabled(if: TestPostgres.available, "CLAWC_TEST_POSTGRES is unset: no PostgreSQL server to test against"))
struct PostgresLedgerTests {
    let url: String
    let drop: @Sendable () async -> Void

    init() async throws {
        (url, drop) = try await TestPostgres.freshDatabase()
    }

    /// Runs `body` with the test's database, dropped afterwards.
    func withDatabase(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch {
            await drop()
            throw error
        }
        await drop()
    }

    /// The test server's certificate names `localhost` only: `verify-full` refuses the address 127.0.0.1 and takes the
    /// name; `verify-ca` takes the address (chain only); a CA that did not sign it is refused by both.
    @Test func tlsIsCheckedAsSSLModeSays() async throws {
        let ca = try #require(TestPostgres.caFile, "CLAWC_TEST_POSTGRES_CA names the test server's CA")
        try await withDatabase {
            let database = URLComponents(string: url)!.path.dropFirst()
            let base = URLComponents(string: url)!
            func at(_ host: String, _ query: String) -> String {
                "postgres://\(base.user!):\(base.password!)@\(host):\(base.port!)/\(database)?\(query)"
            }
            let otherCA = try temporaryDirectory().appendingPathComponent("other-ca.crt").path
            _ = try runProgram(URL(fileURLWithPath: "/usr/bin/env"), [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=not the test CA",
                "-keyout", otherCA + ".key", "-out", otherCA,
            ])
            let cases: [(String, Bool)] = [
                (at("localhost", "sslmode=verify-full&sslrootcert=\(ca)"), true),
                (at("127.0.0.1", "sslmode=verify-full&sslrootcert=\(ca)"), false),
                (at("127.0.0.1", "sslmode=verify-ca&sslrootcert=\(ca)"), true),
                (at("localhost", "sslmode=verify-full&sslrootcert=\(otherCA)"), false),
                (at("127.0.0.1", "sslmode=verify-ca&sslrootcert=\(otherCA)"), false),
                (at("127.0.0.1", "sslmode=require"), true),
            ]
            for (location, accepted) in cases {
                let ledger = try TestPostgres.ledger(location)
                let outcome = await refusal { () throws(LedgerRefusal) in _ = try await ledger.auditHead() }
                await ledger.close()
                #expect((outcome == nil) == accepted, "\(location): \(outcome.map(\.description) ?? "connected")")
                if let outcome { #expect(outcome.code == "ledger-unavailable" && !outcome.description.contains(base.password!)) }
            }
        }
    }

    /// Eight nodes starting at once on an empty database: each sees the schema, and it was migrated once.
    @Test func nodesStartingAtOnceMigrateOnce() async throws {
        try await withDatabase {
            let url = self.url
            let heads = try await withThrowingTaskGroup(of: Int64.self) { group in
                for index in 0..<8 {
                    group.addTask {
                        let ledger = try TestPostgres.ledger(url)
                        try await ledger.begin(ledgerEntry("start-\(index)"))
                        let head = try await ledger.auditHead()?.seq ?? 0
                        await ledger.close()
                        return head
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(heads.count == 8)
            #expect(try await TestPostgres.sql(url, "SELECT count(*)::text FROM clawc.schema_migrations") == "1")
            let ledger = try TestPostgres.ledger(url)
            #expect(try await ledger.verifyAudit() == .intact(records: 8))
            #expect(try await ledger.migrate() == (from: 1, to: 1))
            await ledger.close()
        }
    }

    /// A reader never creates the schema; a schema newer than this build is refused, never written to.
    @Test func schemasAreNeverGuessedAt() async throws {
        try await withDatabase {
            let reader = try TestPostgres.ledger(url, create: false)
            let missing = await refusal { () throws(LedgerRefusal) in _ = try await reader.auditHead() }
            #expect(missing?.description.contains("no clawc ledger") == true, "\(String(describing: missing))")
            #expect(try await TestPostgres.sql(url, "SELECT count(*)::text FROM pg_namespace WHERE nspname = 'clawc'") == "0")
            await reader.close()

            let writer = try TestPostgres.ledger(url)
            try await writer.begin(ledgerEntry("t-1"))
            await writer.close()
            try await TestPostgres.sql(url, "INSERT INTO clawc.schema_migrations (version) VALUES (99)")
            let old = try TestPostgres.ledger(url)
            let newer = await refusal { () throws(LedgerRefusal) in try await old.begin(ledgerEntry("t-2")) }
            #expect(newer?.description.contains("schema version 99, newer than this clawc") == true, "\(String(describing: newer))")
            #expect(try await TestPostgres.sql(url, "SELECT count(*)::text FROM clawc.issuance") == "1")
            await old.close()
        }
    }

    /// The operators' commands through the binary: `ledger migrate` makes the schema, `ledger status` reports it,
    /// its rows and the same head as `audit head`; none of them prints the password.
    @Test func theLedgerCommandsWorkOnPostgres() async throws {
        try await withDatabase {
            let before = try runClawc(["ledger", "status", "--ledger", url])
            #expect(before.status == 1 && before.stderr.contains("no clawc ledger"), "\(before.stderr)")
            let migrate = try runClawc(["ledger", "migrate", "--ledger", url])
            #expect(migrate.status == 0 && migrate.stderr.contains("from version 0 to 1"), "\(migrate.stderr)")
            let ledger = try TestPostgres.ledger(url)
            try await ledger.begin(ledgerEntry("t-1"))
            try await ledger.begin(ledgerEntry("t-2"))
            try await ledger.transition(task: "t-2", to: .failed, event: "failed", detail: [:], now: Date(timeIntervalSince1970: 1_795_000_001))
            await ledger.close()
            let status = try runClawc(["ledger", "status", "--json", "--ledger", url])
            #expect(status.status == 0, "\(status.stderr)")
            let object = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any]
            #expect(object?["schemaVersion"] as? Int == 1 && object?["kind"] as? String == "PostgreSQL")
            #expect((object?["rows"] as? [String: Int])?["issuing"] == 1 && (object?["rows"] as? [String: Int])?["failed"] == 1)
            let head = try runClawc(["audit", "head", "--ledger", url])
            let printed = object?["auditHead"] as? [String: Any]
            #expect(head.stdout == "\(printed?["seq"] as? Int ?? -1) \(printed?["hash"] as? String ?? "")\n", "\(head.stdout) vs \(status.stdout)")
            let password = URLComponents(string: url)?.password ?? "-"
            for run in [before, migrate, status, head] { #expect(!run.stdout.contains(password) && !run.stderr.contains(password)) }
        }
    }

    /// Nobody listening: refused at once (not after a pool's minute of retries), nothing else tried.
    @Test func anUnreachableServerIsRefusedAtOnce() async throws {
        try await withDatabase {
            let ledger = try TestPostgres.ledger("postgres://clawc:pw@127.0.0.1:9/none")
            let started = ContinuousClock.now
            let outcome = await refusal { () throws(LedgerRefusal) in try await ledger.begin(ledgerEntry("t-1")) }
            #expect(outcome?.code == "ledger-unavailable")
            #expect(outcome?.description.contains("cannot reach PostgreSQL at postgres://clawc@127.0.0.1:9/none") == true, "\(String(describing: outcome))")
            #expect(ContinuousClock.now - started < .seconds(5), "a refused connection is an answer: no waiting")
        }
    }

    /// A server that accepts the connection and then says nothing: the call is abandoned at its deadline.
    @Test func aSilentServerIsAbandonedAtTheDeadline() async throws {
        try await withDatabase {
            let socket = try SilentListener()
            defer { socket.stop() }
            let location = try PostgresLocation.parse("postgres://clawc:pw@127.0.0.1:\(socket.port)/none?sslmode=disable&connect_timeout=2", environment: [:])
            let ledger = try PostgresLedger(location: location, operationTimeout: .seconds(1))
            let started = ContinuousClock.now
            let outcome = await refusal { () throws(LedgerRefusal) in try await ledger.begin(ledgerEntry("t-1")) }
            #expect(outcome?.code == "ledger-unavailable", "\(String(describing: outcome))")
            #expect(ContinuousClock.now - started < .seconds(8))
        }
    }

    /// Two nodes sweeping at once claim disjoint rows; claimed rows are skipped until their lease ends; a run takes
    /// at most its limit, oldest first.
    @Test func sweepClaimsAreDisjointAndLeased() async throws {
        try await withDatabase {
            let a = try TestPostgres.ledger(url), b = try TestPostgres.ledger(url)
            let base = Date(timeIntervalSince1970: 1_795_000_000)
            for index in 0..<40 {
                try await a.begin(ledgerEntry(String(format: "p-%02d", index), now: base.addingTimeInterval(Double(index))))
                try await a.recordIssued(task: String(format: "p-%02d", index), accessKeyID: "ASIA\(index)", sessionID: nil,
                                         expiresAt: base.addingTimeInterval(900), state: .pending, roleARN: nil, sealed: nil, now: base)
            }
            try await a.begin(ledgerEntry("fresh", now: base.addingTimeInterval(100)))
            let now = base.addingTimeInterval(200)
            async let first = a.claimForSweep(now: now, staleBefore: base, limit: 25, lease: 300)
            async let second = b.claimForSweep(now: now, staleBefore: base, limit: 25, lease: 300)
            let (x, y) = try await (first, second)
            #expect(Set(x.map(\.taskID)).isDisjoint(with: y.map(\.taskID)))
            #expect(x.count + y.count == 40, "\(x.count) + \(y.count)")
            #expect(max(x.count, y.count) == 25)
            #expect(!(x + y).contains { $0.taskID == "fresh" }, "an issuing row younger than the bound is not stale")
            #expect(try await a.claimForSweep(now: now.addingTimeInterval(10), staleBefore: base, limit: 100, lease: 300).isEmpty, "leased")
            let later = try await b.claimForSweep(now: now.addingTimeInterval(301), staleBefore: base, limit: 10, lease: 300)
            #expect(later.map(\.taskID) == (0..<10).map { String(format: "p-%02d", $0) }, "after the lease, oldest first")
            await a.close()
            await b.close()
        }
    }

    /// Edits of one role wait for each other on every node; other roles do not wait; the edit count moves once per
    /// edit.
    @Test func roleLocksSerializeOneRoleAcrossStores() async throws {
        try await withDatabase {
            let stores = try (0..<3).map { _ in try TestPostgres.ledger(url) }
            let counter = Counter()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<12 {
                    let store = stores[index % 3]
                    group.addTask {
                        try await store.withRoleLock("arn:aws:iam::123456789012:role/agents") { stillHeld in
                            let inside = counter.enter()
                            #expect(inside == 1, "two holders of one role's lock at once")
                            try await Task.sleep(for: .milliseconds(20))
                            try await stillHeld()
                            counter.leave()
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(counter.maximum == 1)
            #expect(try await TestPostgres.sql(url, "SELECT version::text FROM clawc.role_edits WHERE role_arn = 'arn:aws:iam::123456789012:role/agents'") == "12")
            // Another role is not held up by a holder of the first.
            try await stores[0].withRoleLock("arn:aws:iam::123456789012:role/agents") { _ in
                let started = ContinuousClock.now
                try await stores[1].withRoleLock("arn:aws:iam::123456789012:role/other") { _ in }
                #expect(ContinuousClock.now - started < .seconds(2))
            }
            for store in stores { await store.close() }
        }
    }

    /// The lock's session is killed mid-edit (as a failover or a network cut would): `stillHeld` refuses, so the
    /// IAM write that would no longer be serialized is not made.
    @Test func aLostLockRefusesTheWriteThatFollows() async throws {
        try await withDatabase {
            let store = try TestPostgres.ledger(url)
            let url = self.url
            var wrote = false
            do {
                try await store.withRoleLock("arn:aws:iam::123456789012:role/agents") { stillHeld in
                    try await TestPostgres.sql(url, """
                        SELECT pg_terminate_backend(pid) FROM pg_locks
                        WHERE locktype = 'advisory' AND pid <> pg_backend_pid()
                          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                        """)
                    try await Task.sleep(for: .milliseconds(200))
                    try await stillHeld()
                    wrote = true
                }
                Issue.record("the edit went on without its lock")
            } catch let failure as RevocationFailure {
                #expect(failure.code == "lock-error")
                #expect(failure.message.contains("was lost"), "\(failure.message)")
            }
            #expect(!wrote)
            await store.close()
        }
    }

    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var inside = 0
        private(set) var maximum = 0
        func enter() -> Int {
            lock.withLock {
                inside += 1
                maximum = max(maximum, inside)
                return inside
            }
        }
        func leave() { lock.withLock { inside -= 1 } }
    }
}

/// A TCP listener that accepts connections and never answers: a server that hangs.
final class SilentListener: @unchecked Sendable {
    let port: Int
    private let fd: Int32
    private var accepted: [Int32] = []
    private let lock = NSLock()

    init() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(listener, 16) == 0 else { throw TestPostgres.Failure(description: "cannot listen") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        port = Int(UInt16(bigEndian: address.sin_port))
        fd = listener
        let fd = listener
        Thread { [weak self] in
            while true {
                let client = accept(fd, nil, nil)
                guard client >= 0 else { return }
                self?.lock.withLock { self?.accepted.append(client) }
            }
        }.start()
    }

    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
        lock.withLock { for client in accepted { close(client) } }
    }
}
