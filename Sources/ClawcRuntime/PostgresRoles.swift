import ClawcCompiler
import ClawcDiagnostics
import Foundation
import Logging
import PostgresNIO

/// The administrative connection clawc makes task roles with (`--database URL` or `CLAWC_POSTGRES_URL`): runs a
/// plan in one transaction, ends a role (no new logins, live sessions terminated, role dropped), and reads the
/// catalog snapshot. The role it connects as needs CREATEROLE, membership in `pg_signal_backend`, the privileges it
/// hands out WITH GRANT OPTION, and ownership of the tables where `rows` adds policies; never superuser.
public final class PostgresAdmin: Sendable {
    public let location: PostgresLocation
    let connections: PostgresConnections
    /// The most one call (a whole plan, one step of a revocation) may take.
    public static let callTimeout: Duration = .seconds(30)
    /// How long a revocation waits for a role's sessions to end.
    public static let terminateDeadline: Duration = .seconds(15)
    static let logger = Logger(label: "clawc.postgres.admin", factory: { _ in SwiftLogNoOpLogHandler() })

    /// The environment variable naming the administrative connection when `--database` is not given.
    public static let environmentVariable = "CLAWC_POSTGRES_URL"

    public init(url: String, environment: [String: String]) throws(IssueFailure) {
        do {
            location = try PostgresLocation.parse(url, environment: environment)
        } catch {
            throw .refused(code: "bad-database-url", message: "the database URL cannot be used: \(error.message)",
                           help: "give a libpq URL such as postgresql://clawc_admin@db.internal:5432/shop?sslmode=verify-full")
        }
        do {
            connections = try PostgresConnections(location: location, maximum: 4)
        } catch {
            throw .refused(code: "bad-database-url", message: error.description, help: "check sslmode and sslrootcert in the database URL")
        }
    }

    /// Where the issued role connects, as the ledger records it: no user, no password.
    public var target: String { "postgresql://\(location.host):\(location.port)/\(location.database)" }

    public func close() async { await connections.shutdown() }

    // MARK: Issuing

    /// Why a plan did not commit, and whether a role may exist anyway.
    public enum PlanFailure: Error, Sendable {
        /// The server could not be reached or the connection failed before COMMIT: nothing was made.
        case unreachable(String)
        /// The server refused a statement (or the COMMIT): the transaction rolled back, nothing was made.
        case refused(String, sqlState: String?)
        /// The COMMIT was sent and no answer came back: the role may exist.
        case unknown(String)
    }

    /// Runs the plan's statements between BEGIN and COMMIT on one connection.
    public func run(_ plan: PostgresPlan) async throws(PlanFailure) {
        let stage = Stage()
        let statements = plan.statements
        do {
            try await connections.withConnection(timeout: Self.callTimeout) { connection in
                try await Self.execute("BEGIN", on: connection)
                stage.set(.statements)
                for statement in statements { try await Self.execute(statement, on: connection) }
                stage.set(.commit)
                try await Self.execute("COMMIT", on: connection)
                stage.set(.done)
            }
        } catch {
            let why = describe(error)
            if let psql = error as? PSQLError, let server = psql.serverInfo {
                // A plain ERROR rolls the transaction back, at COMMIT too. A FATAL or PANIC during COMMIT (the session
                // terminated while waiting for a synchronous standby, "already committed locally") does not say that:
                // only before COMMIT is every server error a rollback.
                let severity = server[.severity] ?? server[.localizedSeverity] ?? ""
                if stage.value != .commit || severity == "ERROR" { throw .refused(why, sqlState: server[.sqlState]) }
                throw .unknown(why)
            }
            switch stage.value {
            case .begin, .statements: throw .unreachable(why)
            case .commit: throw .unknown(why)
            case .done: return
            }
        }
    }

    enum Step: Sendable { case begin, statements, commit, done }

    /// Where a plan got to, readable after a deadline abandoned it.
    final class Stage: @unchecked Sendable {
        private let lock = NSLock()
        private var step = Step.begin
        func set(_ next: Step) { lock.withLock { step = next } }
        var value: Step { lock.withLock { step } }
    }

    static func execute(_ sql: String, on connection: PostgresConnection) async throws {
        _ = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).collect()
    }

    // MARK: Ending a role

    /// What ending a role did.
    public enum EndOutcome: Sendable, Equatable {
        /// NOLOGIN, every session ended, the role dropped.
        case dropped(sessionsEnded: Int)
        /// There was no such role (never made, or dropped before).
        case absent
        /// NOLOGIN and sessions ended, but the role owns objects or holds privileges that block the drop (or its
        /// sessions did not end): it stays NOLOGIN, and sweep tries again.
        case blocked(String)
    }

    /// NOLOGIN, then terminate the role's backends until none remain, then drop it; objects it owns are reassigned
    /// to the administrative role and dropped (in this database) when they block the drop.
    /// `taskID`: the task the ledger says the role is for. A role of that name whose comment does not name the task
    /// (one clawc did not make for it) is left alone.
    public func end(role: String, taskID: String) async throws(IssueFailure) -> EndOutcome {
        let quoted: String
        do { quoted = try PostgresQuote.identifier(role) } catch {
            throw .refused(code: "bad-role-name", message: "the ledger names role `\(HostileText.escape(role))`, which clawc cannot quote: \(error)", help: nil)
        }
        let literal = (try? PostgresQuote.literal(role)) ?? "''"
        return try await call { connection in
            let found = try await connection.query(PostgresQuery(unsafeSQL: """
                SELECT oid::int8, coalesce(pg_catalog.shobj_description(oid, 'pg_authid'), '') FROM pg_catalog.pg_roles WHERE rolname = \(literal)
                """), logger: Self.logger).collect()
            guard let row = found.first else { return .absent }
            let (oid, comment) = try row.decode((Int64, String).self)
            guard comment.hasPrefix("clawc task \(taskID), ") else {
                return .blocked("role `\(role)` exists but is not the role clawc made for task `\(taskID)` (its comment says otherwise); it was left alone")
            }
            // 1. No new sessions.
            try await Self.execute("ALTER ROLE \(quoted) NOLOGIN", on: connection)
            // 2. End the live ones: VALID UNTIL and NOLOGIN are checked only at login.
            var ended = 0
            let deadline = ContinuousClock.now + Self.terminateDeadline
            while true {
                let rows = try await connection.query(PostgresQuery(unsafeSQL: """
                    SELECT count(*) FILTER (WHERE pg_catalog.pg_terminate_backend(pid, 2000)) AS ended, count(*) AS seen
                    FROM pg_catalog.pg_stat_activity WHERE usename = \(literal) AND pid <> pg_catalog.pg_backend_pid()
                    """), logger: Self.logger).collect()
                var seen: (Int64, Int64) = (0, 0)
                if let row = rows.first { seen = try row.decode((Int64, Int64).self) }
                ended += Int(seen.0)
                if seen.1 == 0 { break }
                if ContinuousClock.now > deadline {
                    return .blocked("\(seen.1) session(s) of role `\(role)` did not end within \(Self.terminateDeadline) (is the administrative role a member of pg_signal_backend?)")
                }
                // Every session seen was ended (pg_terminate_backend waited for each to exit): look again at once.
                // Otherwise some could not be signalled yet: wait a little before trying again.
                if seen.0 < seen.1 { try await _Concurrency.Task.sleep(for: .milliseconds(100)) }
            }
            // 3. Its row-scope values, then the role.
            try await Self.execute("""
                DO $clawc$ BEGIN
                  IF pg_catalog.to_regclass('clawc_scope.task_scope') IS NOT NULL THEN
                    DELETE FROM clawc_scope.task_scope WHERE role_name = \(literal);
                  END IF;
                END $clawc$
                """, on: connection)
            // A backend that passed the login check just before NOLOGIN and is not yet listed is ended after the drop,
            // by the role's OID (the name is gone then).
            func endStragglers() async throws {
                _ = try await connection.query(PostgresQuery(unsafeSQL: """
                    SELECT pg_catalog.pg_terminate_backend(pid, 2000) FROM pg_catalog.pg_stat_activity WHERE usesysid = \(oid)
                    """), logger: Self.logger).collect()
            }
            do {
                try await Self.execute("DROP ROLE \(quoted)", on: connection)
                try await endStragglers()
                return .dropped(sessionsEnded: ended)
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "2BP01" {
                // Objects or privileges depend on the role: drop them (never hand them to the administrative role: a
                // view or SECURITY DEFINER function a task made would then run with the administrator's rights), and
                // try again, in one transaction. DROP OWNED needs membership in the role.
                do {
                    try await Self.execute("BEGIN", on: connection)
                    try await Self.execute("GRANT \(quoted) TO CURRENT_USER", on: connection)
                    try await Self.execute("DROP OWNED BY \(quoted)", on: connection)
                    try await Self.execute("DROP ROLE \(quoted)", on: connection)
                    try await Self.execute("COMMIT", on: connection)
                    try await endStragglers()
                    return .dropped(sessionsEnded: ended)
                } catch {
                    try? await Self.execute("ROLLBACK", on: connection)
                    return .blocked("role `\(role)` is NOLOGIN and has no sessions, but cannot be dropped: \(self.describe(error))")
                }
            }
        }
    }

    /// nil when the database answers, else why not (for the broker's `/readyz`).
    public func problem() async -> String? {
        do {
            _ = try await call { connection in try await Self.execute("SELECT 1", on: connection) }
            return nil
        } catch {
            return error.code + ": " + HostileText.escape(String(error.rendered.prefix(300)))
        }
    }

    // MARK: The catalog snapshot

    /// Tables (with their columns and whether row-level security is on) and sequences of every schema but the
    /// system's and clawc's own.
    public func schema() async throws(IssueFailure) -> PostgresSchema {
        let database = location.database
        return try await call { connection in
            let rows = try await connection.query(PostgresQuery(unsafeSQL: """
                SELECT n.nspname::text, c.relname::text, c.relkind::text, c.relrowsecurity, coalesce(a.attname::text, '')
                FROM pg_catalog.pg_class c
                JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND c.relkind <> 'S'
                WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
                  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'clawc', 'clawc_scope')
                  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
                ORDER BY 1, 2, a.attnum
                """), logger: Self.logger).collect()
            var tables: [String: PostgresSchema.Table] = [:]
            var sequences: [String] = []
            for row in rows {
                let (schema, name, kind, rowSecurity, column) = try row.decode((String, String, String, Bool, String).self)
                let qualified = schema + "." + name
                if kind == "S" { sequences.append(qualified); continue }
                var table = tables[qualified] ?? PostgresSchema.Table(columns: [], rowSecurity: rowSecurity)
                if !column.isEmpty { table.columns.append(column) }
                tables[qualified] = table
            }
            return PostgresSchema(database: database, tables: tables, sequences: sequences.sorted())
        }
    }

    // MARK: Calls

    func call<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws(IssueFailure) -> T {
        do {
            return try await connections.withConnection(timeout: Self.callTimeout, body)
        } catch let failure as IssueFailure {
            throw failure
        } catch {
            if let psql = error as? PSQLError, psql.serverInfo != nil {
                throw .refused(code: "database-refused", message: describe(error), help: Self.privilegesHelp)
            }
            throw .unavailable(code: "database-unavailable", message: describe(error), help: "check that the database in --database (or CLAWC_POSTGRES_URL) is reachable")
        }
    }

    static let privilegesHelp = "the administrative role needs CREATEROLE, membership in pg_signal_backend, the privileges it grants WITH GRANT OPTION, and ownership of tables with `rows` (docs/postgres.md)"

    /// A peer's error as words for a diagnostic; the server's text is escaped where it is printed.
    func describe(_ error: any Error) -> String {
        if error is PostgresConnections.Timeout { return "PostgreSQL at \(location) did not answer within \(Self.callTimeout)" }
        if error is PostgresConnections.Closed { return "the connection to PostgreSQL at \(location) was lost" }
        if let psql = error as? PSQLError {
            if let server = psql.serverInfo {
                return "PostgreSQL at \(location) answered: \(server[.message] ?? "an error") (SQLSTATE \(server[.sqlState] ?? "?"))"
            }
            return "PostgreSQL at \(location) could not be reached" + (psql.underlying.map { ": \($0)" } ?? "")
        }
        return "PostgreSQL at \(location): \(error)"
    }
}
