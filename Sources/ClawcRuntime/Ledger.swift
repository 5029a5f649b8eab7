import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The SQLite issuance ledger: one row per task, written before STS is called, and the audit chain, in one file.
///
/// WAL mode with synchronous commits. A task ID and a token ID (`jti`) can each be issued once: the row is checked
/// and written in one write transaction, so a second issuance is refused across processes, before IAM has caught
/// up with any trust-policy edit. A crash between STS and the ledger leaves an `issuing` row that `clawc sweep`
/// reports.
///
/// Concurrency, in one process: a `Ledger` may be shared by any number of tasks. It is an actor, and each call runs
/// its whole transaction (`BEGIN IMMEDIATE … COMMIT`) inside one step under the connection's lock, never across an
/// `await`, so a connection never has two transactions at once (SQLite's own mutex serializes single calls only).
///
/// Across processes: SQLite's write lock serializes writers. A call waits for it at most `busyTimeout` inside SQLite,
/// then tries again after a jittered `Task.sleep` (no thread sleeps), for at most `busyLimit` (10 s) in all; then
/// it fails with `.storage`, naming the lock, rather than hold up an issuer without end.
public actor Ledger: LedgerStore {
    public typealias Entry = LedgerEntry
    public typealias State = LedgerState
    public typealias Refusal = LedgerRefusal
    public typealias AuditVerdict = LedgerAuditVerdict

    /// The most time a call spends waiting for another process's lock before it fails.
    public static let defaultBusyLimit: Duration = .seconds(10)
    /// How long one attempt lets SQLite wait (sleeping the thread) before it answers BUSY and the call pauses
    /// asynchronously instead: short, so a held lock ties up no thread for long.
    static let busyTimeout: Duration = .milliseconds(25)

    public nonisolated let path: String
    public nonisolated let busyLimit: Duration
    /// The key the audit chain is keyed with, or nil for a plain SHA-256 chain.
    public nonisolated let auditKey: AuditKey?
    nonisolated let connection: Connection

    /// Opens the ledger at `path`. With `create` (issuing, revoking, sweeping) a missing file is created, mode 0600,
    /// and set up on first use; without it (auditing) a missing file is refused and nothing is ever created or
    /// changed in the file's layout. Setup (WAL, tables) happens on the first call, with the same retries as any
    /// other, so many processes can open one new ledger at once.
    public init(path: String, create: Bool = true, busyLimit: Duration = Ledger.defaultBusyLimit, auditKey: AuditKey? = nil) throws(Refusal) {
        self.path = path
        self.busyLimit = busyLimit
        self.auditKey = auditKey
        if create {
            let fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
            if fd >= 0 {
                fchmod(fd, 0o600)
                Glibc.close(fd)
            } else if errno != EEXIST {
                throw .storage("cannot create the ledger `\(path)`: \(String(cString: strerror(errno)))")
            }
        } else {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
                throw .storage("there is no ledger at `\(path)`")
            }
        }
        do {
            connection = Connection(database: try SQLiteDatabase(path: path, create: create, busyTimeout: Self.busyTimeout), path: path, creates: create)
        } catch {
            throw .storage("cannot open `\(path)`: \(error.description)")
        }
        // Set the file up now if no one is in the way, so a file that is not a ledger is refused at once and a new
        // ledger is one before anything else reads it; if another connection is busy, the first call does it.
        do {
            try connection.setUpUnlessBusy()
        } catch {
            throw Self.refusal(error, path: path)
        }
    }

    // MARK: the store

    public func begin(_ entry: Entry) async throws(Refusal) {
        let key = auditKey
        try await run(.write) { database in try Self.insert(entry, into: database, key: key) }
    }

    public func recordIssued(task: String, accessKeyID: String, sessionID: String?, expiresAt: Date, state: State, roleARN: String? = nil,
                             sealed: String? = nil, now: Date = Date()) async throws(Refusal)
    {
        let key = auditKey
        try await run(.write) { database in
            try Self.recordIssued(task, accessKeyID, sessionID, expiresAt, state, roleARN, sealed, now, in: database, key: key)
        }
    }

    public func transition(task: String, to state: State, event: String, detail: [String: String] = [:], now: Date = Date())
        async throws(Refusal)
    {
        let key = auditKey
        try await run(.write) { database in
            try Self.update(task: task, state: state, now: now, event: event, detail: detail, extra: nil, in: database, key: key)
        }
    }

    public func entry(task: String) async throws(Refusal) -> Entry? {
        try await run(.read) { database in try Self.row(task: task, in: database) }
    }

    public func entries(in states: Set<State>) async throws(Refusal) -> [Entry] {
        try await run(.read) { database in try Self.rows(in: states, database) }
    }

    public func audit(_ event: String, task: String? = nil, detail: [String: String], now: Date = Date()) async throws(Refusal) {
        let key = auditKey
        try await run(.write) { database in try Self.appendAudit(event, task: task, detail: detail, at: now, in: database, key: key) }
    }

    public func verifyAudit(expecting head: (seq: Int64, hash: String)?) async throws(Refusal) -> AuditVerdict {
        let key = auditKey
        return try await run(.read) { database in try Self.verify(expecting: head, database, key: key) }
    }

    public func auditHead() async throws(Refusal) -> (seq: Int64, hash: String)? {
        let head = try await run(.read) { database in try Self.head(database) }
        return head.map { (seq: $0.seq, hash: $0.hash) }
    }

    /// Runs one transaction, again after a jittered pause while another connection holds the lock, within
    /// `busyLimit`. The transaction starts and ends inside one `attempt`; only the pause is awaited.
    func run<T>(_ kind: SQLiteDatabase.TransactionKind, _ body: (SQLiteDatabase) throws -> T) async throws(Refusal) -> T {
        var budget = RetryBudget(limit: busyLimit)
        while true {
            switch connection.attempt(kind, body) {
            case .success(let value): return value
            case .failure(let error):
                guard Self.isBusy(error) else { throw Self.refusal(error, path: path) }
                guard let pause = budget.nextPause() else { throw Self.lockRefusal(path: path, budget: budget) }
                do {
                    try await Task.sleep(for: pause)
                } catch {
                    throw .storage("cancelled while waiting for the write lock of the ledger `\(path)`; nothing was written")
                }
            }
        }
    }

    static func isBusy(_ error: any Error) -> Bool { (error as? SQLiteDatabase.Failure)?.isBusy ?? false }

    static func refusal(_ error: any Error, path: String) -> Refusal {
        (error as? Refusal) ?? .storage("`\(path)`: \(error)")
    }

    static func lockRefusal(path: String, budget: RetryBudget) -> Refusal {
        .storage("another process holds the write lock of the ledger `\(path)` and did not release it within \(budget.limitText); nothing was written")
    }

    // MARK: one connection, one transaction at a time

    /// The SQLite connection and the lock that lets one transaction at a time run on it. Every use goes through
    /// `attempt`, which holds the lock from `BEGIN` to `COMMIT` and returns before anything is awaited.
    final class Connection: @unchecked Sendable {
        private let lock = NSLock()
        private let database: SQLiteDatabase
        private let path: String
        private let creates: Bool
        /// Whether this connection has set the file up (or, when auditing, found it to be a ledger).
        private var ready = false

        init(database: SQLiteDatabase, path: String, creates: Bool) {
            self.database = database
            self.path = path
            self.creates = creates
        }

        /// One try at setting the file up; BUSY is left for the first call's retries.
        func setUpUnlessBusy() throws {
            lock.lock()
            defer { lock.unlock() }
            guard !ready else { return }
            do {
                try Ledger.setUp(database, path: path, creates: creates)
                ready = true
            } catch where Ledger.isBusy(error) {}
        }

        /// One try at one transaction. BUSY comes back as a failure after at most `busyTimeout`.
        func attempt<T>(_ kind: SQLiteDatabase.TransactionKind, _ body: (SQLiteDatabase) throws -> T) -> Result<T, any Error> {
            lock.lock()
            defer { lock.unlock() }
            do {
                if !ready {
                    try Ledger.setUp(database, path: path, creates: creates)
                    ready = true
                }
                return .success(try database.transaction(kind) { try body(database) })
            } catch {
                return .failure(error)
            }
        }
    }

    /// Makes the file a ledger (WAL, synchronous commits, tables), or, when auditing, checks that it is one.
    /// Outside any transaction: SQLite cannot change the journal mode inside one.
    static func setUp(_ database: SQLiteDatabase, path: String, creates: Bool) throws {
        try database.execute("PRAGMA synchronous=FULL")
        guard creates else {
            let tables = try database.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('issuance', 'audit')")
            guard tables.count == 2 else { throw Refusal.storage("`\(path)` is not a clawc ledger: it has no issuance and audit tables") }
            return
        }
        if try database.query("PRAGMA journal_mode").first?["journal_mode"]?.text?.lowercased() != "wal" {
            let mode = try database.query("PRAGMA journal_mode=WAL").first?["journal_mode"]?.text?.lowercased()
            guard mode == "wal" else {
                throw Refusal.storage("`\(path)` cannot be put in WAL mode (SQLite kept `\(mode ?? "?")`); keep the ledger on a local file system")
            }
        }
        try database.execute("""
            CREATE TABLE IF NOT EXISTS issuance (
                task_id TEXT PRIMARY KEY, jti TEXT UNIQUE, purpose TEXT NOT NULL, subject TEXT NOT NULL,
                policy_sha256 TEXT NOT NULL, session_name TEXT NOT NULL, role_arn TEXT NOT NULL, via TEXT NOT NULL,
                access_key_id TEXT, session_id TEXT, expires_at INTEGER, token_expires_at INTEGER,
                state TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
                policy TEXT, layers INTEGER NOT NULL DEFAULT 0, parent_task TEXT, sealed_credential TEXT);
            CREATE TABLE IF NOT EXISTS audit (
                seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, event TEXT NOT NULL, task_id TEXT,
                detail TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL);
            CREATE INDEX IF NOT EXISTS audit_task ON audit (task_id, event);
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            """)
        // Ledgers made before sealed credentials were kept gain the column.
        let columns = try database.query("PRAGMA table_info(issuance)").compactMap { $0["name"]?.text }
        if !columns.contains("sealed_credential") {
            try database.execute("ALTER TABLE issuance ADD COLUMN sealed_credential TEXT")
        }
        // Stamped once: a write here on every open would take the write lock on every issuance's path.
        if try database.query("PRAGMA user_version").first?["user_version"]?.int != Int64(schemaVersion) {
            try database.execute("PRAGMA user_version = \(schemaVersion)")
        }
    }

    /// The ID of the key the audit chain is keyed with, as the ledger records it.
    static let auditKeyMeta = "audit_key_id"

    static func recordedKeyID(_ database: SQLiteDatabase) throws -> String? {
        let hasMeta = !(try database.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'")).isEmpty
        guard hasMeta else { return nil }
        return try database.query("SELECT value FROM meta WHERE key = ?", [.text(auditKeyMeta)]).first?["value"]?.text
    }

    /// Why `key` cannot be used with a chain keyed with `recorded` (nil: unkeyed), or nil when it can.
    static func keyMismatch(recorded: String?, key: AuditKey?, chainEmpty: Bool) -> String? {
        switch (recorded, key) {
        case (nil, nil): return nil
        case (nil, .some): return chainEmpty ? nil : "the ledger's audit chain is not keyed (it was started without an audit key), but an audit key was given; a chain is keyed from its first record or not at all: unset --audit-key / CLAWC_AUDIT_KEY for this ledger, or start a new ledger with the key"
        case (.some(let id), nil): return "the ledger's audit chain is keyed (key ID \(id)), and no audit key was given: pass --audit-key FILE or set CLAWC_AUDIT_KEY"
        case let (.some(id), .some(key)): return id == key.id ? nil : "the ledger's audit chain is keyed with key ID \(id), and the audit key given has ID \(key.id): it is not the ledger's key"
        }
    }

    // MARK: transactions' bodies (inside `attempt`, never awaiting)

    /// The `issuing` row and its audit record, or a refusal: a task or token seen before. A `failed` row of the
    /// same task is replaced.
    static func insert(_ entry: Entry, into database: SQLiteDatabase, key: AuditKey?) throws {
        if let existing = try row(task: entry.taskID, in: database) {
            guard existing.state == .failed else { throw Refusal.taskAlreadyIssued(entry.taskID, existing.state) }
            try database.query("DELETE FROM issuance WHERE task_id = ?", [.text(entry.taskID)])
        } else if !(try database.query("SELECT 1 FROM audit WHERE task_id = ? AND event = 'issuing' LIMIT 1", [.text(entry.taskID)]).isEmpty) {
            // A row deleted behind clawc's back must not re-enable the task: the audit log remembers it.
            throw Refusal.taskInAuditOnly(entry.taskID)
        }
        if let jti = entry.jwtID, !(try database.query("SELECT 1 FROM issuance WHERE jti = ?", [.text(jti)]).isEmpty) {
            throw Refusal.tokenAlreadyUsed(jti)
        }
        do {
            try database.query("""
                INSERT INTO issuance (task_id, jti, purpose, subject, policy_sha256, session_name, role_arn, via,
                    token_expires_at, state, created_at, updated_at, policy, layers, parent_task) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
                """, [.text(entry.taskID), entry.jwtID.map { .text($0) } ?? .null, .text(entry.purpose), .text(entry.subject),
                      .text(entry.policySHA256), .text(entry.sessionName), .text(entry.roleARN), .text(entry.via.rawValue),
                      time(entry.tokenExpiresAt), .text(State.issuing.rawValue), time(entry.createdAt), time(entry.createdAt),
                      entry.policy.map { .text($0) } ?? .null, .int(Int64(entry.layers)), entry.parentTask.map { .text($0) } ?? .null])
        } catch {
            // Unreachable while the checks above run in the same write transaction; kept as the last line of defence.
            guard !error.isConstraint else { throw Refusal.taskAlreadyIssued(entry.taskID, .issuing) }
            throw error
        }
        try appendAudit("issuing", task: entry.taskID, detail: [
            "purpose": entry.purpose, "subject": entry.subject, "jti": entry.jwtID ?? "", "policySha256": entry.policySHA256,
            "sessionName": entry.sessionName, "roleArn": entry.roleARN, "via": entry.via.rawValue, "layers": String(entry.layers),
            "parentTask": entry.parentTask ?? "",
        ], at: entry.createdAt, in: database, key: key)
    }

    static func recordIssued(_ task: String, _ accessKeyID: String, _ sessionID: String?, _ expiresAt: Date, _ state: State, _ roleARN: String?,
                             _ sealed: String?, _ now: Date, in database: SQLiteDatabase, key: AuditKey?) throws {
        var detail = ["accessKeyId": accessKeyID, "sessionId": sessionID ?? "", "expiresAt": AWSDate.format(expiresAt)]
        var columns = "access_key_id = ?, session_id = ?, expires_at = ?, sealed_credential = ?"
        var values: [SQLiteDatabase.Value] = [.text(accessKeyID), sessionID.map { .text($0) } ?? .null, time(expiresAt), sealed.map { .text($0) } ?? .null]
        // The scoped path learns the caller's session ARN from STS's answer: the row's role from then on.
        if let roleARN {
            detail["roleArn"] = roleARN
            columns += ", role_arn = ?"
            values.append(.text(roleARN))
        }
        try update(task: task, state: state, now: now, event: "issued", detail: detail, extra: (columns, values), in: database, key: key)
    }

    /// Moves a row on and records why; refuses a task with no row, so the audit log never tells of a change that
    /// did not happen.
    static func update(task: String, state: State, now: Date, event: String, detail: [String: String],
                       extra: (String, [SQLiteDatabase.Value])?, in database: SQLiteDatabase, key: AuditKey?) throws {
        let set = ["state = ?", "updated_at = ?"] + (extra.map { [$0.0] } ?? [])
        try database.query("UPDATE issuance SET \(set.joined(separator: ", ")) WHERE task_id = ?",
                           [.text(state.rawValue), time(now)] + (extra?.1 ?? []) + [.text(task)])
        guard database.changes == 1 else { throw Refusal.storage("the ledger has no row for task `\(task)`; nothing was changed") }
        var detail = detail
        detail["state"] = state.rawValue
        try appendAudit(event, task: task, detail: detail, at: now, in: database, key: key)
    }

    static func row(task: String, in database: SQLiteDatabase) throws -> Entry? {
        try database.query("SELECT * FROM issuance WHERE task_id = ?", [.text(task)]).first.flatMap(entry)
    }

    static func rows(in states: Set<State>, _ database: SQLiteDatabase) throws -> [Entry] {
        guard !states.isEmpty else { return [] }
        let marks = Array(repeating: "?", count: states.count).joined(separator: ",")
        return try database.query("SELECT * FROM issuance WHERE state IN (\(marks)) ORDER BY created_at, task_id",
                                  states.map(\.rawValue).sorted().map { .text($0) }).compactMap(entry)
    }

    static func entry(_ row: [String: SQLiteDatabase.Value]) -> Entry? {
        guard let task = row["task_id"]?.text, let state = row["state"]?.text.flatMap(State.init(rawValue:)),
            let via = row["via"]?.text.flatMap(IssuancePath.init(rawValue:))
        else { return nil }
        var entry = Entry(
            taskID: task, purpose: row["purpose"]?.text ?? "", subject: row["subject"]?.text ?? "", jwtID: row["jti"]?.text,
            policySHA256: row["policy_sha256"]?.text ?? "", sessionName: row["session_name"]?.text ?? "", roleARN: row["role_arn"]?.text ?? "",
            via: via, tokenExpiresAt: date(row["token_expires_at"]), now: date(row["created_at"]) ?? Date(timeIntervalSince1970: 0))
        entry.state = state
        entry.accessKeyID = row["access_key_id"]?.text
        entry.sessionID = row["session_id"]?.text
        entry.expiresAt = date(row["expires_at"])
        entry.updatedAt = date(row["updated_at"]) ?? entry.createdAt
        entry.policy = row["policy"]?.text
        entry.layers = Int(row["layers"]?.int ?? 0)
        entry.parentTask = row["parent_task"]?.text
        entry.sealedCredential = row["sealed_credential"]?.text
        return entry
    }

    static func time(_ date: Date?) -> SQLiteDatabase.Value { date.map { .int(Int64($0.timeIntervalSince1970.rounded(.down))) } ?? .null }
    static func date(_ value: SQLiteDatabase.Value?) -> Date? { value?.int.map { Date(timeIntervalSince1970: TimeInterval($0)) } }

    // MARK: the audit chain's storage

    struct Head { var seq: Int64; var hash: String }

    static func head(_ database: SQLiteDatabase) throws -> Head? {
        try database.query("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").first.map {
            Head(seq: $0["seq"]?.int ?? 0, hash: $0["hash"]?.text ?? AuditChain.genesis)
        }
    }

    /// Appends the record that follows the current head. Inside the change's own write transaction, so the record
    /// and the change commit together or not at all.
    static func appendAudit(_ event: String, task: String?, detail: [String: String], at: Date, in database: SQLiteDatabase, key: AuditKey?) throws {
        let head = try head(database)
        let recorded = try recordedKeyID(database)
        if let mismatch = keyMismatch(recorded: recorded, key: key, chainEmpty: head == nil) { throw Refusal.storage(mismatch) }
        if let key, recorded == nil {
            // The chain's first record: from here on it is keyed with this key.
            try database.query("INSERT INTO meta (key, value) VALUES (?, ?)", [.text(auditKeyMeta), .text(key.id)])
        }
        let record = AuditChain.record(after: head.map { ($0.seq, $0.hash) }, event: event, taskID: task, detail: detail, at: at, key: key)
        try database.query("INSERT INTO audit (seq, at, event, task_id, detail, prev, hash) VALUES (?,?,?,?,?,?,?)", [
            .int(record.seq), .int(record.at), .text(record.event), record.taskID.map { .text($0) } ?? .null, .text(record.detail),
            .text(record.prev), .text(record.hash),
        ])
    }

    /// Streams the chain through `AuditChain.Verifier` in one read transaction (one consistent snapshot).
    static func verify(expecting head: (seq: Int64, hash: String)?, _ database: SQLiteDatabase, key: AuditKey?) throws -> AuditVerdict {
        let current = try Self.head(database)
        if let mismatch = keyMismatch(recorded: try recordedKeyID(database), key: key, chainEmpty: current == nil) {
            throw Refusal.storage(mismatch)
        }
        var verifier = AuditChain.Verifier(expecting: head, key: key)
        try database.forEachRow("SELECT seq, at, event, task_id, detail, prev, hash FROM audit ORDER BY seq") { row in
            verifier.check(AuditChain.Record(
                seq: row["seq"]?.int ?? -1, at: row["at"]?.int ?? 0, event: row["event"]?.text ?? "", taskID: row["task_id"]?.text,
                detail: row["detail"]?.text ?? "", prev: row["prev"]?.text ?? "", hash: row["hash"]?.text ?? ""))
        }
        let verdict = verifier.finish()
        guard case .intact = verdict else { return verdict }
        // The rows against the chain: every task the chain says was issued still has its row (a deleted row
        // would let the task be issued again), and every row has the record of its issuance.
        let audited = Set(try database.query("SELECT DISTINCT task_id FROM audit WHERE event = 'issuing'").compactMap { $0["task_id"]?.text })
        let rows = Set(try database.query("SELECT task_id FROM issuance").compactMap { $0["task_id"]?.text })
        if let gone = audited.subtracting(rows).sorted().first {
            return .broken(seq: 0, reason: "the issuance row of task `\(gone)` is gone although the chain records its issuance")
        }
        if let unrecorded = rows.subtracting(audited).sorted().first {
            return .broken(seq: 0, reason: "task `\(unrecorded)` has an issuance row but no `issuing` record in the chain")
        }
        return verdict
    }
}

// MARK: trust-policy edits and operators

extension Ledger: RoleLocking, LedgerAdministration {
    /// The SQLite file's layout version (`PRAGMA user_version`), stamped at setup.
    public static let schemaVersion = 1

    /// The lock file beside the ledger, `LEDGER.iam.lock`: one lock for every role, among this machine's processes.
    public nonisolated var roleLock: FileRoleLock { FileRoleLock(path: path + ".iam.lock") }

    public nonisolated func withRoleLock<T: Sendable>(_ roleARN: String, _ body: (_ stillHeld: @Sendable () async throws -> Void) async throws -> T)
        async throws -> T
    {
        try await roleLock.withRoleLock(roleARN, body)
    }

    /// The layout is brought up to date when the ledger is opened for writing (`setUp`); this reports the version
    /// the file has now, and the newest.
    public func migrate() async throws(Refusal) -> (from: Int, to: Int) {
        (try await run(.read) { database in try Self.layoutVersion(database) }, Self.schemaVersion)
    }

    public func status() async throws(Refusal) -> LedgerStatus {
        let path = self.path
        return try await run(.read) { database in
            var rows: [State: Int] = [:]
            for row in try database.query("SELECT state, count(*) AS n FROM issuance GROUP BY state") {
                if let state = row["state"]?.text.flatMap(State.init(rawValue:)) { rows[state] = Int(row["n"]?.int ?? 0) }
            }
            let head = try Self.head(database)
            return LedgerStatus(
                kind: "SQLite", location: path, schemaVersion: try Self.layoutVersion(database), latestSchemaVersion: Self.schemaVersion, rows: rows,
                auditHeadSeq: head?.seq ?? 0, auditHeadHash: head?.hash ?? AuditChain.genesis, auditKeyID: try Self.recordedKeyID(database))
        }
    }

    /// `PRAGMA user_version`; a ledger made before versions were stamped, but with every column, counts as 1.
    static func layoutVersion(_ database: SQLiteDatabase) throws -> Int {
        let stamped = Int(try database.query("PRAGMA user_version").first?["user_version"]?.int ?? 0)
        if stamped > 0 { return stamped }
        let columns = try database.query("PRAGMA table_info(issuance)").compactMap { $0["name"]?.text }
        return columns.contains("sealed_credential") ? 1 : 0
    }
}
