import Foundation

/// How a credential is made: the two STS paths clawc issues through.
public enum IssuancePath: String, Sendable, CaseIterable {
    /// `AssumeRoleWithWebIdentity` with the workload's OIDC token.
    case webIdentity = "web-identity"
    /// `GetScopedCredentials`, cut from the caller's own role session.
    case scoped
    /// A PostgreSQL login role made for the task (`clawc issue --to postgres`); `accessKeyID` is the role's name.
    case postgres
}

/// Where issuances are written down: the source of truth for "one task, one credential".
///
/// Every store must pass the conformance suite in the tests (`LedgerConformanceTests`): a task ID and a token ID are
/// each issued once, across every process and machine sharing the store, and across concurrent tasks sharing one
/// store value; `begin` is written before any credential exists; every change appends to a hash-chained audit log
/// (`AuditChain`) in the same transaction as the change itself.
///
/// Every failure is a `LedgerRefusal`. A store that cannot get at its storage within its bound (for SQLite: another
/// process holding the write lock for 10 s; for PostgreSQL: the server unreachable, or a call unanswered for 10 s)
/// fails with `.storage` (`ledger-unavailable`) rather than wait without end: an issuer blocked forever is an
/// outage, one that fails is a retry.
public protocol LedgerStore: Sendable {
    /// Writes the `issuing` row, or refuses a task or token seen before. A `failed` row of the same task is replaced.
    func begin(_ entry: LedgerEntry) async throws(LedgerRefusal)
    /// Records the credential and moves the row to `state`; `roleARN`, when given, replaces the row's role (the
    /// scoped path learns the caller's session ARN from STS's answer). `sealed` is the credential sealed under its
    /// token (`CredentialSeal`), kept verbatim for a repeat request; never a plaintext secret. A task with no row is
    /// refused.
    func recordIssued(task: String, accessKeyID: String, sessionID: String?, expiresAt: Date, state: LedgerState, roleARN: String?,
                      sealed: String?, now: Date) async throws(LedgerRefusal)
    /// Moves a row to `state`, with an audit record `event`. A task with no row is refused.
    func transition(task: String, to state: LedgerState, event: String, detail: [String: String], now: Date) async throws(LedgerRefusal)
    func entry(task: String) async throws(LedgerRefusal) -> LedgerEntry?
    /// The rows in any of `states`, oldest first (then by task ID).
    func entries(in states: Set<LedgerState>) async throws(LedgerRefusal) -> [LedgerEntry]
    /// Records an event that has no issuance row of its own, such as a revocation by time.
    func audit(_ event: String, task: String?, detail: [String: String], now: Date) async throws(LedgerRefusal)
    /// Walks the audit chain and names the first record that does not hold. With `head` (an earlier `auditHead()`
    /// kept outside the store), the chain must also still contain that record unchanged: a chain rewritten or cut
    /// short up to there is broken even if every link holds. A keyed chain is checked under the store's `AuditKey`;
    /// a keyed chain without the key, or an unkeyed one with a key, is refused with `.storage` naming the mismatch.
    func verifyAudit(expecting head: (seq: Int64, hash: String)?) async throws(LedgerRefusal) -> LedgerAuditVerdict
    /// The last audit record's sequence number and hash, or nil while the chain is empty. Not verified: this is the
    /// anchor an operator keeps elsewhere and later hands to `verifyAudit(expecting:)`.
    func auditHead() async throws(LedgerRefusal) -> (seq: Int64, hash: String)?
    /// The rows `clawc sweep` has work for as of `now`, at most `limit`, oldest first: `revocation-pending` rows,
    /// `sealed` rows whose credential and token have both expired, and `issuing` rows created before `staleBefore`.
    /// A store shared by several machines claims them for `lease` seconds, so that sweepers running at once on
    /// other nodes skip them instead of repeating the same IAM edits.
    func claimForSweep(now: Date, staleBefore: Date, limit: Int, lease: TimeInterval) async throws(LedgerRefusal) -> [LedgerEntry]
    /// Lets go of what the store holds open (a PostgreSQL store's connections). Calls after it may open them again.
    func close() async
}

extension LedgerStore {
    /// Nothing to close: an SQLite ledger closes its file when it is released.
    public func close() async {}

    /// Claims nothing: for a store used by the processes of one machine, whose sweeps are serialized by the role lock
    /// and whose IAM edits are idempotent.
    public func claimForSweep(now: Date, staleBefore: Date, limit: Int, lease: TimeInterval) async throws(LedgerRefusal) -> [LedgerEntry] {
        Array(try await entries(in: [.pending, .sealed, .issuing, .issued]).filter { $0.needsSweep(now: now, staleBefore: staleBefore) }.prefix(limit))
    }
}

extension LedgerEntry {
    /// Whether `clawc sweep` has something to do for this row (see `LedgerStore.claimForSweep`).
    public func needsSweep(now: Date, staleBefore: Date) -> Bool {
        switch state {
        case .pending: true
        case .sealed: (expiresAt ?? .distantFuture) < now && (tokenExpiresAt ?? .distantFuture) < now
        case .issuing: createdAt < staleBefore
        // A PostgreSQL role outlives its password's VALID UNTIL (live sessions go on): sweep ends it.
        case .issued: via == .postgres && (expiresAt ?? .distantFuture) < now
        default: false
        }
    }
}

/// Serializes the read-modify-write edits of a role's IAM documents (its trust policy's Deny list, its inline
/// session-cutting policies) among every process that shares a ledger, so that concurrent issuers never lose an entry.
/// SQLite ledgers use a file lock beside the ledger (one machine); PostgreSQL ledgers a transaction-scoped advisory
/// lock per role (every node).
public protocol RoleLocking: Sendable {
    /// Runs `body` holding the lock of `roleARN`. `body` must call `stillHeld` right before each IAM write: it throws
    /// when the lock can no longer be vouched for (the database session holding it was lost, or the role's edit
    /// version moved under it), so that no write happens unserialized.
    func withRoleLock<T: Sendable>(_ roleARN: String, _ body: (_ stillHeld: @Sendable () async throws -> Void) async throws -> T) async throws -> T
}

/// The lock file beside an SQLite ledger: one lock for every role, held with `flock`.
public struct FileRoleLock: RoleLocking {
    public var path: String

    public init(path: String) { self.path = path }

    public func withRoleLock<T: Sendable>(_ roleARN: String, _ body: (_ stillHeld: @Sendable () async throws -> Void) async throws -> T) async throws -> T {
        try await FileLock.withLock(path) { try await body({}) }
    }
}

/// What `clawc ledger status` reports.
public struct LedgerStatus: Sendable, Equatable {
    /// `SQLite` or `PostgreSQL`.
    public var kind: String
    /// The ledger's location without secrets.
    public var location: String
    public var schemaVersion: Int
    /// The newest schema version this build knows.
    public var latestSchemaVersion: Int
    public var rows: [LedgerState: Int]
    public var auditHeadSeq: Int64
    public var auditHeadHash: String
    /// Whether the audit chain is keyed, and the key's ID.
    public var auditKeyID: String?
}

/// The operators' side of a store: `clawc ledger migrate` and `clawc ledger status`.
public protocol LedgerAdministration: Sendable {
    /// Brings the schema to the newest version this build knows; returns the version before and after.
    func migrate() async throws(LedgerRefusal) -> (from: Int, to: Int)
    func status() async throws(LedgerRefusal) -> LedgerStatus
}

extension LedgerStore {
    /// Walks the whole audit chain, with no anchor.
    public func verifyAudit() async throws(LedgerRefusal) -> LedgerAuditVerdict { try await verifyAudit(expecting: nil) }
}

/// Where a task's issuance stands.
public enum LedgerState: String, Sendable, CaseIterable {
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

/// One task's issuance as the ledger records it. Never holds a secret.
public struct LedgerEntry: Sendable, Equatable {
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
    public var state: LedgerState
    public var createdAt: Date
    public var updatedAt: Date
    /// The session policy as issued (not a secret): a sub-task's policy must lie inside it.
    public var policy: String?
    /// Scope-down layers under the role session (scoped credentials); 0 for web identity.
    public var layers: Int = 0
    /// The task whose scoped credentials requested this one, in a sub-agent chain.
    public var parentTask: String?
    /// The credential sealed under the token it was issued for (`CredentialSeal`), for a repeat request; nil when
    /// none was kept. Opaque to the store.
    public var sealedCredential: String?

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

/// Why the ledger refused a task, or could not be used.
public enum LedgerRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    case taskAlreadyIssued(String, LedgerState)
    /// The audit log records an issuance of the task but its row is gone: the ledger was edited outside clawc.
    case taskInAuditOnly(String)
    case tokenAlreadyUsed(String)
    /// The storage failed or could not be reached in time; nothing was written.
    case storage(String)
    /// The storage answers but holds no ledger this clawc can use (none yet, for a command that never creates one;
    /// a schema newer than this build); nothing was written.
    case unusable(String)

    public var description: String {
        switch self {
        case let .taskAlreadyIssued(task, state): "task `\(task)` already has a credential (ledger state: \(state.rawValue)); one task gets one credential"
        case .taskInAuditOnly(let task):
            "the audit log records an issuance of task `\(task)`, but its ledger row is gone (the ledger was edited outside clawc); one task gets one credential"
        case .tokenAlreadyUsed(let jti): "token `\(jti)` was already used for another issuance"
        case .storage(let why), .unusable(let why): "the ledger cannot be used: \(why)"
        }
    }

    public var code: String {
        switch self {
        case .taskAlreadyIssued, .taskInAuditOnly: "already-issued"
        case .tokenAlreadyUsed: "token-reused"
        case .storage: "ledger-unavailable"
        case .unusable: "ledger-error"
        }
    }

    /// What to do about it, for the `help:` line.
    public var help: String {
        switch self {
        case .taskAlreadyIssued: "ask the orchestrator for a new task ID; clawc never issues a credential twice for one task"
        case .taskInAuditOnly: "run `clawc audit verify` and find out who edited the ledger; ask the orchestrator for a new task ID"
        case .tokenAlreadyUsed: "get a fresh workload token; each token is good for one issuance"
        case .storage:
            "check the ledger location (--ledger, CLAWC_LEDGER, or the default under $XDG_STATE_HOME or ~/.local/state) and its permissions; "
                + "for an SQLite file held by another process, find it with `fuser` on the ledger file; for PostgreSQL, check that the server is up and reachable (`clawc ledger status`)"
        case .unusable:
            "check that --ledger (or CLAWC_LEDGER) names the ledger you mean; `clawc ledger migrate` makes a new ledger or brings an older one up to date, and a newer one needs a newer clawc"
        }
    }
}

/// The outcome of walking the audit chain.
public enum LedgerAuditVerdict: Equatable, Sendable {
    case intact(records: Int)
    case broken(seq: Int64, reason: String)
}

extension LedgerStore {
    /// `recordIssued` for a path that learns nothing new about the role from STS's answer and keeps no sealed copy.
    public func recordIssued(task: String, accessKeyID: String, sessionID: String?, expiresAt: Date, state: LedgerState, now: Date)
        async throws(LedgerRefusal)
    {
        try await recordIssued(task: task, accessKeyID: accessKeyID, sessionID: sessionID, expiresAt: expiresAt, state: state, roleARN: nil,
                               sealed: nil, now: now)
    }
}
