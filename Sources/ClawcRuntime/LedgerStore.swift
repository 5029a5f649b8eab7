import Foundation

/// How a credential is made: the two STS paths clawc issues through.
public enum IssuancePath: String, Sendable, CaseIterable {
    /// `AssumeRoleWithWebIdentity` with the workload's OIDC token.
    case webIdentity = "web-identity"
    /// `GetScopedCredentials`, cut from the caller's own role session.
    case scoped
}

/// Where issuances are written down: the source of truth for "one task, one credential".
///
/// Every store must pass the conformance suite in the tests (`LedgerConformance`): a task ID and a token ID are
/// each issued once, across every process and machine sharing the store; `begin` is written before any credential
/// exists; every change appends to a hash-chained audit log.
public protocol LedgerStore: Sendable {
    /// Writes the `issuing` row, or refuses a task or token seen before. A `failed` row of the same task is replaced.
    func begin(_ entry: Ledger.Entry) async throws(Ledger.Refusal)
    /// Records the credential (never its secret) and moves the row to `state`; `roleARN`, when given, replaces the
    /// row's role (the scoped path learns the caller's session ARN from STS's answer).
    func recordIssued(task: String, accessKeyID: String, sessionID: String?, expiresAt: Date, state: Ledger.State, roleARN: String?, now: Date)
        async throws(Ledger.Refusal)
    /// Moves a row to `state`, with an audit record `event`.
    func transition(task: String, to state: Ledger.State, event: String, detail: [String: String], now: Date) async throws(Ledger.Refusal)
    func entry(task: String) async throws(Ledger.Refusal) -> Ledger.Entry?
    func entries(in states: Set<Ledger.State>) async throws(Ledger.Refusal) -> [Ledger.Entry]
    /// Records an event that has no issuance row of its own, such as a revocation by time.
    func audit(_ event: String, task: String?, detail: [String: String], now: Date) async throws(Ledger.Refusal)
    /// Walks the audit chain and names the first record that does not hold.
    func verifyAudit() async throws(Ledger.Refusal) -> Ledger.AuditVerdict
}

extension Ledger: LedgerStore {
    public func begin(_ entry: Entry) async throws(Refusal) { try beginNow(entry) }

    public func recordIssued(task: String, accessKeyID: String, sessionID: String?, expiresAt: Date, state: State, roleARN: String?, now: Date)
        async throws(Refusal)
    {
        try issued(task: task, accessKeyID: accessKeyID, sessionID: sessionID, expiresAt: expiresAt, state: state, roleARN: roleARN, now: now)
    }

    public func transition(task: String, to state: State, event: String, detail: [String: String], now: Date) async throws(Refusal) {
        try transitionNow(task: task, to: state, event: event, detail: detail, now: now)
    }

    public func entry(task: String) async throws(Refusal) -> Entry? { try entryNow(task: task) }
    public func entries(in states: Set<State>) async throws(Refusal) -> [Entry] { try entriesNow(in: states) }

    public func audit(_ event: String, task: String?, detail: [String: String], now: Date) async throws(Refusal) {
        try auditNow(event, task: task, detail: detail, now: now)
    }

    public func verifyAudit() async throws(Refusal) -> AuditVerdict { try verifyAuditNow() }
}
