import Foundation
import Logging
import PostgresNIO

/// The issuance ledger on PostgreSQL, shared by every issuer (CLI runs, brokers, CI runners) on every machine that
/// names the same database. docs/ledger.md has the schema and how to run several nodes.
///
/// Exactly once across nodes: `task_id` is the primary key and `jti` is unique, and `begin` inserts with
/// `ON CONFLICT DO NOTHING RETURNING`, so of two nodes racing for one task exactly one inserts and the other learns
/// from the winner's row why it lost. Every change appends its audit record in the same transaction, after locking
/// the chain's head row (`clawc.audit_head … FOR UPDATE`): the chain stays one sequence with every node writing,
/// and rows and records commit together or not at all. Issuance rows are always locked before the head, so two
/// transactions never wait for each other in a cycle.
///
/// Fails closed: a server that cannot be reached, or a call unanswered within `operationTimeout`, is `.storage`
/// (`ledger-unavailable`) and `clawc issue` refuses before STS. A connection lost between the ledger write and its
/// commit leaves the outcome unknown to this process, never a second credential: `begin` either committed (the task
/// is refused from then on, and swept) or did not (nothing was issued).
///
/// Decisions are made on the server this URL names, which must be the primary. An asynchronous replica promoted
/// after a failover can lack rows the old primary had committed; only a synchronous standby keeps the promise then.
public final class PostgresLedger: LedgerStore, RoleLocking, LedgerAdministration {
    /// The newest schema this build writes and reads.
    public static let schemaVersion = 1
    /// The first key of every advisory lock clawc takes (`'claw'`); the second is 0 for migrations, and a hash of the
    /// role's ARN for trust-policy edits.
    static let lockClass: Int32 = 0x636c_6177

    public let location: PostgresLocation
    public let auditKey: AuditKey?
    /// The most time one call may take once it has a connection.
    public let operationTimeout: Duration
    /// The most time a trust-policy edit waits for another node's edit of the same role.
    public let roleLockTimeout: Duration
    let connections: PostgresConnections
    let creates: Bool
    private let readiness = Readiness()
    private let logger = Logger(label: "clawc.ledger.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    /// A ledger in the database at `location`. Nothing is connected until the first call. With `create` (issue,
    /// revoke, sweep, migrate) the schema is brought up to date on first use, under an advisory lock, so nodes starting
    /// at once migrate once; without it (audit, status) a database without the ledger's tables is refused and nothing
    /// is changed.
    public init(location: PostgresLocation, create: Bool = true, auditKey: AuditKey? = nil, operationTimeout: Duration = .seconds(10),
                roleLockTimeout: Duration = .seconds(30), maximumConnections: Int = 8) throws(LedgerRefusal)
    {
        self.location = location
        self.creates = create
        self.auditKey = auditKey
        self.operationTimeout = operationTimeout
        self.roleLockTimeout = roleLockTimeout
        connections = try PostgresConnections(location: location, maximum: maximumConnections)
    }

    /// Closes the idle connections; every connection is closed by the time the last call using one returns.
    public func close() async { await connections.shutdown() }

    // MARK: the store

    public func begin(_ entry: LedgerEntry) async throws(LedgerRefusal) {
        let key = auditKey
        try await transaction { connection in try await Self.insert(entry, connection, key: key) }
    }

    public func recordIssued(task: String, accessKeyID: String, sessionID: String?, expiresAt: Date, state: LedgerState, roleARN: String?,
                             sealed: String?, now: Date) async throws(LedgerRefusal)
    {
        let key = auditKey
        try await transaction { connection in
            var detail = ["accessKeyId": accessKeyID, "sessionId": sessionID ?? "", "expiresAt": AWSDate.format(expiresAt)]
            if let roleARN { detail["roleArn"] = roleARN }
            let rows = try await connection.query("""
                UPDATE clawc.issuance SET state = \(state.rawValue), updated_at = \(Self.seconds(now)), access_key_id = \(accessKeyID),
                    session_id = \(sessionID), expires_at = \(Self.seconds(expiresAt)), sealed_credential = \(sealed),
                    role_arn = COALESCE(\(roleARN), role_arn)
                WHERE task_id = \(task) RETURNING 1
                """, logger: Self.quiet).collect()
            guard rows.count == 1 else { throw LedgerRefusal.storage("the ledger has no row for task `\(task)`; nothing was changed") }
            detail["state"] = state.rawValue
            try await Self.appendAudit("issued", task: task, detail: detail, at: now, connection, key: key)
        }
    }

    public func transition(task: String, to state: LedgerState, event: String, detail: [String: String], now: Date) async throws(LedgerRefusal) {
        let key = auditKey
        try await transaction { connection in
            let rows = try await connection.query("""
                UPDATE clawc.issuance SET state = \(state.rawValue), updated_at = \(Self.seconds(now)) WHERE task_id = \(task) RETURNING 1
                """, logger: Self.quiet).collect()
            guard rows.count == 1 else { throw LedgerRefusal.storage("the ledger has no row for task `\(task)`; nothing was changed") }
            var detail = detail
            detail["state"] = state.rawValue
            try await Self.appendAudit(event, task: task, detail: detail, at: now, connection, key: key)
        }
    }

    public func entry(task: String) async throws(LedgerRefusal) -> LedgerEntry? {
        try await call { connection in
            try await connection.query("SELECT \(unescaped: Self.columns) FROM clawc.issuance WHERE task_id = \(task)", logger: Self.quiet)
                .collect().first.flatMap(Self.entry)
        }
    }

    public func entries(in states: Set<LedgerState>) async throws(LedgerRefusal) -> [LedgerEntry] {
        guard !states.isEmpty else { return [] }
        let names = states.map(\.rawValue).sorted()
        return try await call { connection in
            try await connection.query("""
                SELECT \(unescaped: Self.columns) FROM clawc.issuance WHERE state = ANY(\(names)) ORDER BY created_at, task_id COLLATE "C"
                """, logger: Self.quiet).collect().compactMap(Self.entry)
        }
    }

    public func audit(_ event: String, task: String?, detail: [String: String], now: Date) async throws(LedgerRefusal) {
        let key = auditKey
        try await transaction { connection in try await Self.appendAudit(event, task: task, detail: detail, at: now, connection, key: key) }
    }

    public func verifyAudit(expecting head: (seq: Int64, hash: String)?) async throws(LedgerRefusal) -> LedgerAuditVerdict {
        let key = auditKey
        let anchor = head.map { AnchorBox(seq: $0.seq, hash: $0.hash) }
        return try await transaction(readOnlySnapshot: true) { connection in
            try await Self.verify(expecting: anchor, connection, key: key)
        }
    }

    public func auditHead() async throws(LedgerRefusal) -> (seq: Int64, hash: String)? {
        let head = try await call { connection in try await Self.head(connection) }
        return head.seq == 0 ? nil : (seq: head.seq, hash: head.hash)
    }

    public func claimForSweep(now: Date, staleBefore: Date, limit: Int, lease: TimeInterval) async throws(LedgerRefusal) -> [LedgerEntry] {
        let nowSeconds = Self.seconds(now)
        let until = Self.seconds(now.addingTimeInterval(lease))
        let stale = Self.seconds(staleBefore)
        let limit = Int64(max(0, limit))
        let rows = try await call { connection in
            // Rows another node's sweep holds (locked now, or claimed within its lease) are skipped, not waited for.
            try await connection.query("""
                UPDATE clawc.issuance SET sweep_claimed_until = \(until)
                WHERE task_id IN (
                    SELECT task_id FROM clawc.issuance
                    WHERE (sweep_claimed_until IS NULL OR sweep_claimed_until <= \(nowSeconds))
                      AND (state = 'revocation-pending'
                        OR (state = 'sealed' AND expires_at < \(nowSeconds) AND token_expires_at < \(nowSeconds))
                        OR (state = 'issuing' AND created_at < \(stale))
                        OR (state = 'issued' AND via = 'postgres' AND expires_at < \(nowSeconds)))
                    ORDER BY created_at, task_id COLLATE "C"
                    LIMIT \(limit)
                    FOR UPDATE SKIP LOCKED)
                RETURNING \(unescaped: Self.columns)
                """, logger: Self.quiet).collect().compactMap(Self.entry)
        }
        return rows.sorted { $0.createdAt != $1.createdAt ? $0.createdAt < $1.createdAt : $0.taskID.utf8.lexicographicallyPrecedes($1.taskID.utf8) }
    }

    // MARK: trust-policy edits, serialized across nodes

    /// Holds a transaction-scoped advisory lock for the role (two nodes editing the same role wait for each other,
    /// other roles do not) for as long as `body` runs, and counts the role's edits in `clawc.role_edits`:
    /// `stillHeld` checks on the lock's own connection that the transaction is alive and the count has not moved,
    /// and the count goes up by one at the end only if it is still the one read at the start.
    public func withRoleLock<T: Sendable>(_ roleARN: String, _ body: (_ stillHeld: @Sendable () async throws -> Void) async throws -> T)
        async throws -> T
    {
        do { try await ready() } catch { throw Self.lockFailure(error.description) }
        let connection: PostgresConnection
        do { connection = try await connections.lease() } catch { throw Self.lockFailure(describe(error)) }
        let timeout = operationTimeout
        let lockTimeout = "\(max(1, roleLockTimeout.components.seconds))s"
        let version: Int64
        do {
            version = try await PostgresConnections.bounded(connection, timeout: roleLockTimeout + timeout) { connection in
                _ = try await connection.query("BEGIN", logger: Self.quiet).collect()
                _ = try await connection.query("SELECT set_config('lock_timeout', \(lockTimeout), true)", logger: Self.quiet).collect()
                _ = try await connection.query("SELECT pg_advisory_xact_lock(\(Self.lockClass), hashtext(\(roleARN)))", logger: Self.quiet).collect()
                _ = try await connection.query("""
                    INSERT INTO clawc.role_edits (role_arn, version) VALUES (\(roleARN), 0) ON CONFLICT (role_arn) DO NOTHING
                    """, logger: Self.quiet).collect()
                guard let row = try await connection.query("SELECT version FROM clawc.role_edits WHERE role_arn = \(roleARN)", logger: Self.quiet)
                    .collect().first
                else { throw LedgerRefusal.storage("the role's edit count vanished") }
                return try row.decode(Int64.self)
            }
        } catch {
            await connections.release(connection, reusable: false)
            try? await connection.close()
            throw Self.lockFailure(error is PostgresConnections.Timeout
                ? "another node has held the trust-policy lock of `\(roleARN)` for \(roleLockTimeout) without finishing its IAM edit; nothing was changed"
                : describe(error))
        }
        let check: @Sendable () async throws -> Void = { [location] in
            let current = connection.isClosed ? nil : try? await PostgresConnections.bounded(connection, timeout: timeout) { connection in
                try await connection.query("SELECT version FROM clawc.role_edits WHERE role_arn = \(roleARN)", logger: Self.quiet)
                    .collect().first?.decode(Int64.self)
            }
            guard current == version else {
                throw Self.lockFailure(current == nil
                    ? "the connection to the ledger \(location) holding the trust-policy lock of `\(roleARN)` was lost; nothing more was changed"
                    : "the trust-policy edits of `\(roleARN)` were counted by someone not holding the lock; nothing more was changed")
            }
        }
        let value: T
        do {
            value = try await body(check)
        } catch {
            if !connection.isClosed {
                _ = try? await PostgresConnections.bounded(connection, timeout: timeout) { connection in
                    _ = try await connection.query("ROLLBACK", logger: Self.quiet).collect()
                }
            }
            await connections.release(connection, reusable: !connection.isClosed)
            throw error
        }
        do {
            try await PostgresConnections.bounded(connection, timeout: timeout) { connection in
                let bumped = try await connection.query("""
                    UPDATE clawc.role_edits SET version = version + 1 WHERE role_arn = \(roleARN) AND version = \(version) RETURNING 1
                    """, logger: Self.quiet).collect()
                guard bumped.count == 1 else { throw LedgerRefusal.storage("the role's edit count moved under the lock") }
                _ = try await connection.query("COMMIT", logger: Self.quiet).collect()
            }
            await connections.release(connection, reusable: true)
        } catch {
            // The IAM edit is done; only its count was not. The next edit reads IAM afresh, so nothing is lost.
            await connections.release(connection, reusable: false)
            try? await connection.close()
        }
        return value
    }

    static func lockFailure(_ message: String) -> RevocationFailure {
        RevocationFailure(code: "lock-error", message: message, upstream: true)
    }

    // MARK: operators

    public func migrate() async throws(LedgerRefusal) -> (from: Int, to: Int) {
        do {
            let result = try await connections.withConnection(timeout: operationTimeout) { connection in try await Self.migrate(connection) }
            await readiness.markReady()
            return result
        } catch {
            throw refusal(error)
        }
    }

    public func status() async throws(LedgerRefusal) -> LedgerStatus {
        try await ready()
        let description = location.description
        return try await transaction(readOnlySnapshot: true) { connection in
            let version = try await Self.currentVersion(connection)
            var rows: [LedgerState: Int] = [:]
            for row in try await connection.query("SELECT state, count(*) FROM clawc.issuance GROUP BY state", logger: Self.quiet).collect() {
                let (state, count) = try row.decode((String, Int64).self)
                if let state = LedgerState(rawValue: state) { rows[state] = Int(count) }
            }
            let head = try await Self.head(connection)
            return LedgerStatus(
                kind: "PostgreSQL", location: description, schemaVersion: version, latestSchemaVersion: Self.schemaVersion, rows: rows,
                auditHeadSeq: head.seq, auditHeadHash: head.hash, auditKeyID: head.keyID)
        }
    }

    // MARK: running calls

    static let quiet = Logger(label: "clawc.ledger.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Makes sure the schema is there (and, with `create`, current) before the first call.
    private func ready() async throws(LedgerRefusal) {
        let creates = self.creates
        let location = self.location
        do {
            try await readiness.ensure { [connections, operationTimeout] in
                try await connections.withConnection(timeout: operationTimeout) { connection in
                    let version = try await Self.currentVersion(connection)
                    if version == Self.schemaVersion { return }
                    if version > Self.schemaVersion {
                        throw LedgerRefusal.unusable(
                            "the ledger \(location) has schema version \(version), newer than this clawc knows (\(Self.schemaVersion)); upgrade clawc on this node")
                    }
                    guard creates else {
                        throw LedgerRefusal.unusable(version == 0
                            ? "there is no clawc ledger in \(location) (no `clawc` schema); `clawc ledger migrate` makes one"
                            : "the ledger \(location) has schema version \(version), older than this clawc's \(Self.schemaVersion); run `clawc ledger migrate`")
                    }
                    _ = try await Self.migrate(connection)
                }
            }
        } catch {
            throw refusal(error)
        }
    }

    /// One call on a pooled connection, outside any explicit transaction.
    private func call<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws(LedgerRefusal) -> T {
        try await ready()
        do {
            return try await connections.withConnection(timeout: operationTimeout, body)
        } catch {
            throw refusal(error)
        }
    }

    /// One transaction: `BEGIN`, `body`, `COMMIT`; a refusal from `body` rolls back and keeps the connection. A
    /// deadlock or serialization failure reported by the server (nothing committed) is tried again, up to 3 times.
    /// `readOnlySnapshot`: one consistent snapshot for every statement (`REPEATABLE READ READ ONLY`).
    private func transaction<T: Sendable>(readOnlySnapshot: Bool = false, _ body: @escaping @Sendable (PostgresConnection) async throws -> T)
        async throws(LedgerRefusal) -> T
    {
        try await ready()
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await connections.withConnection(timeout: operationTimeout) { connection in
                    _ = try await connection.query(readOnlySnapshot ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN", logger: Self.quiet).collect()
                    let value: T
                    do {
                        value = try await body(connection)
                    } catch let refusal as LedgerRefusal {
                        _ = try await connection.query("ROLLBACK", logger: Self.quiet).collect()
                        throw refusal
                    }
                    _ = try await connection.query("COMMIT", logger: Self.quiet).collect()
                    return value
                }
            } catch {
                if attempt < 3, let state = Self.sqlState(error), state == "40001" || state == "40P01" { continue }
                throw refusal(error)
            }
        }
    }

    private func refusal(_ error: any Error) -> LedgerRefusal {
        if let refusal = error as? LedgerRefusal { return refusal }
        return .storage(describe(error))
    }

    /// What went wrong, in words, without the password (PostgresNIO's errors do not carry it; the location's
    /// description leaves it out).
    private func describe(_ error: any Error) -> String {
        if error is PostgresConnections.Timeout {
            return "PostgreSQL at \(location) did not answer within \(operationTimeout); nothing was committed by this call unless it was the commit itself"
        }
        if error is PostgresConnections.Closed { return "the connection to PostgreSQL at \(location) was lost; nothing was committed by this call" }
        if let refusal = error as? LedgerRefusal, case .storage(let why) = refusal { return why }
        if let refusal = error as? LedgerRefusal, case .unusable(let why) = refusal { return why }
        if let psql = error as? PSQLError {
            if let server = psql.serverInfo {
                let message = server[.message] ?? "an error"
                let state = server[.sqlState] ?? "?"
                return "PostgreSQL at \(location) answered: \(message) (SQLSTATE \(state))"
            }
            let underlying = psql.underlying.map { ": \($0)" } ?? ""
            if let inner = psql.underlying, String(reflecting: type(of: inner)).contains("SSL") {
                return "TLS with PostgreSQL at \(location) failed (sslmode=\(location.sslMode.rawValue))\(underlying)"
            }
            switch psql.code {
            case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown:
                return "cannot reach PostgreSQL at \(location)\(underlying)"
            case .sslUnsupported:
                return "PostgreSQL at \(location) does not offer TLS, and sslmode=\(location.sslMode.rawValue) requires it"
            case .failedToAddSSLHandler:
                return "cannot set up TLS to PostgreSQL at \(location)\(underlying)"
            default:
                return "PostgreSQL at \(location): \(psql.code)\(underlying)"
            }
        }
        return "PostgreSQL at \(location): \(error)"
    }

    static func sqlState(_ error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.sqlState]
    }

    // MARK: the schema

    /// The schema's migrations, in order. A migration is never edited once released: a change is a new one.
    static let migrations: [(version: Int, statements: [String])] = [
        (1, [
            """
            CREATE TABLE clawc.issuance (
                task_id text PRIMARY KEY, jti text UNIQUE, purpose text NOT NULL, subject text NOT NULL,
                policy_sha256 text NOT NULL, session_name text NOT NULL, role_arn text NOT NULL, via text NOT NULL,
                access_key_id text, session_id text, expires_at bigint, token_expires_at bigint,
                state text NOT NULL, created_at bigint NOT NULL, updated_at bigint NOT NULL,
                policy text, layers bigint NOT NULL DEFAULT 0, parent_task text, sealed_credential text,
                sweep_claimed_until bigint)
            """,
            "CREATE INDEX issuance_state ON clawc.issuance (state, created_at)",
            """
            CREATE TABLE clawc.audit (
                seq bigint PRIMARY KEY, at bigint NOT NULL, event text NOT NULL, task_id text,
                detail text NOT NULL, prev text NOT NULL, hash text NOT NULL)
            """,
            "CREATE INDEX audit_task ON clawc.audit (task_id, event)",
            """
            CREATE TABLE clawc.audit_head (
                id boolean PRIMARY KEY DEFAULT true CHECK (id), seq bigint NOT NULL, hash text NOT NULL)
            """,
            "INSERT INTO clawc.audit_head (id, seq, hash) VALUES (true, 0, '\(AuditChain.genesis)')",
            "CREATE TABLE clawc.meta (key text PRIMARY KEY, value text NOT NULL)",
            "CREATE TABLE clawc.role_edits (role_arn text PRIMARY KEY, version bigint NOT NULL)",
        ]),
    ]

    /// The schema version recorded in the database; 0 when there is no ledger yet.
    static func currentVersion(_ connection: PostgresConnection) async throws -> Int {
        let present = try await connection.query("SELECT to_regclass('clawc.schema_migrations') IS NOT NULL", logger: quiet).collect().first?
            .decode(Bool.self) ?? false
        guard present else { return 0 }
        let version = try await connection.query("SELECT COALESCE(max(version), 0) FROM clawc.schema_migrations", logger: quiet).collect().first?
            .decode(Int64.self) ?? 0
        return Int(version)
    }

    /// Applies the missing migrations in one transaction under the migration lock: nodes starting at once wait for
    /// each other, and the second finds nothing left to do.
    static func migrate(_ connection: PostgresConnection) async throws -> (from: Int, to: Int) {
        _ = try await connection.query("BEGIN", logger: quiet).collect()
        do {
            _ = try await connection.query("SELECT pg_advisory_xact_lock(\(lockClass), 0)", logger: quiet).collect()
            _ = try await connection.query("CREATE SCHEMA IF NOT EXISTS clawc", logger: quiet).collect()
            _ = try await connection.query(
                "CREATE TABLE IF NOT EXISTS clawc.schema_migrations (version bigint PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
                logger: quiet
            ).collect()
            let from = try await currentVersion(connection)
            guard from <= schemaVersion else {
                throw LedgerRefusal.unusable("the ledger has schema version \(from), newer than this clawc knows (\(schemaVersion)); upgrade clawc on this node")
            }
            for migration in migrations where migration.version > from {
                for statement in migration.statements {
                    _ = try await connection.query(PostgresQuery(unsafeSQL: statement), logger: quiet).collect()
                }
                _ = try await connection.query("INSERT INTO clawc.schema_migrations (version) VALUES (\(Int64(migration.version)))", logger: quiet).collect()
            }
            _ = try await connection.query("COMMIT", logger: quiet).collect()
            return (from, schemaVersion)
        } catch {
            // A failed rollback leaves the connection in a transaction: that error, not a refusal, goes up, so the
            // connection is closed rather than pooled.
            _ = try await connection.query("ROLLBACK", logger: quiet).collect()
            throw error
        }
    }

    // MARK: transactions' bodies

    static let columns = """
        task_id, jti, purpose, subject, policy_sha256, session_name, role_arn, via, access_key_id, session_id, expires_at, \
        token_expires_at, state, created_at, updated_at, policy, layers, parent_task, sealed_credential
        """

    /// Inserts the `issuing` row, or learns from the row in the way why not. A `failed` row of the same task is
    /// replaced; a task the audit chain records as issued whose row is gone is refused.
    static func insert(_ entry: LedgerEntry, _ connection: PostgresConnection, key: AuditKey?) async throws {
        var replacedFailed = false
        for _ in 0..<4 {
            let inserted = try await connection.query("""
                INSERT INTO clawc.issuance (task_id, jti, purpose, subject, policy_sha256, session_name, role_arn, via,
                    token_expires_at, state, created_at, updated_at, policy, layers, parent_task)
                VALUES (\(entry.taskID), \(entry.jwtID), \(entry.purpose), \(entry.subject), \(entry.policySHA256), \(entry.sessionName),
                    \(entry.roleARN), \(entry.via.rawValue), \(entry.tokenExpiresAt.map(seconds)), \(LedgerState.issuing.rawValue),
                    \(seconds(entry.createdAt)), \(seconds(entry.createdAt)), \(entry.policy), \(Int64(entry.layers)), \(entry.parentTask))
                ON CONFLICT DO NOTHING RETURNING 1
                """, logger: quiet).collect()
            if inserted.count == 1 {
                if !replacedFailed {
                    // A row deleted behind clawc's back must not re-enable the task: the audit log remembers it.
                    let audited = try await connection.query("""
                        SELECT 1 FROM clawc.audit WHERE task_id = \(entry.taskID) AND event = 'issuing' LIMIT 1
                        """, logger: quiet).collect()
                    if !audited.isEmpty { throw LedgerRefusal.taskInAuditOnly(entry.taskID) }
                }
                try await appendAudit("issuing", task: entry.taskID, detail: [
                    "purpose": entry.purpose, "subject": entry.subject, "jti": entry.jwtID ?? "", "policySha256": entry.policySHA256,
                    "sessionName": entry.sessionName, "roleArn": entry.roleARN, "via": entry.via.rawValue, "layers": String(entry.layers),
                    "parentTask": entry.parentTask ?? "",
                ], at: entry.createdAt, connection, key: key)
                return
            }
            // Lost: the winner's row says why (its insert has committed, or the conflict would still be waiting).
            if let existing = try await connection.query("""
                SELECT \(unescaped: columns) FROM clawc.issuance WHERE task_id = \(entry.taskID) FOR UPDATE
                """, logger: quiet).collect().first.flatMap(Self.entry) {
                guard existing.state == .failed else { throw LedgerRefusal.taskAlreadyIssued(entry.taskID, existing.state) }
                _ = try await connection.query("DELETE FROM clawc.issuance WHERE task_id = \(entry.taskID) AND state = 'failed'", logger: quiet).collect()
                replacedFailed = true
                continue
            }
            if let jti = entry.jwtID,
                !(try await connection.query("SELECT 1 FROM clawc.issuance WHERE jti = \(jti)", logger: quiet).collect()).isEmpty
            {
                throw LedgerRefusal.tokenAlreadyUsed(jti)
            }
            // The conflicting row went away between the insert and the look (another node replacing a failed row):
            // try again.
        }
        throw LedgerRefusal.storage("task `\(entry.taskID)` kept conflicting with rows that then went away; nothing was written")
    }

    struct Head: Sendable {
        var seq: Int64
        var hash: String
        var keyID: String?
    }

    /// The chain's head and the key ID the ledger records; with `lock`, the head row is locked until the transaction
    /// ends, so appends from every node follow one another.
    static func head(_ connection: PostgresConnection, lock: Bool = false) async throws -> Head {
        let rows = try await connection.query("""
            SELECT h.seq, h.hash, (SELECT value FROM clawc.meta WHERE key = 'audit_key_id') FROM clawc.audit_head h \(unescaped: lock ? "FOR UPDATE OF h" : "")
            """, logger: quiet).collect()
        guard let row = rows.first else { throw LedgerRefusal.storage("the ledger's audit head row is missing (clawc.audit_head): the ledger was edited outside clawc") }
        let (seq, hash, keyID) = try row.decode((Int64, String, String?).self)
        return Head(seq: seq, hash: hash, keyID: keyID)
    }

    /// Appends the record that follows the head, inside the change's own transaction.
    static func appendAudit(_ event: String, task: String?, detail: [String: String], at: Date, _ connection: PostgresConnection, key: AuditKey?)
        async throws
    {
        let head = try await head(connection, lock: true)
        if let mismatch = Ledger.keyMismatch(recorded: head.keyID, key: key, chainEmpty: head.seq == 0) { throw LedgerRefusal.storage(mismatch) }
        if let key, head.keyID == nil {
            // The chain's first record: from here on it is keyed with this key.
            _ = try await connection.query("INSERT INTO clawc.meta (key, value) VALUES ('audit_key_id', \(key.id))", logger: quiet).collect()
        }
        let previous = head.seq == 0 ? nil : (seq: head.seq, hash: head.hash)
        let record = AuditChain.record(after: previous, event: event, taskID: task, detail: detail, at: at, key: key)
        _ = try await connection.query("""
            WITH appended AS (
                INSERT INTO clawc.audit (seq, at, event, task_id, detail, prev, hash)
                VALUES (\(record.seq), \(record.at), \(record.event), \(record.taskID), \(record.detail), \(record.prev), \(record.hash)))
            UPDATE clawc.audit_head SET seq = \(record.seq), hash = \(record.hash)
            """, logger: quiet).collect()
    }

    struct AnchorBox: Sendable {
        var seq: Int64
        var hash: String
    }

    /// Streams the chain through `AuditChain.Verifier` in one snapshot, then checks the head row and the rows
    /// against the chain.
    static func verify(expecting anchor: AnchorBox?, _ connection: PostgresConnection, key: AuditKey?) async throws -> LedgerAuditVerdict {
        let head = try await head(connection)
        if let mismatch = Ledger.keyMismatch(recorded: head.keyID, key: key, chainEmpty: head.seq == 0) { throw LedgerRefusal.storage(mismatch) }
        var verifier = AuditChain.Verifier(expecting: anchor.map { (seq: $0.seq, hash: $0.hash) }, key: key)
        var last: (seq: Int64, hash: String)?
        let records = try await connection.query("SELECT seq, at, event, task_id, detail, prev, hash FROM clawc.audit ORDER BY seq", logger: quiet)
        for try await row in records {
            let (seq, at, event, task, detail, prev, hash) = try row.decode((Int64, Int64, String, String?, String, String, String).self)
            last = (seq, hash)
            if !verifier.check(AuditChain.Record(seq: seq, at: at, event: event, taskID: task, detail: detail, prev: prev, hash: hash)) { break }
        }
        let verdict = verifier.finish()
        guard case .intact(let count) = verdict else { return verdict }
        // The head row is written with every record: a chain cut short behind it is missing records.
        if head.seq != Int64(count) || (count > 0 && head.hash != last?.hash) {
            return .broken(seq: head.seq, reason: "the ledger's head row names record \(head.seq), but the chain ends at record \(count): records were removed or the head was edited")
        }
        let gone = try await connection.query("""
            SELECT a.task_id FROM (SELECT DISTINCT task_id FROM clawc.audit WHERE event = 'issuing' AND task_id IS NOT NULL) a
            WHERE NOT EXISTS (SELECT 1 FROM clawc.issuance i WHERE i.task_id = a.task_id) ORDER BY a.task_id COLLATE "C" LIMIT 1
            """, logger: quiet).collect().first?.decode(String.self)
        if let gone { return .broken(seq: 0, reason: "the issuance row of task `\(gone)` is gone although the chain records its issuance") }
        let unrecorded = try await connection.query("""
            SELECT i.task_id FROM clawc.issuance i
            WHERE NOT EXISTS (SELECT 1 FROM clawc.audit a WHERE a.task_id = i.task_id AND a.event = 'issuing') ORDER BY i.task_id COLLATE "C" LIMIT 1
            """, logger: quiet).collect().first?.decode(String.self)
        if let unrecorded { return .broken(seq: 0, reason: "task `\(unrecorded)` has an issuance row but no `issuing` record in the chain") }
        return verdict
    }

    static func entry(_ row: PostgresRow) -> LedgerEntry? {
        let cells = row.makeRandomAccess()
        func text(_ name: String) -> String? { try? cells[name].decode(String?.self) ?? nil }
        func number(_ name: String) -> Int64? { try? cells[name].decode(Int64?.self) ?? nil }
        func date(_ name: String) -> Date? { number(name).map { Date(timeIntervalSince1970: TimeInterval($0)) } }
        guard let task = text("task_id"), let state = text("state").flatMap(LedgerState.init(rawValue:)),
            let via = text("via").flatMap(IssuancePath.init(rawValue:))
        else { return nil }
        var entry = LedgerEntry(
            taskID: task, purpose: text("purpose") ?? "", subject: text("subject") ?? "", jwtID: text("jti"), policySHA256: text("policy_sha256") ?? "",
            sessionName: text("session_name") ?? "", roleARN: text("role_arn") ?? "", via: via, tokenExpiresAt: date("token_expires_at"),
            now: date("created_at") ?? Date(timeIntervalSince1970: 0))
        entry.state = state
        entry.accessKeyID = text("access_key_id")
        entry.sessionID = text("session_id")
        entry.expiresAt = date("expires_at")
        entry.updatedAt = date("updated_at") ?? entry.createdAt
        entry.policy = text("policy")
        entry.layers = Int(number("layers") ?? 0)
        entry.parentTask = text("parent_task")
        entry.sealedCredential = text("sealed_credential")
        return entry
    }

    /// Whole seconds since 1970, rounded down: as the SQLite ledger and the audit chain keep time.
    static func seconds(_ date: Date) -> Int64 { Int64(date.timeIntervalSince1970.rounded(.down)) }
}

/// Runs the schema check once per store value; a failure is tried again by the next call.
private actor Readiness {
    private var task: Task<Void, any Error>?
    private var ready = false

    func ensure(_ make: @escaping @Sendable () async throws -> Void) async throws {
        if ready { return }
        if let task { return try await task.value }
        let task = Task { try await make() }
        self.task = task
        do {
            try await task.value
            ready = true
        } catch {
            self.task = nil
            throw error
        }
    }

    func markReady() { ready = true }
}
