import ClawcCompiler
import ClawcDiagnostics
import ClawcPolicy
import ClawcSyntax
import Foundation

/// A credential issued for one task, with what it was issued for.
public struct Issuance: Sendable {
    public var credentials: TemporaryCredentials
    /// The role session name (web identity) or the `ScopedSessionDescription` (scoped).
    public var sessionName: String
    public var taskID: String
    public var purpose: String
    public var subject: String
    public var policy: String
    public var lifetime: LifetimeChoice
    public var path: IssuancePath
    /// Where the ledger row ended: `sealed` only when the trust policy now refuses the task, `revocation-pending`
    /// when that edit did not happen, `issued` on a path with no trust policy to edit.
    public var state: Ledger.State
    /// Things the operator should know that did not stop the issuance (a pending revocation).
    public var warnings: [String]
    /// True when this is the credential issued earlier for the same task and token, handed back to a repeat request.
    public var repeated = false
    /// The audit chain's head after this issuance was recorded (`SEQ HASH` once formatted), if the ledger could say.
    public var auditHead: (seq: Int64, hash: String)?
}

/// Why nothing was issued, and which exit code that means.
public enum IssueFailure: Error, Sendable {
    /// Rules or task have problems: exit 1.
    case diagnostics(DiagnosticBag)
    /// clawc refused before calling AWS: exit 1.
    case refused(code: String, message: String, help: String?)
    /// Something clawc needs was unreachable (the ledger, the IdP): exit 3.
    case unavailable(code: String, message: String, help: String?)
    /// STS answered with an error or could not be reached: exit 1 for a refusal, 3 for a failure upstream.
    case sts(STSError)
    /// The STS call failed in a way that does not show whether a credential was issued: exit 3, and the task
    /// stays `issuing` in the ledger (refused again, revocable, swept).
    indirect case outcomeUnknown(IssueFailure, task: String, sessionName: String)

    public var exitCode: Int32 {
        switch self {
        case .diagnostics, .refused: 1
        case .unavailable, .outcomeUnknown: 3
        case .sts(let error): error.isUpstreamFailure ? 3 : 1
        }
    }

    /// The stable code, as printed in brackets.
    public var code: String {
        switch self {
        case .diagnostics(let bag): bag.items.first { $0.severity == .error }?.code ?? "diagnostics"
        case .refused(let code, _, _), .unavailable(let code, _, _): code
        case .sts(let error): error.isUpstreamFailure ? "sts-unavailable" : "sts-refused"
        case .outcomeUnknown(let inner, _, _): inner.code
        }
    }

    /// Whether this failure shows that no credential exists: clawc refused, or STS refused with an error of its
    /// own (a 4xx answer naming an error code). Anything else is an unknown outcome.
    public var isDefiniteRefusal: Bool {
        switch self {
        case .diagnostics, .refused: true
        case .unavailable, .outcomeUnknown: false
        case .sts(let error): (400..<500).contains(error.httpStatus) && !error.code.hasPrefix("HTTP")
        }
    }

    /// The stderr text: located diagnostics, or `clawc: error: ... [code]` with a help line. Never a secret;
    /// text that came from a token, a task or STS is escaped.
    public var rendered: String {
        switch self {
        case .diagnostics(let bag): return DiagnosticRenderer.render(bag)
        case let .refused(code, message, help), let .unavailable(code, message, help):
            return "clawc: error: \(HostileText.escape(message)) [\(code)]\n" + (help.map { "help: \(HostileText.escape($0))\n" } ?? "")
        case .sts(let error):
            return "clawc: error: \(HostileText.escape(error.description)) [\(code)]\n"
                + (error.hint.map { "help: \(HostileText.escape($0))\n" } ?? "")
        case let .outcomeUnknown(inner, task, sessionName):
            return inner.rendered
                + "note: STS may have issued a credential before the failure; task `\(task)` stays `issuing` in the ledger and is refused again\n"
                + "help: `clawc revoke --task \(task)` cuts session `\(HostileText.escape(sessionName))` if it exists; `clawc sweep` denies the task in the trust policy\n"
        }
    }

    /// A ledger refusal as an issue failure: storage trouble is an upstream failure (exit 3), a seen task or token a refusal.
    public static func ledger(_ refusal: Ledger.Refusal) -> IssueFailure {
        switch refusal {
        case .storage:
            .unavailable(code: refusal.code, message: refusal.description, help: "check `--ledger` (or CLAWC_LEDGER) and that the ledger is reachable and writable")
        case .unusable:
            .refused(code: refusal.code, message: refusal.description, help: refusal.help)
        default:
            .refused(code: refusal.code, message: refusal.description, help: "ask the orchestrator for a new task ID; credentials are never issued twice")
        }
    }
}

/// What one issuance is about: the task, its rule, and the policy compiled and proved for it.
public struct IssueRequest: Sendable {
    public var task: Task
    public var rule: Rule
    /// The policy text exactly as sent to STS (no trailing newline).
    public var policy: String
    public var now: Date
}

/// What a backend decided before anything is written: who asks, the session's name and lifetime, and what the
/// ledger must know to refuse a replay or cut the session later.
public struct Authorization: Sendable {
    public var subject: String
    /// The token's ID, unique across issuances (web identity); nil where there is no token.
    public var tokenID: String?
    public var tokenExpiresAt: Date?
    public var sessionName: String
    /// The role whose policies govern the session, when known before the call.
    public var roleARN: String
    public var lifetime: LifetimeChoice
    /// Scope-down layers under the role session (scoped credentials); 0 for web identity.
    public var layers: Int = 0
    public var parentTask: String?
    /// What the credential is sealed under for a repeat request (the token's bytes); nil: no repeat on this path.
    /// Never stored, logged or sent anywhere but to the key derivation.
    public var sealingSecret: [UInt8]?

    public init(subject: String, tokenID: String?, tokenExpiresAt: Date?, sessionName: String, roleARN: String, lifetime: LifetimeChoice) {
        self.subject = subject
        self.tokenID = tokenID
        self.tokenExpiresAt = tokenExpiresAt
        self.sessionName = sessionName
        self.roleARN = roleARN
        self.lifetime = lifetime
    }
}

/// What STS gave: the credentials, the session's ID for `aws:userid`, and the role when only the answer names it.
public struct ObtainedCredential: Sendable {
    public var credentials: TemporaryCredentials
    public var sessionID: String?
    /// The ARN the ledger keeps for revocation, when the answer is where it is learnt (scoped: the caller's session).
    public var roleARN: String?

    public init(credentials: TemporaryCredentials, sessionID: String?, roleARN: String?) {
        self.credentials = credentials
        self.sessionID = sessionID
        self.roleARN = roleARN
    }
}

/// One way of making a credential. The issuance sequence (`Issuer`) is the same for every backend; a backend
/// decides who may ask, calls its STS API, and does what its path needs after the ledger recorded the credential.
public protocol CredentialBackend: Sendable {
    var path: IssuancePath { get }
    /// The ledger state a recorded credential starts in (`revocation-pending` where a trust-policy edit follows).
    var recordedState: Ledger.State { get }
    /// Checks before any write: the caller (token, or session and parent chain), the lifetime, the session name.
    func authorize(_ request: IssueRequest, ledger: any LedgerStore, explain: (String) -> Void) async throws(IssueFailure) -> Authorization
    /// The STS call.
    func obtain(_ request: IssueRequest, _ authorization: Authorization) async throws(IssueFailure) -> ObtainedCredential
    /// After the ledger recorded the credential: the final state and warnings.
    func afterIssue(_ request: IssueRequest, _ authorization: Authorization, ledger: any LedgerStore, explain: (String) -> Void) async
        -> (state: Ledger.State, warnings: [String])
}

/// The one issuance sequence: compile (with its proof) → authorize → ledger `issuing` row → STS → ledger record →
/// the backend's after-issue step. Nothing reaches STS unless the policy was proved and the ledger row written.
public struct Issuer: Sendable {
    public var rules: PreparedRules
    public var ledger: any LedgerStore
    public var backend: any CredentialBackend
    public var maxChars: Int

    public init(rules: PreparedRules, ledger: any LedgerStore, backend: any CredentialBackend, maxChars: Int = Compiler.defaultMaxChars) {
        self.rules = rules
        self.ledger = ledger
        self.backend = backend
        self.maxChars = maxChars
    }

    /// Issues a credential for `task`, or explains why not. `explain` receives lines for `--explain` (never secrets).
    public func issue(_ task: Task, now: Date = Date(), explain: (String) -> Void = { _ in }) async throws(IssueFailure) -> Issuance {
        // 1. Compile, ending with the proof of the bytes to be sent: a bad rule or task costs no network call.
        let outcome = rules.compile(task: task, maxChars: maxChars)
        for line in outcome.explain { explain(line) }
        guard let json = outcome.json, let rule = outcome.rule else { throw .diagnostics(outcome.diagnostics) }
        let request = IssueRequest(task: task, rule: rule, policy: String(json.dropLast()), now: now)

        // 2. Who asks, for how long, under which name.
        let authorization = try await backend.authorize(request, ledger: ledger, explain: explain)
        explain("lifetime: \(authorization.lifetime.seconds)s (\(authorization.lifetime.explanation))")
        explain("session name: \(HostileText.escape(authorization.sessionName))")

        // 3. The ledger, before STS: a task or token seen before is refused here, across processes.
        var entry = Ledger.Entry(
            taskID: task.taskId.value, purpose: rule.purpose.value, subject: authorization.subject, jwtID: authorization.tokenID,
            policySHA256: Hex.sha256(request.policy), sessionName: authorization.sessionName, roleARN: authorization.roleARN,
            via: backend.path, tokenExpiresAt: authorization.tokenExpiresAt, now: now)
        entry.policy = request.policy
        entry.layers = authorization.layers
        entry.parentTask = authorization.parentTask
        do {
            try await ledger.begin(entry)
        } catch {
            // The same task with the same token again (botocore refreshing through `credential_process`, a retry
            // after a lost answer): the credential issued then, never a second one.
            if let repeated = try await repeatIssuance(entry, authorization, request, refusal: error, explain: explain) { return repeated }
            throw .ledger(error)
        }

        // 4. STS.
        let obtained: ObtainedCredential
        do {
            obtained = try await backend.obtain(request, authorization)
        } catch {
            // Only a definite refusal means no credential exists. A timeout, a reset, a 5xx or an unreadable 200
            // is an outcome clawc did not see: STS may have issued one. The row stays `issuing`, so the task is
            // refused again, `clawc revoke --task` can cut the known session, and `clawc sweep` denies the task.
            if error.isDefiniteRefusal {
                try? await ledger.transition(task: entry.taskID, to: .failed, event: "failed", detail: ["code": error.code], now: Date())
                throw error
            }
            try? await ledger.transition(task: entry.taskID, to: .issuing, event: "outcome-unknown", detail: ["code": error.code], now: Date())
            throw .outcomeUnknown(error, task: entry.taskID, sessionName: authorization.sessionName)
        }
        explain("issued: \(obtained.credentials.assumedRoleARN ?? "?"), expires \(AWSDate.format(obtained.credentials.expiration))")

        // 5. Record the credential (never its secret), then the path's own step. A failure here leaves the row for
        //    `clawc sweep`; the credential exists and is returned.
        var warnings: [String] = []
        var recorded = true
        let sealed = authorization.sealingSecret.flatMap { secret in
            authorization.tokenID.flatMap { CredentialSeal.seal(obtained.credentials, secret: secret, taskID: entry.taskID, tokenID: $0) }
        }
        do {
            try await ledger.recordIssued(
                task: entry.taskID, accessKeyID: obtained.credentials.accessKeyID, sessionID: obtained.sessionID,
                expiresAt: obtained.credentials.expiration, state: backend.recordedState, roleARN: obtained.roleARN, sealed: sealed, now: Date())
        } catch {
            recorded = false
            warnings.append("the ledger could not record the credential (\(error.description)); `clawc sweep` will report the task as issuing")
        }
        var state = recorded ? backend.recordedState : .issuing
        if recorded {
            let after = await backend.afterIssue(request, authorization, ledger: ledger, explain: explain)
            state = after.state
            warnings += after.warnings
        }
        var issuance = Issuance(
            credentials: obtained.credentials, sessionName: authorization.sessionName, taskID: task.taskId.value,
            purpose: rule.purpose.value, subject: authorization.subject, policy: request.policy, lifetime: authorization.lifetime,
            path: backend.path, state: state, warnings: warnings)
        issuance.auditHead = try? await ledger.auditHead()
        explain("audit head: \(AuditChain.format(head: issuance.auditHead))")
        return issuance
    }

    /// The credential issued earlier for this task, when the refused request is a repeat of that issuance: the same
    /// task, the same token (by ID, and able to open the sealed copy, which only the token's bytes can), the same
    /// policy, a row whose credential was recorded, and a credential that has not expired. Anything else is nil, and
    /// the refusal stands. The hand-back is written to the audit chain; if that write fails, nothing is returned.
    func repeatIssuance(_ entry: LedgerEntry, _ authorization: Authorization, _ request: IssueRequest, refusal: LedgerRefusal,
                        explain: (String) -> Void) async throws(IssueFailure) -> Issuance?
    {
        switch refusal {
        case .taskAlreadyIssued, .tokenAlreadyUsed: break
        default: return nil
        }
        guard let secret = authorization.sealingSecret, let tokenID = authorization.tokenID,
            let earlier = try? await ledger.entry(task: entry.taskID),
            earlier.jwtID == tokenID, earlier.via == entry.via, earlier.policySHA256 == entry.policySHA256,
            [.pending, .sealed, .issued].contains(earlier.state),
            let expiresAt = earlier.expiresAt, expiresAt > request.now,
            let sealed = earlier.sealedCredential,
            let credentials = CredentialSeal.open(sealed, secret: secret, taskID: entry.taskID, tokenID: tokenID),
            credentials.accessKeyID == earlier.accessKeyID
        else { return nil }
        do {
            try await ledger.audit("returned", task: entry.taskID, detail: ["accessKeyId": credentials.accessKeyID, "jti": tokenID], now: Date())
        } catch {
            throw .ledger(error)
        }
        explain("repeat: task `\(HostileText.escape(entry.taskID))` already has a live credential issued for this token; returning it (no STS call)")
        var issuance = Issuance(
            credentials: credentials, sessionName: earlier.sessionName, taskID: entry.taskID, purpose: earlier.purpose,
            subject: earlier.subject, policy: earlier.policy ?? request.policy, lifetime: authorization.lifetime, path: earlier.via,
            state: earlier.state, warnings: [])
        issuance.repeated = true
        issuance.auditHead = try? await ledger.auditHead()
        explain("audit head: \(AuditChain.format(head: issuance.auditHead))")
        return issuance
    }
}
