import ClawcCatalog
import Crypto
import ClawcCompiler
import ClawcDiagnostics
import ClawcPolicy
import ClawcSyntax
import Foundation

/// Everything `clawc issue` needs, resolved from flags, environment and `rules/clawc.yaml`.
public struct IssueConfiguration: Sendable {
    public var rulesDirectory: String
    public var taskPath: String
    public var token: String
    public var roleARN: String
    public var issuer: String
    public var audience: String
    public var stsEndpoint: URL
    public var maxChars: Int = Compiler.defaultMaxChars
    /// The role's `MaxSessionDuration`, when known; AWS's default of one hour otherwise.
    public var roleMaxSeconds: Int?
    public var leeway: TimeInterval = 60

    public init(rulesDirectory: String, taskPath: String, token: String, roleARN: String, issuer: String, audience: String, stsEndpoint: URL) {
        self.rulesDirectory = rulesDirectory
        self.taskPath = taskPath
        self.token = token
        self.roleARN = roleARN
        self.issuer = issuer
        self.audience = audience
        self.stsEndpoint = stsEndpoint
    }
}

/// A credential issued for one task, with what it was issued for.
public struct Issuance: Sendable {
    public var credentials: TemporaryCredentials
    public var sessionName: String
    public var taskID: String
    public var purpose: String
    public var policy: String
    public var lifetime: LifetimeChoice
    public var claims: IdentityClaims
    /// Where the ledger row ended: `sealed`, or `revocation-pending` when the trust-policy edit did not happen.
    public var state: Ledger.State
    /// Things the operator should know that did not stop the issuance (a pending revocation).
    public var warnings: [String]
}

/// Why nothing was issued, and which exit code that means.
public enum IssueFailure: Error, Sendable {
    /// Rules or task have problems: exit 1.
    case diagnostics(DiagnosticBag)
    /// clawc refused before calling AWS: exit 1.
    case refused(code: String, message: String, help: String?)
    /// STS answered with an error or could not be reached: exit 1 for a refusal, 3 for a failure upstream.
    case sts(STSError)

    public var exitCode: Int32 {
        switch self {
        case .diagnostics, .refused: 1
        case .sts(let error): error.isUpstreamFailure ? 3 : 1
        }
    }

    /// The stderr text: located diagnostics, or `clawc: error: ... [code]` with a help line. Never a secret.
    public var rendered: String {
        switch self {
        case .diagnostics(let bag): return DiagnosticRenderer.render(bag)
        case let .refused(code, message, help):
            return "clawc: error: \(message) [\(code)]\n" + (help.map { "help: \($0)\n" } ?? "")
        case .sts(let error):
            let code = error.isUpstreamFailure ? "sts-unavailable" : "sts-refused"
            return "clawc: error: \(error.description) [\(code)]\n" + (error.hint.map { "help: \($0)\n" } ?? "")
        }
    }
}

/// The web-identity path: compile, validate the token, choose a lifetime and a session name, call STS.
public struct WebIdentityIssuer: Sendable {
    public var catalog: Catalog
    public var validator: TokenValidator
    public var sts: STSClient
    public var ledger: Ledger
    /// Edits the role's trust policy after issuance; nil when there are no credentials for IAM (row stays pending).
    public var revoker: Revoker?

    public init(catalog: Catalog, validator: TokenValidator, sts: STSClient, ledger: Ledger, revoker: Revoker?) {
        self.catalog = catalog
        self.validator = validator
        self.sts = sts
        self.ledger = ledger
        self.revoker = revoker
    }

    /// Issues a credential, or explains why not. `explain` receives lines for `--explain` (never secrets).
    public func issue(_ configuration: IssueConfiguration, now: Date = Date(), explain: (String) -> Void = { _ in }) async throws(IssueFailure) -> Issuance {
        // 1. Compile first: a bad rule or task costs no network call.
        let outcome = Compiler.compile(rulesDirectory: configuration.rulesDirectory, taskPath: configuration.taskPath, catalog: catalog, maxChars: configuration.maxChars)
        for line in outcome.explain { explain(line) }
        guard let json = outcome.json, let rule = outcome.rule, let task = outcome.task else { throw .diagnostics(outcome.diagnostics) }
        let policy = String(json.dropLast())

        // 2. The token.
        let claims: IdentityClaims
        do {
            claims = try await validator.validate(configuration.token, now: now)
        } catch {
            throw .refused(code: error.code, message: error.description, help: nil)
        }
        guard claims.algorithm == "RS256" else {
            throw .refused(code: "token-algorithm", message: "the token is signed with \(claims.algorithm), and STS accepts only RS256 for web identity",
                           help: "have the issuer sign with RS256, or use a path that does not send the token to STS")
        }
        if let bound = claims.sessionTags["TaskID"], bound != task.taskId.value {
            throw .refused(code: "token-task-mismatch", message: "the token is bound to task `\(bound)`, not `\(task.taskId.value)`",
                           help: "a token carrying a `TaskID` session tag can only be used for that task")
        }
        explain("token: issuer \(claims.issuer), subject \(claims.subject), algorithm \(claims.algorithm)")

        // 3. Lifetime and session name.
        let lifetime: LifetimeChoice
        switch LifetimePolicy.choose(
            estimated: task.estimatedDuration?.value, ruleDefault: rule.lifetime.defaultSeconds?.value,
            ruleMax: rule.lifetime.maxSeconds?.value, roleMax: configuration.roleMaxSeconds)
        {
        case .success(let choice): lifetime = choice
        case .failure(let error):
            throw .refused(code: "lifetime-out-of-range", message: error.description,
                           help: "STS issues role sessions for 15 minutes at least; raise `lifetime.max` in rule `\(rule.purpose.value)`")
        }
        explain("lifetime: \(lifetime.seconds)s (\(lifetime.explanation))")
        let sessionName = SessionName.make(subject: claims.subject, taskID: task.taskId.value)
        explain("session name: \(sessionName)")

        // 4. The ledger, before STS: a task or token seen before is refused here, across processes.
        let policyHash = Hex.sha256(policy)
        let entry = Ledger.Entry(
            taskID: task.taskId.value, purpose: rule.purpose.value, subject: claims.subject, jwtID: claims.jwtID,
            policySHA256: policyHash, sessionName: sessionName, roleARN: configuration.roleARN, via: .webIdentity,
            tokenExpiresAt: claims.expiresAt, now: now)
        var recorded = entry
        recorded.policy = policy
        do { try ledger.beginNow(recorded) } catch {
            throw .refused(code: error.code, message: error.description,
                           help: error.code == "ledger-error" ? "check --ledger" : "ask the orchestrator for a new task ID; credentials are never issued twice")
        }

        // 5. STS.
        let request = STSClient.WebIdentityRequest(
            roleARN: configuration.roleARN, sessionName: sessionName, token: configuration.token.trimmingCharacters(in: .whitespacesAndNewlines),
            policy: policy, durationSeconds: lifetime.seconds)
        let credentials: TemporaryCredentials
        do {
            credentials = try await sts.assumeRoleWithWebIdentity(request)
        } catch {
            try? ledger.transitionNow(task: entry.taskID, to: .failed, event: "failed", detail: ["code": error.code])
            throw .sts(error)
        }
        explain("issued: \(credentials.assumedRoleARN ?? "?"), expires \(AWSDate.format(credentials.expiration))")

        // 6. Record, then refuse the task ID in the trust policy. A failure here leaves the row pending for
        //    `clawc sweep`; the credential already exists and is returned.
        var warnings: [String] = []
        var state = Ledger.State.pending
        do {
            try ledger.issued(task: entry.taskID, accessKeyID: credentials.accessKeyID, sessionID: credentials.assumedRoleID,
                              expiresAt: credentials.expiration, state: .pending)
        } catch {
            warnings.append("the ledger could not record the credential (\(error.description)); `clawc sweep` will report the task as issuing")
        }
        if let revoker {
            do {
                try await revoker.updateTrustPolicy(roleARN: configuration.roleARN, add: [entry.taskID])
                try? ledger.transitionNow(task: entry.taskID, to: .sealed, event: "sealed")
                state = .sealed
                explain("trust policy: task `\(entry.taskID)` added to the Deny list")
            } catch {
                warnings.append("revocation pending: \(error.message); run `clawc sweep` to retry")
            }
        } else {
            warnings.append("revocation pending: no AWS credentials for IAM calls; run `clawc sweep` with the orchestrator's credentials")
        }
        return Issuance(
            credentials: credentials, sessionName: sessionName, taskID: task.taskId.value, purpose: rule.purpose.value,
            policy: policy, lifetime: lifetime, claims: claims, state: state, warnings: warnings)
    }
}
