import ClawcCatalog
import ClawcCompiler
import ClawcPolicy
import Crypto
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// What STS `GetScopedCredentials` returns besides the credentials.
public struct ScopedSession: Sendable {
    public var credentials: TemporaryCredentials
    public var scopedSessionID: String?
    public var arn: String?
    public var scopedPoliciesCount: Int?
}

extension STSClient {
    public struct ScopedRequest: Sendable {
        public var policy: String
        public var durationSeconds: Int
        public var description: String
    }

    /// `GetScopedCredentials`, SigV4-signed with the caller's own temporary credentials for the regional endpoint.
    public func getScopedCredentials(_ request: ScopedRequest, caller: AWSCredentials, region: String) async throws(STSError) -> ScopedSession {
        let fields = [
            ("Action", "GetScopedCredentials"), ("Version", "2011-06-15"), ("Policy", request.policy),
            ("DurationSeconds", String(request.durationSeconds)), ("ScopedSessionDescription", request.description),
        ]
        let values = try await call(fields, result: "GetScopedCredentialsResult", signing: .init(credentials: caller, region: region, service: "sts"))
        return ScopedSession(
            credentials: try Self.credentials(from: values), scopedSessionID: values["ScopedSessionId"], arn: values["Arn"],
            scopedPoliciesCount: values["ScopedPoliciesCount"].flatMap { Int($0) })
    }
}

/// Why the scoped path refused before calling STS.
public struct ScopedRefusal: Error, Sendable {
    public var code: String
    public var message: String
    public var help: String?
}

/// The scoped path: per-task credentials cut from the caller's own session with STS `GetScopedCredentials`.
public struct ScopedIssuer: Sendable {
    public var catalog: Catalog
    public var sts: STSClient
    public var ledger: Ledger
    public var region: String

    /// AWS's limit on scope-down layers under one role session.
    public static let maxLayers = 3
    /// A scoped session's shortest and longest lives, as STS allows them.
    public static let durationRange = 1...129_600
    /// The default floor when the rule sets no `lifetime.min`.
    public static let defaultFloor = 60

    public init(catalog: Catalog, sts: STSClient, ledger: Ledger, region: String) {
        self.catalog = catalog
        self.sts = sts
        self.ledger = ledger
        self.region = region
    }

    public struct Request: Sendable {
        public var rulesDirectory: String
        public var taskPath: String
        public var caller: AWSCredentials
        /// When the caller's own session ends, if known (`AWS_CREDENTIAL_EXPIRATION`).
        public var callerExpiration: Date?
        /// Who is asking, for the CloudTrail description.
        public var subject: String
        /// In a sub-agent chain: the task whose scoped credentials the caller holds.
        public var parentTask: String?
        public var maxChars: Int = Compiler.defaultMaxChars

        public init(rulesDirectory: String, taskPath: String, caller: AWSCredentials, callerExpiration: Date?, subject: String, parentTask: String?) {
            self.rulesDirectory = rulesDirectory
            self.taskPath = taskPath
            self.caller = caller
            self.callerExpiration = callerExpiration
            self.subject = subject
            self.parentTask = parentTask
        }
    }

    public func issue(_ request: Request, now: Date = Date(), explain: (String) -> Void = { _ in }) async throws(IssueFailure) -> Issuance {
        // Long-term keys cannot call GetScopedCredentials; AWS refuses them, so clawc does first.
        guard let sessionToken = request.caller.sessionToken, !sessionToken.isEmpty, !request.caller.accessKeyID.hasPrefix("AKIA") else {
            throw .refused(code: "long-term-credentials", message: "the caller's AWS credentials are long-term keys; scoped credentials can only be cut from a temporary session",
                           help: "run clawc inside a role session (AWS_SESSION_TOKEN set), as STS GetScopedCredentials requires")
        }
        let outcome = Compiler.compile(rulesDirectory: request.rulesDirectory, taskPath: request.taskPath, catalog: catalog, maxChars: request.maxChars)
        for line in outcome.explain { explain(line) }
        guard let json = outcome.json, let rule = outcome.rule, let task = outcome.task else { throw .diagnostics(outcome.diagnostics) }
        let policy = String(json.dropLast())

        // The chain: the parent's credentials, its remaining lifetime, its policy, its depth.
        var layers = 1
        var remainingUntil = request.callerExpiration
        if let parentTask = request.parentTask {
            let parent: Ledger.Entry?
            do { parent = try ledger.entryNow(task: parentTask) } catch { throw .refused(code: error.code, message: error.description, help: nil) }
            guard let parent, parent.via == .scoped, let parentPolicy = parent.policy, parent.accessKeyID != nil else {
                throw .refused(code: "unknown-parent", message: "the ledger has no scoped credential for parent task `\(parentTask)`",
                               help: "a sub-task names the task whose scoped credentials it runs with")
            }
            guard parent.accessKeyID == request.caller.accessKeyID else {
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
            let parentParsed: Policy
            do { parentParsed = try PolicyParser.parse(Data(parentPolicy.utf8)) } catch {
                throw .refused(code: "ledger-error", message: "the parent's recorded policy cannot be read: \(error.description)", help: nil)
            }
            // What is proved is what is sent: the policy text read back, not the compiler's IR.
            let sent: Policy
            do { sent = try PolicyParser.parse(Data(policy.utf8)) } catch {
                throw .refused(code: "unproven-policy", message: "the compiled policy does not read back: \(error.description)", help: nil)
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
            let remaining = Int(remainingUntil.timeIntervalSince(now).rounded(.down))
            if remaining < floor {
                throw .refused(code: "insufficient-session-lifetime",
                               message: "the caller's session has \(max(0, remaining))s left, less than the \(floor)s this rule's credentials need",
                               help: "refresh the caller's session first; STS refuses a scoped credential that would outlive its caller")
            }
            if lifetime.seconds > remaining {
                lifetime = LifetimeChoice(seconds: remaining, explanation: lifetime.explanation + "; cut to the caller's remaining \(remaining)s")
            }
        }
        explain("lifetime: \(lifetime.seconds)s (\(lifetime.explanation))")

        let description = Self.description(purpose: rule.purpose.value, taskID: task.taskId.value, subject: request.subject)
        explain("scoped session description: \(description)")
        let policyHash = Hex.sha256(policy)
        var entry = Ledger.Entry(
            taskID: task.taskId.value, purpose: rule.purpose.value, subject: request.subject, jwtID: nil, policySHA256: policyHash,
            sessionName: description, roleARN: "", via: .scoped, tokenExpiresAt: nil, now: now)
        entry.policy = policy
        entry.layers = layers
        entry.parentTask = request.parentTask
        do { try ledger.beginNow(entry) } catch {
            throw .refused(code: error.code, message: error.description, help: "ask the orchestrator for a new task ID; credentials are never issued twice")
        }
        let session: ScopedSession
        do {
            session = try await sts.getScopedCredentials(
                .init(policy: policy, durationSeconds: lifetime.seconds, description: description), caller: request.caller, region: region)
        } catch {
            try? ledger.transitionNow(task: entry.taskID, to: .failed, event: "failed", detail: ["code": error.code])
            throw .sts(error)
        }
        var warnings: [String] = []
        do {
            try ledger.issued(task: entry.taskID, accessKeyID: session.credentials.accessKeyID, sessionID: session.scopedSessionID,
                              expiresAt: session.credentials.expiration, state: .sealed)
        } catch {
            warnings.append("the ledger could not record the credential (\(error.description))")
        }
        explain("issued: scoped session \(session.scopedSessionID ?? "?") of \(session.arn ?? "?"), expires \(AWSDate.format(session.credentials.expiration))")
        var credentials = session.credentials
        credentials.assumedRoleARN = session.arn
        let claims = IdentityClaims(issuer: "", subject: request.subject, audience: [], expiresAt: session.credentials.expiration,
                                    jwtID: nil, sessionTags: [:], algorithm: "")
        return Issuance(credentials: credentials, sessionName: description, taskID: task.taskId.value, purpose: rule.purpose.value,
                        policy: policy, lifetime: lifetime, claims: claims, state: .sealed, warnings: warnings)
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
