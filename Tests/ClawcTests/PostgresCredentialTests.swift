import ClawcRuntime
import Foundation
import Logging
import PostgresNIO
import Testing

/// A database of its own with a non-superuser administrative role (CREATEROLE, pg_signal_backend, CREATE on the
/// database, owner of the tables), a `sales` schema with row-level security on two tables, and a rules folder
/// holding the shipped `order-report` rule and a snapshot of this database.
struct ShopDatabase: Sendable {
    let superURL: String
    let adminURL: String
    let database: String
    let admin: String
    let rules: URL
    let dir: URL
    let drop: @Sendable () async -> Void

    static func make() async throws -> ShopDatabase {
        let (superURL, dropDatabase) = try await TestPostgres.freshDatabase()
        let database = URLComponents(string: superURL)!.path.dropFirst().description
        let admin = "clawc_admin_" + UUID().uuidString.prefix(8).lowercased()
        let password = "admin-" + UUID().uuidString.prefix(12)
        for statement in [
            "CREATE ROLE \(admin) LOGIN NOSUPERUSER CREATEROLE PASSWORD '\(password)'",
            "GRANT pg_signal_backend TO \(admin)",
            "GRANT CREATE ON DATABASE \(database) TO \(admin)",
        ] { try await TestPostgres.sql(superURL, statement) }
        var components = URLComponents(string: superURL)!
        components.user = admin
        components.password = password
        let adminURL = components.string!
        for statement in [
            "CREATE SCHEMA sales",
            "CREATE TABLE sales.orders (id int PRIMARY KEY, tenant_id text NOT NULL, total numeric NOT NULL, customer_email text)",
            "CREATE TABLE sales.order_items (id int PRIMARY KEY, order_id int NOT NULL, tenant_id text NOT NULL, sku text, total numeric NOT NULL)",
            "CREATE TABLE sales.customers (id int PRIMARY KEY, email text)",
            "ALTER TABLE sales.orders ENABLE ROW LEVEL SECURITY",
            "ALTER TABLE sales.order_items ENABLE ROW LEVEL SECURITY",
            "INSERT INTO sales.orders VALUES (1, 't-acme', 10, 'a@acme.example'), (2, 't-acme', 20, 'b@acme.example'), (3, 't-other', 30, 'c@other.example')",
            "INSERT INTO sales.order_items VALUES (1, 1, 't-acme', 'x', 10), (2, 3, 't-other', 'y', 30)",
            "INSERT INTO sales.customers VALUES (1, 'a@acme.example')",
        ] { try await TestPostgres.sql(adminURL, statement) }
        let dir = try temporaryDirectory()
        let rules = dir.appendingPathComponent("rules")
        try FileManager.default.createDirectory(at: rules, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Repo.path("rules/order-report.yaml"), toPath: rules.appendingPathComponent("order-report.yaml").path)
        let emitted = try await offPool { try runClawc(["emit", "postgres-schema", "--database", adminURL]) }
        guard emitted.status == 0 else { throw TestPostgres.Failure(description: "emit postgres-schema failed: \(emitted.stderr)") }
        try emitted.stdout.write(to: rules.appendingPathComponent("postgres-schema.json"), atomically: true, encoding: .utf8)
        return ShopDatabase(superURL: superURL, adminURL: adminURL, database: database, admin: admin, rules: rules, dir: dir, drop: {
            await dropDatabase()
            // Task roles are the server's, not the database's: drop what the tests left (revoked ones are gone already).
            _ = try? await TestPostgres.sql(superURL, """
                DO $$ DECLARE r text; BEGIN
                  FOR r IN SELECT rolname FROM pg_roles WHERE rolname LIKE 'clawc%' AND pg_catalog.shobj_description(oid, 'pg_authid') LIKE '%database \(database),%' LOOP
                    EXECUTE format('DROP ROLE IF EXISTS %I', r);
                  END LOOP;
                END $$
                """)
        })
    }

    var ledger: String { dir.appendingPathComponent("ledger.sqlite").path }

    func task(_ id: String, tenant: String = "t-acme", extra: String = "") throws -> String {
        let url = dir.appendingPathComponent("task-\(UUID().uuidString).yaml")
        try "taskId: \(id)\npurpose: order-report\ntags: {tenant: \(tenant)}\nestimatedDuration: 10m\n\(extra)".write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func issue(_ id: String, tenant: String = "t-acme", format: String = "json") throws -> ProcessRun {
        try runClawc(["issue", "--to", "postgres", "--rules", rules.path, "--task", try task(id, tenant: tenant), "--database", adminURL,
                      "--ledger", ledger, "--format", format])
    }

    func clawc(_ arguments: [String]) throws -> ProcessRun {
        try runClawc(arguments + ["--database", adminURL, "--ledger", ledger])
    }

    /// The URL a credential printed as JSON connects with.
    static func url(_ credential: [String: Any]) -> String? { credential["uri"] as? String }

    func roleExists(_ name: String) async throws -> Bool {
        try await TestPostgres.sql(superURL, "SELECT count(*)::text FROM pg_roles WHERE rolname = '\(name.replacingOccurrences(of: "'", with: "''"))'") == "1"
    }

    func taskRoles() async throws -> Int {
        Int(try await TestPostgres.sql(superURL, "SELECT count(*)::text FROM pg_roles WHERE rolname LIKE 'clawc-%' AND pg_catalog.shobj_description(oid, 'pg_authid') LIKE '%database \(database),%'")) ?? -1
    }
}

/// Statements run one after another on one connection as `url`'s user: each answer's first value, or the error.
func session(_ url: String, _ statements: [String]) async throws -> [Result<String, TestPostgres.Failure>] {
    let location = try PostgresLocation.parse(url, environment: [:])
    var configuration = PostgresConnection.Configuration(
        host: location.host, port: location.port, username: location.user, password: location.password, database: location.database, tls: .disable)
    configuration.options.connectTimeout = .seconds(10)
    let connection = try await PostgresConnection.connect(configuration: configuration, id: 7, logger: TestPostgres.logger)
    var out: [Result<String, TestPostgres.Failure>] = []
    for statement in statements {
        do {
            let rows = try await connection.query(PostgresQuery(unsafeSQL: statement), logger: TestPostgres.logger).collect()
            let cell = rows.first?.first
            // A bigint decodes as a String too (its raw bytes): numbers first.
            let text = (try? cell?.decode(Int64.self)).flatMap { $0 }.map(String.init) ?? (try? cell?.decode(String?.self)).flatMap { $0 } ?? ""
            out.append(.success(text))
        } catch let error as PSQLError {
            out.append(.failure(TestPostgres.Failure(description: error.serverInfo?[.message] ?? String(reflecting: error))))
        }
    }
    try? await connection.close()
    return out
}

@Suite(.serialized, .enabled(if: TestPostgres.url != nil))
struct PostgresCredentialTests {
    @Test(.timeLimit(.minutes(3))) func theIssuedRoleCanDoExactlyWhatItsRuleSays() async throws {
        let shop = try await ShopDatabase.make()
        let id = "pg-\(UUID().uuidString.prefix(8))"
        let run = try await offPool { try shop.issue(id) }
        #expect(run.status == 0, "\(run.stderr)")
        let credential = (try? JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]) ?? [:]
        let url = try #require(ShopDatabase.url(credential), "\(run.stdout)")
        #expect(credential["user"] as? String == "clawc-\(id)" && credential["database"] as? String == shop.database)
        let gsRole = try await TestPostgres.sql(shop.superURL, "SELECT string_agg(b.rolname, ',') FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member JOIN pg_roles b ON b.oid = m.roleid WHERE r.rolname = 'clawc-\(id)'")
        let answers = try await session(url, [
            "SELECT count(*) FROM sales.orders",  // this tenant's two orders, not the other's
            "SELECT sum(total)::text FROM sales.orders",
            "SELECT count(*) FROM sales.orders WHERE tenant_id = 't-other'",
            "SELECT count(*) FROM sales.order_items",
            "SELECT customer_email FROM sales.orders",  // a column the rule does not list
            "INSERT INTO sales.orders (id, tenant_id, total) VALUES (9, 't-acme', 1)",  // SELECT only
            "SELECT count(*) FROM sales.customers",  // a table the rule does not list
            "SELECT count(*) FROM clawc_scope.task_scope",  // another task's scope is nobody's business
            "SET ROLE \"\(gsRole)\"",  // the grant set's role holds the grants, but the scope is the login's
            "SELECT count(*) FROM sales.orders",
            "RESET ROLE",
            "CREATE TABLE sales.mine (x int)",
            "SET statement_timeout = 0",
            "SELECT current_setting('idle_in_transaction_session_timeout')",
        ])
        func value(_ index: Int) -> String? { if case .success(let text) = answers[index] { text } else { nil } }
        func refused(_ index: Int) -> Bool { if case .failure(let error) = answers[index] { error.description.contains("permission denied") } else { false } }
        #expect(value(0) == "2" && value(1) == "30" && value(2) == "0" && value(3) == "1", "\(answers)")
        #expect(refused(4) && refused(5) && refused(6) && refused(7), "\(answers)")
        #expect(value(9) == "2", "SET ROLE to the grant set does not widen the rows: \(answers)")
        #expect(refused(11), "no CREATE in the schema: \(answers)")
        #expect(value(13) == "1min", "\(answers)")
        // The role has no powers of its own, expires, and says what it is for.
        let attributes = try await TestPostgres.sql(shop.superURL, """
            SELECT concat_ws(',', rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication, rolconnlimit, rolvaliduntil IS NOT NULL,
                             left(rolpassword, 14), shobj_description(oid, 'pg_authid') LIKE '%task \(id), purpose order-report, database \(shop.database), plan sha256 %')
            FROM pg_authid WHERE rolname = 'clawc-\(id)'
            """)
        #expect(attributes == "f,f,f,f,f,4,t,SCRAM-SHA-256$,t", "\(attributes)")
        // The issuance is in the ledger, once: a second issue of the task is refused.
        let again = try await offPool { try shop.issue(id) }
        #expect(again.status == 1 && again.stderr.contains("[already-issued]"), "\(again.stderr)")
        await shop.drop()
    }

    /// `clawc revoke --task` ends a live session (a psql running `SELECT pg_sleep(600)`) and drops the role;
    /// `clawc sweep` does the same for a task whose lifetime is over.
    @Test(.timeLimit(.minutes(3))) func revokeAndSweepEndLiveSessionsAndDropTheRole() async throws {
        let shop = try await ShopDatabase.make()
        for (index, via) in ["revoke", "sweep"].enumerated() {
            let id = "pg-\(via)-\(UUID().uuidString.prefix(6))"
            let run = try await offPool { try shop.issue(id, format: "uri") }
            #expect(run.status == 0, "\(run.stderr)")
            let uri = run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let sleeper = Process()
            sleeper.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            sleeper.arguments = ["psql", uri, "-c", "SELECT pg_sleep(600)"]
            sleeper.standardOutput = FileHandle.nullDevice
            sleeper.standardError = FileHandle.nullDevice
            try sleeper.run()
            // Wait until the session is in.
            var active = "0"
            for _ in 0..<100 where active == "0" {
                active = try await TestPostgres.sql(shop.superURL, "SELECT count(*)::text FROM pg_stat_activity WHERE usename = 'clawc-\(id)'")
                if active == "0" { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(active == "1", "the psql session is in")
            let ended: ProcessRun
            if index == 0 {
                ended = try await offPool { try shop.clawc(["revoke", "--task", id]) }
                #expect(ended.stderr.contains("1 live session(s) ended"), "\(ended.stderr)")
            } else {
                // The task's lifetime is over (moved into the past behind the ledger's back): sweep ends it.
                try RawSQLite(shop.ledger).execute("UPDATE issuance SET expires_at = \(Int(Date().timeIntervalSince1970) - 5) WHERE task_id = '\(id)'")
                ended = try await offPool { try shop.clawc(["sweep"]) }
                #expect(ended.stderr.contains("task `\(id)`: expired; role `clawc-\(id)` dropped, 1 live session(s) ended"), "\(ended.stderr)")
            }
            #expect(ended.status == 0, "\(ended.stderr)")
            let deadline = Date().addingTimeInterval(10)
            while sleeper.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
            #expect(!sleeper.isRunning, "the live session was terminated")
            if sleeper.isRunning { kill(sleeper.processIdentifier, SIGKILL) }
            #expect(try await shop.roleExists("clawc-\(id)") == false, "the role is gone")
            let reconnect = try? await session(uri, ["SELECT 1"])
            #expect(reconnect == nil, "the credential no longer logs in")
        }
        await shop.drop()
    }

    /// The password reaches the server only as a SCRAM verifier: with every statement logged, the log never holds it.
    @Test(.timeLimit(.minutes(2))) func theServerLogNeverHoldsThePassword() async throws {
        guard let ca = TestPostgres.caFile else { return }
        let log = URL(fileURLWithPath: ca).deletingLastPathComponent().appendingPathComponent("server.log").path
        let shop = try await ShopDatabase.make()
        let logging = try await TestPostgres.sql(shop.superURL, "SELECT current_setting('log_statement') || ',' || current_setting('log_min_duration_statement')")
        #expect(logging == "all,0", "the test server logs every statement: \(logging)")
        var passwords: [String] = []
        for _ in 0..<3 {
            let run = try await offPool { try shop.issue("pg-log-\(UUID().uuidString.prefix(6))") }
            #expect(run.status == 0, "\(run.stderr)")
            if let password = (try? JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])?["password"] as? String {
                passwords.append(password)
                // Use it, so the login is logged too.
                let uri = (try? JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])?["uri"] as? String ?? ""
                _ = try await session(uri, ["SELECT count(*) FROM sales.orders"])
            }
        }
        #expect(passwords.count == 3)
        let text = try await offPool { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        #expect(text.contains("CREATE ROLE \"clawc-pg-log-"), "the log is the server's and holds the statements")
        for password in passwords { #expect(!text.contains(password), "a password is in the server log") }
        await shop.drop()
    }

    /// Hostile task values are refused before anything is written or run: no role, no ledger row.
    @Test(.timeLimit(.minutes(3))) func hostileTasksAreRefusedAndNothingRuns() async throws {
        let shop = try await ShopDatabase.make()
        let cases: [(String, String)] = [
            ("t\"; DROP TABLE sales.orders; --", "t-acme"),
            ("pg-quote", "t-acme'; DROP TABLE sales.orders; --"),
            ("pg-dq", "t-\"acme\""),
            ("pg-nul", "t-acme\u{0}"),
            ("pg-" + String(repeating: "a", count: 62), "t-acme"),
            ("pg-\u{0430}cme", "t-acme"),  // a Cyrillic а
            ("pg-lookalike", "t-\u{0430}cme"),
            ("pg-wild", "t-*"),
            ("pg-backslash", "t-acme\\\\x"),
            ("pg-space", "t-acme OR true"),
        ]
        for (id, tenant) in cases {
            let file = shop.dir.appendingPathComponent("hostile-\(UUID().uuidString).json")
            let object: [String: Any] = ["taskId": id, "purpose": "order-report", "tags": ["tenant": tenant]]
            try JSONSerialization.data(withJSONObject: object).write(to: file)
            let run = try await offPool {
                try runClawc(["issue", "--to", "postgres", "--rules", shop.rules.path, "--task", file.path, "--database", shop.adminURL, "--ledger", shop.ledger])
            }
            #expect(run.status == 1 && run.stdout.isEmpty, "\(id) / \(tenant): \(run.status) \(run.stderr)")
        }
        #expect(try await shop.taskRoles() == 0, "no role was made")
        let status = try await offPool { try runClawc(["ledger", "status", "--json", "--ledger", shop.ledger]) }
        #expect(status.stdout.isEmpty || (status.stdout.contains("\"issuing\":0") && status.stdout.contains("\"issued\":0")), "no ledger row: \(status.stdout)")
        // The longest task ID there is still gets a role name PostgreSQL keeps whole (63 bytes), unique to it.
        let longest = "pg" + UUID().uuidString.prefix(8).lowercased() + String(repeating: "x", count: 54)
        let run = try await offPool { try shop.issue(longest) }
        #expect(run.status == 0, "\(run.stderr)")
        let user = (try? JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])?["user"] as? String ?? ""
        #expect(user.utf8.count <= 63 && user.contains("~") && user.hasPrefix("clawc-" + longest.prefix(40)), "\(user)")
        #expect(try await shop.roleExists(user))
        #expect(try await TestPostgres.sql(shop.superURL, "SELECT count(*)::text FROM sales.orders") == "3", "the table is untouched")
        await shop.drop()
    }

    /// The snapshot may be stale: with row-level security turned off in the database since, `rows` would limit
    /// nothing, so the plan checks the table itself and nothing is made.
    @Test(.timeLimit(.minutes(2))) func rowsOnATableWhoseRowSecurityIsOffNowIsRefused() async throws {
        let shop = try await ShopDatabase.make()
        try await TestPostgres.sql(shop.adminURL, "ALTER TABLE sales.orders DISABLE ROW LEVEL SECURITY")
        let id = "pg-norls-\(UUID().uuidString.prefix(6))"
        let run = try await offPool { try shop.issue(id) }
        #expect(run.status == 1 && run.stderr.contains("row-level security is off for sales.orders") && run.stdout.isEmpty, "\(run.stderr)")
        #expect(try await shop.roleExists("clawc-\(id)") == false)
        // Nor is anything made while PUBLIC may create objects somewhere: a task role could then own objects, which
        // ending it would have to drop.
        try await TestPostgres.sql(shop.adminURL, "ALTER TABLE sales.orders ENABLE ROW LEVEL SECURITY")
        try await TestPostgres.sql(shop.adminURL, "GRANT CREATE ON SCHEMA sales TO PUBLIC")
        let open = try await offPool { try shop.issue(id) }
        #expect(open.status == 1 && open.stderr.contains("PUBLIC may CREATE in a schema"), "\(open.stderr)")
        #expect(try await shop.roleExists("clawc-\(id)") == false)
        await shop.drop()
    }

    /// `clawc serve --database`: a PostgreSQL purpose over HTTP, once per task; a retry with the same token gets the
    /// same login back, another token `409`.
    @Test(.timeLimit(.minutes(3))) func theBrokerServesPostgresPurposes() async throws {
        let shop = try await ShopDatabase.make()
        let base = try BrokerTests()
        let node = try await offPool {
            try BrokerProcess(["--rules", shop.rules.path, "--issuer", base.peers.issuer.absoluteString, "--ledger", shop.ledger, "--database", shop.adminURL],
                              environment: try base.scopedEnvironment())
        }
        defer { node.stop() }
        let id = "pg-broker-\(UUID().uuidString.prefix(6))"
        let token = try base.token()
        let (ready, first, again, other, wrongFormat) = try await offPool {
            let task: [String: Any] = ["taskId": id, "purpose": "order-report", "tags": ["tenant": "t-acme"], "estimatedDuration": "5m"]
            return (try node.send("GET", "/readyz"), try node.credentials(token: token, task: task), try node.credentials(token: token, task: task),
                    try node.credentials(token: try base.token(), task: task), try node.credentials(token: token, task: task, query: "?format=credential-process"))
        }
        #expect(ready.status == 200, "\(ready.body)")
        #expect(first.status == 200 && first.json["user"] as? String == "clawc-\(id)", "\(first.body)")
        #expect(again.status == 200 && again.json["password"] as? String == first.json["password"] as? String, "the same login again: \(again.body)")
        #expect(other.status == 409 && other.code == "already-issued", "\(other.body)")
        #expect(wrongFormat.status == 400, "\(wrongFormat.body)")
        let uri = try #require(first.json["uri"] as? String)
        let answers = try await session(uri, ["SELECT count(*) FROM sales.orders"])
        #expect((try? answers[0].get()) == "2", "\(answers)")
        let conformance = try await offPool {
            try BrokerTests.checkAgainstOpenAPI([("POST", "/v1/credentials", first), ("POST", "/v1/credentials", other), ("POST", "/v1/credentials", wrongFormat)])
        }
        #expect(conformance.status == 0, "\(conformance.stdout)\(conformance.stderr)")
        #expect(!node.logText.contains(first.json["password"] as? String ?? "?"), "no password in the broker's log")
        _ = try await offPool { node.stop() }
        await shop.drop()
    }

    /// 100 tasks at once on one database: 100 roles, one grant-set role, and one ACL entry for it on the table.
    @Test(.timeLimit(.minutes(5))) func aHundredConcurrentIssuancesShareOneGrantSetRole() async throws {
        let shop = try await ShopDatabase.make()
        let run = UUID().uuidString.prefix(6).lowercased()
        let ids = (0..<100).map { "pg-many-\(run)-\($0)" }
        final class Tally: @unchecked Sendable {
            let lock = NSLock()
            var failures: [String] = []
        }
        let tally = Tally()
        try await offPool {
            DispatchQueue.concurrentPerform(iterations: ids.count) { index in
                let run = try? shop.issue(ids[index], tenant: index % 2 == 0 ? "t-acme" : "t-other")
                if run?.status != 0 { tally.lock.withLock { tally.failures.append(run?.stderr ?? "did not run") } }
            }
        }
        #expect(tally.failures.isEmpty, "\(tally.failures.prefix(3))")
        #expect(try await shop.taskRoles() == 100)
        let grantSets = try await TestPostgres.sql(shop.superURL, """
            SELECT count(DISTINCT b.rolname)::text FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member JOIN pg_roles b ON b.oid = m.roleid
            WHERE r.rolname LIKE 'clawc-pg-many-\(run)-%'
            """)
        #expect(grantSets == "1")
        // The table's ACLs (the table's own, `pg_class.relacl`, and its columns', `pg_attribute.attacl`, where column
        // grants go) hold one entry per granted column for the grant set, and none for any task, however many.
        let taskEntries = try await TestPostgres.sql(shop.superURL, """
            SELECT ((SELECT count(*) FROM pg_class, LATERAL unnest(relacl) AS e WHERE oid = 'sales.orders'::regclass AND e::text LIKE '%clawc-%')
                 + (SELECT count(*) FROM pg_attribute, LATERAL unnest(attacl) AS e WHERE attrelid = 'sales.orders'::regclass AND e::text LIKE '%clawc-%'))::text
            """)
        let grantSetEntries = try await TestPostgres.sql(shop.superURL, """
            SELECT count(*)::text FROM pg_attribute, LATERAL unnest(attacl) AS e WHERE attrelid = 'sales.orders'::regclass AND e::text LIKE 'clawc_gs_%'
            """)
        #expect(taskEntries == "0" && grantSetEntries == "3", "ACL entries for tasks: \(taskEntries), for the grant set: \(grantSetEntries)")
        await shop.drop()
    }
}
