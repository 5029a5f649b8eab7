import Crypto
import Foundation

/// The issuance ledger: one row per task, written before STS is called, plus a hash-chained audit log.
///
/// SQLite in WAL mode with synchronous commits. A task ID and a token ID (`jti`) can each be issued once:
/// the unique constraints refuse a second issuance across processes, before IAM has caught up with any
/// trust-policy edit. A crash between STS and the ledger leaves an `issuing` row that `clawc sweep` reports.
public final class Ledger: @unchecked Sendable {
    /// Where a task's issuance stands.
    public enum State: String, Sendable, CaseIterable {
        /// Written before the STS call; the outcome is not known yet.
        case issuing
        /// STS refused; no credential exists. The task may be tried again.
        case failed
        /// A credential exists; its task ID is not yet in the trust policy's Deny list.
        case pending = "revocation-pending"
        /// A credential exists and the trust policy refuses the task ID.
        case sealed
        /// A credential exists and its path has nothing more to do (scoped credentials: no trust policy to edit).
        case issued
        /// The live session was cut with `clawc revoke`.
        case revoked
        /// Credential and token both expired; the trust-policy entry was pruned. Re-issue is still refused.
        case retired
    }

    public struct Entry: Sendable, Equatable {
        public var taskID: String
        public var purpose: String
        public var subject: String
        public var jwtID: String?
        public var policySHA256: String
        public var sessionName: String
        /// The role whose trust policy and inline policies govern the session: the assumed role for web identity,
        /// the caller's role for scoped credentials (from its session ARN; empty when STS did not say).
        public var roleARN: String
        public var via: IssuancePath
        public var accessKeyID: String?
        /// `ROLEID:SESSION` for web identity, the scoped session ID for scoped credentials.
        public var sessionID: String?
        public var expiresAt: Date?
        public var tokenExpiresAt: Date?
        public var state: State
        public var createdAt: Date
        public var updatedAt: Date
        /// The session policy as issued (not a secret): a sub-task's policy must lie inside it.
        public var policy: String?
        /// Scope-down layers under the role session (scoped credentials); 0 for web identity.
        public var layers: Int = 0
        /// The task whose scoped credentials requested this one, in a sub-agent chain.
        public var parentTask: String?

        public init(taskID: String, purpose: String, subject: String, jwtID: String?, policySHA256: String, sessionName: String,
                    roleARN: String, via: IssuancePath, tokenExpiresAt: Date?, now: Date) {
            self.taskID = taskID
            self.purpose = purpose
            self.subject = subject
            self.jwtID = jwtID
            self.policySHA256 = policySHA256
            self.sessionName = sessionName
            self.roleARN = roleARN
            self.via = via
            self.tokenExpiresAt = tokenExpiresAt
            self.state = .issuing
            self.createdAt = now
            self.updatedAt = now
        }
    }

    /// Why a task was refused by the ledger.
    public enum Refusal: Error, Equatable, CustomStringConvertible {
        case taskAlreadyIssued(String, State)
        case tokenAlreadyUsed(String)
        case storage(String)

        public var description: String {
            switch self {
            case let .taskAlreadyIssued(task, state): "task `\(task)` already has a credential (ledger state: \(state.rawValue)); one task gets one credential"
            case .tokenAlreadyUsed(let jti): "token `\(jti)` was already used for another issuance"
            case .storage(let why): "the ledger cannot be used: \(why)"
            }
        }

        public var code: String {
            switch self {
            case .taskAlreadyIssued: "already-issued"
            case .tokenAlreadyUsed: "token-reused"
            case .storage: "ledger-error"
            }
        }
    }

    let database: SQLiteDatabase
    public let path: String

    public init(path: String) throws(Refusal) {
        self.path = path
        do {
            database = try SQLiteDatabase(path: path)
        } catch {
            throw .storage(error.description)
        }
        // Many processes may open a new ledger at once. Switching to WAL and creating the tables take locks that
        // SQLite's busy handler does not always wait for, so the setup itself is retried for a while.
        do {
            try database.retryingWhileBusy(attempts: 200) { () throws(SQLiteDatabase.Failure) in try setUp() }
        } catch {
            throw .storage(error.description)
        }
    }

    private func setUp() throws(SQLiteDatabase.Failure) {
        if try database.query("PRAGMA journal_mode").first?["journal_mode"]?.text?.lowercased() != "wal" {
            try database.execute("PRAGMA journal_mode=WAL")
        }
        try database.execute("PRAGMA synchronous=FULL")
        try database.execute("""
            CREATE TABLE IF NOT EXISTS issuance (
                task_id TEXT PRIMARY KEY, jti TEXT UNIQUE, purpose TEXT NOT NULL, subject TEXT NOT NULL,
                policy_sha256 TEXT NOT NULL, session_name TEXT NOT NULL, role_arn TEXT NOT NULL, via TEXT NOT NULL,
                access_key_id TEXT, session_id TEXT, expires_at INTEGER, token_expires_at INTEGER,
                state TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
                policy TEXT, layers INTEGER NOT NULL DEFAULT 0, parent_task TEXT);
            CREATE TABLE IF NOT EXISTS audit (
                seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, event TEXT NOT NULL, task_id TEXT,
                detail TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL);
            """)
    }

    /// Writes the `issuing` row, or refuses: a task or token seen before. A `failed` row of the same task is replaced.
    public func beginNow(_ entry: Entry) throws(Refusal) {
        do {
            try database.transaction {
                if let existing = try row(task: entry.taskID) {
                    guard existing.state == .failed else { throw Refusal.taskAlreadyIssued(entry.taskID, existing.state) }
                    try database.query("DELETE FROM issuance WHERE task_id = ?", [.text(entry.taskID)])
                }
                if let jti = entry.jwtID, !(try database.query("SELECT 1 FROM issuance WHERE jti = ?", [.text(jti)]).isEmpty) {
                    throw Refusal.tokenAlreadyUsed(jti)
                }
                try database.query("""
                    INSERT INTO issuance (task_id, jti, purpose, subject, policy_sha256, session_name, role_arn, via,
                        token_expires_at, state, created_at, updated_at, policy, layers, parent_task) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
                    """, [.text(entry.taskID), entry.jwtID.map { .text($0) } ?? .null, .text(entry.purpose), .text(entry.subject),
                          .text(entry.policySHA256), .text(entry.sessionName), .text(entry.roleARN), .text(entry.via.rawValue),
                          Self.time(entry.tokenExpiresAt), .text(State.issuing.rawValue), Self.time(entry.createdAt), Self.time(entry.createdAt),
                          entry.policy.map { .text($0) } ?? .null, .int(Int64(entry.layers)), entry.parentTask.map { .text($0) } ?? .null])
                try appendAudit("issuing", task: entry.taskID, detail: [
                    "purpose": entry.purpose, "subject": entry.subject, "jti": entry.jwtID ?? "", "policySha256": entry.policySHA256,
                    "sessionName": entry.sessionName, "roleArn": entry.roleARN, "via": entry.via.rawValue, "layers": String(entry.layers),
                    "parentTask": entry.parentTask ?? "",
                ], at: entry.createdAt)
            }
        } catch let refusal as Refusal {
            throw refusal
        } catch let failure as SQLiteDatabase.Failure where failure.isConstraint {
            throw .taskAlreadyIssued(entry.taskID, .issuing)
        } catch {
            throw .storage("\(error)")
        }
    }

    /// Records the credential (never its secret) and moves the row on.
    public func issued(task: String, accessKeyID: String, sessionID: String?, expiresAt: Date, state: State, roleARN: String? = nil, now: Date = Date()) throws(Refusal) {
        var detail = ["accessKeyId": accessKeyID, "sessionId": sessionID ?? "", "expiresAt": AWSDate.format(expiresAt)]
        var columns = "access_key_id = ?, session_id = ?, expires_at = ?"
        var values: [SQLiteDatabase.Value] = [.text(accessKeyID), sessionID.map { .text($0) } ?? .null, Self.time(expiresAt)]
        if let roleARN {
            detail["roleArn"] = roleARN
            columns += ", role_arn = ?"
            values.append(.text(roleARN))
        }
        try update(task: task, state: state, now: now, event: "issued", detail: detail, extra: (columns, values))
    }

    public func transitionNow(task: String, to state: State, event: String, detail: [String: String] = [:], now: Date = Date()) throws(Refusal) {
        try update(task: task, state: state, now: now, event: event, detail: detail, extra: nil)
    }

    private func update(task: String, state: State, now: Date, event: String, detail: [String: String], extra: (String, [SQLiteDatabase.Value])?) throws(Refusal) {
        do {
            try database.transaction {
                let set = ["state = ?", "updated_at = ?"] + (extra.map { [$0.0] } ?? [])
                try database.query("UPDATE issuance SET \(set.joined(separator: ", ")) WHERE task_id = ?",
                                   [.text(state.rawValue), Self.time(now)] + (extra?.1 ?? []) + [.text(task)])
                var detail = detail
                detail["state"] = state.rawValue
                try appendAudit(event, task: task, detail: detail, at: now)
            }
        } catch {
            throw .storage("\(error)")
        }
    }

    public func entryNow(task: String) throws(Refusal) -> Entry? {
        do { return try row(task: task) } catch { throw .storage("\(error)") }
    }

    public func entriesNow(in states: Set<State>) throws(Refusal) -> [Entry] {
        do {
            return try database.query("SELECT * FROM issuance ORDER BY created_at, task_id").compactMap(Self.entry).filter { states.contains($0.state) }
        } catch { throw .storage("\(error)") }
    }

    private func row(task: String) throws -> Entry? {
        try database.query("SELECT * FROM issuance WHERE task_id = ?", [.text(task)]).first.flatMap(Self.entry)
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
        return entry
    }

    static func time(_ date: Date?) -> SQLiteDatabase.Value { date.map { .int(Int64($0.timeIntervalSince1970.rounded(.down))) } ?? .null }
    static func date(_ value: SQLiteDatabase.Value?) -> Date? { value?.int.map { Date(timeIntervalSince1970: TimeInterval($0)) } }

    // MARK: audit log

    static let genesis = String(repeating: "0", count: 64)

    /// Appends one record whose hash covers the previous record's hash. Call inside a transaction.
    private func appendAudit(_ event: String, task: String?, detail: [String: String], at: Date) throws {
        let last = try database.query("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").first
        let seq = (last?["seq"]?.int ?? 0) + 1
        let prev = last?["hash"]?.text ?? Self.genesis
        let at = Int64(at.timeIntervalSince1970.rounded(.down))
        let detailText = Self.canonical(detail)
        let hash = Self.recordHash(seq: seq, at: at, event: event, task: task, detail: detailText, prev: prev)
        try database.query("INSERT INTO audit (seq, at, event, task_id, detail, prev, hash) VALUES (?,?,?,?,?,?,?)",
                           [.int(seq), .int(at), .text(event), task.map { .text($0) } ?? .null, .text(detailText), .text(prev), .text(hash)])
    }

    /// Records an event that has no issuance row of its own, such as a revocation by time.
    public func auditNow(_ event: String, task: String? = nil, detail: [String: String], now: Date = Date()) throws(Refusal) {
        do { try database.transaction { try appendAudit(event, task: task, detail: detail, at: now) } } catch { throw .storage("\(error)") }
    }

    static func canonical(_ detail: [String: String]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: detail, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    static func recordHash(seq: Int64, at: Int64, event: String, task: String?, detail: String, prev: String) -> String {
        let text = [String(seq), String(at), event, task ?? "", detail, prev].joined(separator: "\n")
        return Hex.sha256(text)
    }

    /// The outcome of walking the audit chain.
    public enum AuditVerdict: Equatable, Sendable {
        case intact(records: Int)
        case broken(seq: Int64, reason: String)
    }

    /// Walks the chain from the first record; names the first record whose hash or link does not hold.
    public func verifyAuditNow() throws(Refusal) -> AuditVerdict {
        let rows: [[String: SQLiteDatabase.Value]]
        do { rows = try database.query("SELECT * FROM audit ORDER BY seq") } catch { throw .storage("\(error)") }
        var prev = Self.genesis
        var expectedSeq: Int64 = 1
        for row in rows {
            let seq = row["seq"]?.int ?? -1
            guard seq == expectedSeq else { return .broken(seq: seq, reason: "record \(expectedSeq) is missing") }
            guard row["prev"]?.text == prev else { return .broken(seq: seq, reason: "it does not link to the record before it") }
            let hash = Self.recordHash(
                seq: seq, at: row["at"]?.int ?? 0, event: row["event"]?.text ?? "", task: row["task_id"]?.text,
                detail: row["detail"]?.text ?? "", prev: prev)
            guard row["hash"]?.text == hash else { return .broken(seq: seq, reason: "its contents do not match its hash") }
            prev = hash
            expectedSeq += 1
        }
        return .intact(records: rows.count)
    }
}
