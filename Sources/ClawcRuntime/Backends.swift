import ClawcCatalog
import ClawcCompiler
import ClawcDiagnostics
import ClawcPolicy
import Foundation

/// The web-identity path: the workload's OIDC token, validated here, exchanged with STS
/// `AssumeRoleWithWebIdentity`; afterwards the task ID joins the Deny list of the role's trust policy.
public struct WebIdentityBackend: CredentialBackend {
    public var validator: TokenValidator
    public var sts: STSClient
    /// The token as read from its file.
    public var token: String
    public var roleARN: String
    /// The role's `MaxSessionDuration`, when known; AWS's default of one hour otherwise.
    public var roleMaxSeconds: Int?
    /// Edits the role's trust policy after issuance; nil when there are no credentials for IAM (row stays pending).
    public var revoker: Revoker?
    /// The token's claims when the caller already validated it with this backend's validator (the broker does, to
    /// check `callers` and rate limits first); nil: `authorize` validates the token.
    public var validated: IdentityClaims?

    public init(validator: TokenValidator, sts: STSClient, token: String, roleARN: String, roleMaxSeconds: Int?, revoker: Revoker?) {
        self.validator = validator
        self.sts = sts
        self.token = token
        self.roleARN = roleARN
        self.roleMaxSeconds = roleMaxSeconds
        self.revoker = revoker
    }

    public var path: IssuancePath { .webIdentity }
    public var recordedState: Ledger.State { .pending }

    public func authorize(_ request: IssueRequest, ledger: any LedgerStore, explain: (String) -> Void) async throws(IssueFailure) -> Authorization {
        let claims: IdentityClaims
        do {
            if let validated { claims = validated } else { claims = try await validator.validate(token, now: request.now) }
        } catch {
            // An IdP that cannot be reached or answers nonsense is an upstream failure, not a refused token.
            if case .issuerUnavailable = error {
                throw .unavailable(code: error.code, message: error.description, help: "check that the issuer's discovery document and JWKS are reachable from here")
            }
            throw .refused(code: error.code, message: error.description, help: nil)
        }
        guard claims.algorithm == "RS256" else {
            throw .refused(code: "token-algorithm", message: "the token is signed with \(claims.algorithm), and STS accepts only RS256 for web identity",
                           help: "have the issuer sign with RS256, or use a path that does not send the token to STS")
        }
        let taskID = request.task.taskId.value
        try Self.checkBinding(claims, taskID: taskID)
        explain("token: issuer \(HostileText.escape(claims.issuer)), subject \(HostileText.escape(claims.subject)), algorithm \(claims.algorithm)")
        let rule = request.rule
        try CallerAdmission.check(claims, rule: rule, explain: explain)
        let lifetime: LifetimeChoice
        switch LifetimePolicy.choose(
            estimated: request.task.estimatedDuration?.value, ruleDefault: rule.lifetime.defaultSeconds?.value,
            ruleMax: rule.lifetime.maxSeconds?.value, roleMax: roleMaxSeconds)
        {
        case .success(let choice): lifetime = choice
        case .failure(let error):
            throw .refused(code: "lifetime-out-of-range", message: error.description,
                           help: "STS issues role sessions for 15 minutes at least; raise `lifetime.max` in rule `\(rule.purpose.value)`")
        }
        // One token, one issuance: keyed on `jti`, or on the token itself when it has none (Kubernetes
        // service-account tokens before 1.29 carry no `jti`).
        let identity = Self.tokenIdentity(claims, token: token)
        var authorization = Authorization(
            subject: claims.subject, tokenID: identity.tokenID, tokenExpiresAt: claims.expiresAt,
            sessionName: SessionName.make(subject: claims.subject, taskID: taskID), roleARN: roleARN, lifetime: lifetime)
        authorization.sealingSecret = identity.sealingSecret
        return authorization
    }

    /// A token bound to a task (a `TaskID` session tag) may only be used for that task.
    public static func checkBinding(_ claims: IdentityClaims, taskID: String) throws(IssueFailure) {
        switch claims.taskBinding {
        case .none: break
        case .task(let bound) where bound == taskID: break
        case .task(let bound):
            throw .refused(code: "token-task-mismatch", message: "the token is bound to task `\(bound)`, not `\(taskID)`",
                           help: "a token carrying a `TaskID` session tag can only be used for that task")
        case .unclear(let why):
            throw .refused(code: "token-task-mismatch", message: "the token's task binding is unclear: \(why)",
                           help: "a token bound to a task carries one `TaskID` session tag with that task's ID as its one value")
        }
    }

    /// One token, one issuance: the ledger keys a token on its `jti`, or on its SHA-256 when it has none
    /// (Kubernetes service-account tokens before 1.29 carry no `jti`). A repeat request with this same token gets
    /// the same credential back, sealed under the token's bytes (`sealingSecret`).
    public static func tokenIdentity(_ claims: IdentityClaims, token: String) -> (tokenID: String, sealingSecret: [UInt8]) {
        let trimmed = ASCIIText.trimmed(token)
        return (claims.jwtID ?? "sha256:" + Hex.sha256(trimmed), Array(trimmed.utf8))
    }

    public func obtain(_ request: IssueRequest, _ authorization: Authorization) async throws(IssueFailure) -> ObtainedCredential {
        let call = STSClient.WebIdentityRequest(
            roleARN: roleARN, sessionName: authorization.sessionName, token: ASCIIText.trimmed(token),
            policy: request.policy, durationSeconds: authorization.lifetime.seconds)
        do {
            let credentials = try await sts.assumeRoleWithWebIdentity(call)
            return ObtainedCredential(credentials: credentials, sessionID: credentials.assumedRoleID, roleARN: nil)
        } catch {
            throw .sts(error)
        }
    }

    /// Adds the task ID to the trust policy's Deny list; the row is `sealed` only once that edit and its record
    /// both happened.
    public func afterIssue(_ request: IssueRequest, _ authorization: Authorization, ledger: any LedgerStore, explain: (String) -> Void) async
        -> (state: Ledger.State, warnings: [String])
    {
        let taskID = request.task.taskId.value
        guard let revoker else {
            return (.pending, ["revocation pending: no AWS credentials for IAM calls; run `clawc sweep` with the orchestrator's credentials"])
        }
        do {
            try await revoker.updateTrustPolicy(roleARN: roleARN, add: [taskID])
        } catch {
            return (.pending, ["revocation pending: \(error.message); run `clawc sweep` to retry"])
        }
        explain("trust policy: task `\(taskID)` added to the Deny list")
        do {
            try await ledger.transition(task: taskID, to: .sealed, event: "sealed", detail: [:], now: Date())
        } catch {
            return (.pending, ["the trust policy refuses task `\(taskID)`, but the ledger could not record it (\(error.description)); `clawc sweep` will record it"])
        }
        return (.sealed, [])
    }
}

/// The scoped path: per-task credentials cut from the caller's own role session with STS `GetScopedCredentials`.
/// No token and no IAM writes; sub-agent chains are checked for containment and depth.
public struct ScopedBackend: CredentialBackend {
    public var sts: STSClient
    public var caller: AWSCredentials
    /// When the caller's session ends, if known; no credential outlives it.
    public var callerExpiration: Date?
    public var region: String
    /// Who asks, recorded in CloudTrail's `ScopedSessionDescription`.
    public var subject: String
    /// The task whose scoped credentials the caller holds, in a sub-agent chain.
    public var parentTask: String?
    /// For proving a sub-task's policy inside its parent's (action wildcards expanded through it).
    public var catalog: Catalog

    /// AWS's limit on scope-down layers under one role session.
    public static let maxLayers = 3
    /// A scoped session's shortest and longest lives, as STS allows them.
    public static let durationRange = 1...129_600
    /// The default floor when the rule sets no `lifetime.min`.
    public static let defaultFloor = 60
    /// Seconds kept between a scoped credential's end and its caller's, for the time the call takes.
    public static let callMargin: TimeInterval = 5

    public init(sts: STSClient, caller: AWSCredentials, callerExpiration: Date?, region: String, subject: String, parentTask: String?,
                catalog: Catalog) {
        self.sts = sts
        self.caller = caller
        self.callerExpiration = callerExpiration
        self.region = region
        self.subject = subject
        self.parentTask = parentTask
        self.catalog = catalog
    }

    public var path: IssuancePath { .scoped }
    public var recordedState: Ledger.State { .issued }

    public func authorize(_ request: IssueRequest, ledger: any LedgerStore, explain: (String) -> Void) async throws(IssueFailure) -> Authorization {
        // Long-term keys cannot call GetScopedCredentials; AWS refuses them, so clawc does first.
        guard let token = caller.sessionToken, !token.isEmpty, !caller.accessKeyID.hasPrefix("AKIA") else {
            throw .refused(code: "long-term-credentials", message: "the caller's AWS credentials are long-term keys; scoped credentials can only be cut from a temporary session",
                           help: "run clawc inside a role session (AWS_SESSION_TOKEN set), as STS GetScopedCredentials requires")
        }
        let task = request.task, rule = request.rule
        var layers = 1
        var remainingUntil = callerExpiration
        if let parentTask {
            let parent: Ledger.Entry?
            do { parent = try await ledger.entry(task: parentTask) } catch { throw .ledger(error) }
            guard let parent, parent.via == .scoped, let parentPolicy = parent.policy, parent.accessKeyID != nil else {
                throw .refused(code: "unknown-parent", message: "the ledger has no scoped credential for parent task `\(parentTask)`",
                               help: "a sub-task names the task whose scoped credentials it runs with")
            }
            guard parent.accessKeyID == caller.accessKeyID else {
                throw .refused(code: "parent-mismatch", message: "the caller's credentials are not those issued to parent task `\(parentTask)`",
                               help: "run the sub-task's `clawc issue` with the parent task's credentials")
            }
            guard parent.state != .revoked else {
                throw .refused(code: "parent-revoked", message: "parent task `\(parentTask)` was revoked", help: nil)
            }
            layers = parent.layers + 1
            guard layers <= Self.maxLayers else {
                throw .refused(code: "too-many-layers", message: "a credential for `\(task.taskId.value)` would be scope-down layer \(layers); AWS allows at most \(Self.maxLayers)",
                               help: "issue the sub-task from a shallower credential in the chain")
            }
            // What is proved is what is sent: the policy text read back, inside the parent's recorded policy.
            let sent: Policy, parentParsed: Policy
            do {
                sent = try PolicyParser.parse(Data(request.policy.utf8))
                parentParsed = try PolicyParser.parse(Data(parentPolicy.utf8))
            } catch {
                throw .refused(code: "unproven-policy", message: "a policy of the chain does not read back: \(error.description)", help: nil)
            }
            if let outside = Compiler.grantsWithin(sent.statements, parentParsed.statements, catalog: catalog, values: .exact) {
                throw .refused(code: "exceeds-parent", message: "the sub-task's policy grants \(outside), which parent task `\(parentTask)` does not have",
                               help: "a sub-agent can only receive a part of its parent's access")
            }
            remainingUntil = [remainingUntil, parent.expiresAt].compactMap { $0 }.min()
            explain("chain: parent `\(parentTask)` at layer \(parent.layers); this credential is layer \(layers); its policy lies inside the parent's")
        }

        // Lifetime: the estimate with a margin, floor and ceiling from the rule, never past the caller's session.
        let floor = max(Self.durationRange.lowerBound, rule.lifetime.minSeconds?.value ?? Self.defaultFloor)
        let ceiling = min(rule.lifetime.maxSeconds?.value ?? LifetimePolicy.defaultRoleMax, Self.durationRange.upperBound)
        var lifetime: LifetimeChoice
        switch LifetimePolicy.choose(estimated: task.estimatedDuration?.value, ruleDefault: rule.lifetime.defaultSeconds?.value,
                                     ruleMax: ceiling, roleMax: Self.durationRange.upperBound, floor: floor) {
        case .success(let choice): lifetime = choice
        case .failure(let error): throw .refused(code: "lifetime-out-of-range", message: error.description, help: nil)
        }
        if let remainingUntil {
            // Less a few seconds: the request takes time to reach STS, which checks against the session's end then.
            let left = remainingUntil.timeIntervalSince(request.now) - Self.callMargin
            let remaining = Int(max(-1, min(Double(Int32.max), left)).rounded(.down))
            if remaining < floor {
                throw .refused(code: "insufficient-session-lifetime",
                               message: "the caller's session has \(max(0, remaining))s left, less than the \(floor)s this rule's credentials need",
                               help: "refresh the caller's session first; STS refuses a scoped credential that would outlive its caller")
            }
            if lifetime.seconds > remaining {
                lifetime = LifetimeChoice(seconds: remaining, explanation: lifetime.explanation + "; cut to the caller's remaining \(remaining)s")
            }
        }
        var authorization = Authorization(
            subject: subject, tokenID: nil, tokenExpiresAt: nil,
            sessionName: Self.description(purpose: rule.purpose.value, taskID: task.taskId.value, subject: subject),
            roleARN: "", lifetime: lifetime)
        authorization.layers = layers
        authorization.parentTask = parentTask
        return authorization
    }

    public func obtain(_ request: IssueRequest, _ authorization: Authorization) async throws(IssueFailure) -> ObtainedCredential {
        do {
            let session = try await sts.getScopedCredentials(
                .init(policy: request.policy, durationSeconds: authorization.lifetime.seconds, description: authorization.sessionName),
                caller: caller, region: region)
            var credentials = session.credentials
            credentials.assumedRoleARN = session.arn
            return ObtainedCredential(credentials: credentials, sessionID: session.scopedSessionID, roleARN: session.arn)
        } catch {
            throw .sts(error)
        }
    }

    public func afterIssue(_ request: IssueRequest, _ authorization: Authorization, ledger: any LedgerStore, explain: (String) -> Void) async
        -> (state: Ledger.State, warnings: [String])
    {
        (.issued, [])
    }

    /// `clawc purpose=P task=T subject=S`, within STS's 2..256 characters of letters, digits, spaces and `_.:/=+-@`;
    /// other characters become `_`, and a long subject is cut (the task ID always stays whole).
    public static func description(purpose: String, taskID: String, subject: String) -> String {
        func clean(_ text: String) -> String {
            String(text.unicodeScalars.map { scalar -> Character in
                let ok = scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || " _.:/=+-@".unicodeScalars.contains(scalar))
                return ok ? Character(scalar) : "_"
            })
        }
        let head = "clawc purpose=\(clean(purpose)) task=\(clean(taskID)) subject="
        let room = max(0, 256 - head.count)
        return head + String(clean(subject).prefix(room))
    }
}
