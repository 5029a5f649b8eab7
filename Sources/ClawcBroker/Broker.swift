import ClawcCatalog
import ClawcCompiler
import ClawcDiagnostics
import ClawcPolicy
import ClawcRuntime
import ClawcSyntax
import Crypto
import Foundation
import Logging

/// One HTTP request as the broker sees it, after the server bounded its size and time.
public struct BrokerRequest: Sendable {
    public var method: String
    public var path: String
    public var query: String?
    /// Header names in lowercase.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(method: String, path: String, query: String?, headers: [(name: String, value: String)], body: [UInt8]) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? { headers.first { $0.name == name }?.value }
    /// Every value of a header, for headers that must appear once.
    public func headerCount(_ name: String) -> Int { headers.count { $0.name == name } }
}

/// The answer: always a whole body, written only once everything behind it is done.
public struct BrokerResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    static func json(_ status: Int, _ text: String, extra: [(String, String)] = []) -> BrokerResponse {
        BrokerResponse(status: status, headers: [("Content-Type", "application/json"), ("Cache-Control", "no-store")] + extra, body: Array(text.utf8))
    }

    /// `{"error": {"code", "message", "help"}}`, plus located `diagnostics` for task and rule errors.
    static func error(_ status: Int, code: String, message: String, help: String?, diagnostics: [Diagnostic] = [],
                      extra: [(String, String)] = []) -> BrokerResponse {
        var text = "{\"error\":{\"code\":" + PolicyJSON.string(code) + ",\"message\":" + PolicyJSON.string(message)
        text += ",\"help\":" + (help.map(PolicyJSON.string) ?? "null") + "}"
        if !diagnostics.isEmpty {
            text += ",\"diagnostics\":[" + diagnostics.map { d in
                "{\"file\":" + PolicyJSON.string(d.path ?? "") + ",\"line\":\(d.span?.start.line ?? 0),\"column\":\(d.span?.start.column ?? 0)"
                    + ",\"code\":" + PolicyJSON.string(d.code) + ",\"message\":" + PolicyJSON.string(d.message) + "}"
            }.joined(separator: ",") + "]"
        }
        return json(status, text + "}\n", extra: extra)
    }
}

/// `clawc serve`'s request handling, apart from the HTTP server: who asks, for what, and the one issuance sequence
/// of `Issuer` behind it. Every request gets a whole answer; nothing is issued unless the ledger's `issuing` row
/// was written first.
public final class Broker: Sendable {
    public struct Configuration: Sendable {
        public var via: IssuancePath
        public var issuer: String
        public var audience: String
        public var leeway: TimeInterval
        public var stsEndpoint: URL
        public var region: String?
        /// `--via web-identity`: the role to assume and its MaxSessionDuration when raised.
        public var roleARN: String?
        public var roleMaxSeconds: Int?
        public var maxChars: Int = Compiler.defaultMaxChars

        public init(via: IssuancePath, issuer: String, audience: String, leeway: TimeInterval, stsEndpoint: URL, region: String?,
                    roleARN: String?, roleMaxSeconds: Int?) {
            self.via = via
            self.issuer = issuer
            self.audience = audience
            self.leeway = leeway
            self.stsEndpoint = stsEndpoint
            self.region = region
            self.roleARN = roleARN
            self.roleMaxSeconds = roleMaxSeconds
        }
    }

    /// The largest request body read (64 KiB); a task is a few hundred bytes.
    public static let maxBody = 64 * 1024
    /// The deepest nesting a task body may have: the task object, its `tags` or `targetResources`, their values.
    public static let maxDepth = 4

    public let configuration: Configuration
    public let rules: RuleStore
    public let ledger: any LedgerStore
    public let metrics: BrokerMetrics
    let validator: TokenValidator
    let sts: STSClient
    let parent: ParentSession?
    let revoker: Revoker?
    let subjects: SubjectLimits
    let upstreamLimit: UpstreamLimit
    let inFlight = Coalescer()
    let logger: Logger
    let catalog: Catalog
    /// The administrative database connection for PostgreSQL purposes (`--database`); nil: they are not served.
    let postgres: PostgresAdmin?

    public init(configuration: Configuration, rules: RuleStore, ledger: any LedgerStore, catalog: Catalog, parent: ParentSession?,
                revoker: Revoker?, subjects: SubjectLimits, upstreamLimit: UpstreamLimit, metrics: BrokerMetrics, logger: Logger,
                postgres: PostgresAdmin? = nil) {
        self.postgres = postgres
        self.configuration = configuration
        self.rules = rules
        self.ledger = ledger
        self.catalog = catalog
        self.parent = parent
        self.revoker = revoker
        self.subjects = subjects
        self.upstreamLimit = upstreamLimit
        self.metrics = metrics
        self.logger = logger
        // STS over the process's pooled keep-alive connections (`HTTPTransport`'s shared client), 10 s a call.
        self.sts = STSClient(endpoint: configuration.stsEndpoint)
        self.validator = TokenValidator(issuer: configuration.issuer, audience: configuration.audience, leeway: configuration.leeway,
                                        cache: JWKSCache(ttl: 300, minRefreshInterval: 30))
        metrics.allow(purposes: rules.snapshot.ruleSet.rules.map(\.purpose.value))
    }

    // MARK: Routing

    public func handle(_ request: BrokerRequest) async -> BrokerResponse {
        switch (request.method, request.path) {
        case ("POST", "/v1/credentials"):
            let started = ContinuousClock.now
            let (response, fields) = await credentials(request)
            metrics.observe(ContinuousClock.now - started)
            metrics.issuance(purpose: fields.purpose, outcome: fields.outcome)
            log(request, response, fields, elapsed: ContinuousClock.now - started)
            return response
        case ("GET", "/healthz"), ("HEAD", "/healthz"):
            return .json(200, "{\"status\":\"ok\"}\n")
        case ("GET", "/readyz"), ("HEAD", "/readyz"):
            if let reason = await notReady() {
                return .json(503, "{\"status\":\"not-ready\",\"reason\":" + PolicyJSON.string(reason) + "}\n")
            }
            return .json(200, "{\"status\":\"ready\"}\n")
        case ("GET", "/metrics"):
            return BrokerResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")], body: metrics.render())
        case (_, "/v1/credentials"), (_, "/healthz"), (_, "/readyz"), (_, "/metrics"):
            let allowed = request.path == "/v1/credentials" ? "POST" : "GET, HEAD"
            return .error(405, code: "method-not-allowed", message: "\(request.path) does not take \(HostileText.clipped(request.method, to: 20))",
                          help: "use \(allowed)", extra: [("Allow", allowed)])
        default:
            return .error(404, code: "not-found", message: "no such endpoint",
                          help: "the broker serves POST /v1/credentials, GET /healthz, /readyz and /metrics")
        }
    }

    /// nil when ready: rules loaded, the ledger answering, the issuer's keys fetched, and (scoped) a parent session.
    public func notReady() async -> String? {
        let snapshot = rules.snapshot
        do { _ = try await ledger.auditHead() } catch { return "ledger: \(HostileText.escape(error.description))" }
        do { _ = try await validator.cache.keys(issuer: configuration.issuer) } catch {
            return "identity provider keys: \(HostileText.escape(error.description))"
        }
        if let parent {
            await parent.refreshIfDue(longestLifetime: snapshot.longestLifetime)
            if let problem = await parent.problem() { return "parent session: \(problem)" }
        }
        if let postgres, let problem = await postgres.problem() { return "database: \(problem)" }
        return nil
    }

    // MARK: POST /v1/credentials

    /// What the request log line and the metrics say about one credential request.
    struct Fields: Sendable {
        var outcome = "error"
        var code: String?
        var purpose: String?
        var taskID: String?
        var subject: String?
        var repeated = false
    }

    func credentials(_ request: BrokerRequest) async -> (BrokerResponse, Fields) {
        var fields = Fields()
        func fail(_ response: BrokerResponse, _ code: String) -> (BrokerResponse, Fields) {
            fields.code = code
            fields.outcome = code
            return (response, fields)
        }
        // 1. The request's shape: media type, format, token, body. Nothing here costs a network call.
        let contentType = request.header("content-type")?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard contentType == "application/json", request.headerCount("content-type") == 1 else {
            return fail(.error(415, code: "unsupported-media-type", message: "the body must be the task as JSON",
                               help: "send `Content-Type: application/json`"), "unsupported-media-type")
        }
        let format: CredentialFormat
        switch Self.format(query: request.query) {
        case .success(let chosen): format = chosen
        case .failure(let problem):
            return fail(.error(400, code: "bad-request", message: problem.message, help: "use `?format=json` (the default) or `?format=credential-process`"), "bad-request")
        }
        guard request.headerCount("authorization") == 1, let authorization = request.header("authorization"),
            authorization.count > 7, authorization.prefix(7).lowercased() == "bearer "
        else {
            return fail(.error(401, code: "missing-token", message: "no bearer token",
                               help: "send the workload's token as `Authorization: Bearer TOKEN`"), "missing-token")
        }
        let token = ASCIIText.trimmed(authorization.dropFirst(7))
        guard request.body.count <= Self.maxBody else {
            return fail(.error(413, code: "body-too-large", message: "the body is larger than \(Self.maxBody / 1024) KiB", help: "a task is a small JSON object"),
                        "body-too-large")
        }
        let task: Task
        switch Self.task(from: request.body) {
        case .success(let parsed): task = parsed
        case .failure(let refusal): return fail(refusal.response, refusal.code)
        }
        fields.taskID = task.taskId.value
        fields.purpose = task.purpose.value

        // 2. The token, for the broker's audience.
        let claims: IdentityClaims
        let fetchesBefore = await validator.cache.fetches
        do {
            claims = try await validator.validate(token)
        } catch {
            metrics.upstream(service: "idp", outcome: error.code == "issuer-unavailable" ? "unavailable" : "ok",
                             count: await validator.cache.fetches - fetchesBefore)
            if case .issuerUnavailable = error {
                return fail(.error(503, code: error.code, message: error.description, help: "the broker cannot reach the issuer's keys; retry shortly",
                                   extra: [("Retry-After", "5")]), error.code)
            }
            return fail(.error(401, code: error.code, message: error.description, help: "present a valid token for audience `\(configuration.audience)`"),
                        error.code)
        }
        metrics.upstream(service: "idp", outcome: "ok", count: await validator.cache.fetches - fetchesBefore)
        fields.subject = claims.subject

        // 3. Who may ask for this purpose.
        let snapshot = rules.snapshot
        if let rule = snapshot.ruleSet.rule(for: task.purpose.value) {
            do {
                try CallerAdmission.check(claims, rule: rule)
            } catch {
                return fail(Self.response(for: error), error.code)
            }
        }

        // 4. This subject's rate.
        if let wait = subjects.admit(claims.subject) {
            let seconds = max(1, Int(wait.rounded(.up)))
            return fail(.error(429, code: "rate-limited", message: "too many requests for subject `\(HostileText.clipped(claims.subject, to: 200))`",
                               help: "retry after \(seconds) s", extra: [("Retry-After", "\(seconds)")]), "rate-limited")
        }

        // 5. The issuance, coalesced with an identical request in flight (same token, same body, same format): both
        //    get the one answer, and only one reaches the ledger and STS.
        let key = Self.coalescingKey(token: token, body: request.body, format: format)
        let (answer, shared) = await inFlight.run(key) {
            await self.issue(task, token: token, claims: claims, format: format, snapshot: snapshot)
        }
        fields.outcome = answer.outcome
        fields.code = answer.code
        fields.repeated = answer.repeated || shared
        return (answer.response, fields)
    }

    /// The outcome of one issuance, shareable between coalesced requests.
    struct Answer: Sendable {
        var response: BrokerResponse
        var outcome: String
        var code: String?
        var repeated: Bool
    }

    func issue(_ task: Task, token: String, claims: IdentityClaims, format: CredentialFormat, snapshot: RuleStore.Snapshot) async -> Answer {
        if let rule = snapshot.ruleSet.rule(for: task.purpose.value), rule.isPostgres {
            return await issuePostgres(task, token: token, claims: claims, format: format, snapshot: snapshot)
        }
        // The node's STS budget is taken before anything is written: a request refused here leaves no row.
        guard await upstreamLimit.acquire() else {
            return Answer(response: .error(429, code: "sts-rate-limited", message: "this broker is at its STS request rate",
                                           help: "retry after 1 s", extra: [("Retry-After", "1")]),
                          outcome: "sts-rate-limited", code: "sts-rate-limited", repeated: false)
        }
        let backend: any CredentialBackend
        switch configuration.via {
        case .postgres:
            // `clawc serve` refuses `--via postgres` at start; PostgreSQL rules reach the compiler's own refusal below.
            return Answer(response: .error(500, code: "internal-error", message: "the broker was started on a path it does not serve", help: nil),
                          outcome: "internal-error", code: "internal-error", repeated: false)
        case .webIdentity:
            var web = WebIdentityBackend(validator: validator, sts: sts, token: token, roleARN: configuration.roleARN ?? "",
                                         roleMaxSeconds: configuration.roleMaxSeconds, revoker: revoker)
            web.validated = claims
            backend = web
        case .scoped:
            guard let parent else { fatalError("a scoped broker always has a parent session") }
            let session: (credentials: AWSCredentials, expiration: Date?)
            do {
                session = try await parent.session(longestLifetime: snapshot.longestLifetime)
            } catch {
                return Answer(response: Self.response(for: error), outcome: error.code, code: error.code, repeated: false)
            }
            backend = BrokerScopedBackend(
                inner: ScopedBackend(sts: sts, caller: session.credentials, callerExpiration: session.expiration, region: configuration.region ?? "",
                                     subject: claims.subject, parentTask: nil, catalog: catalog),
                claims: claims, token: token)
        }
        let issuer = Issuer(rules: snapshot.prepared, ledger: ledger,
                            backend: MeteredBackend(inner: backend, metrics: metrics, limit: upstreamLimit), maxChars: configuration.maxChars)
        do {
            let issuance = try await issuer.issue(task)
            for warning in issuance.warnings {
                logger.warning("issuance warning", metadata: ["task": .string(issuance.taskID), "warning": .string(warning)])
            }
            let body = format.render(issuance.credentials, sessionName: issuance.sessionName, taskID: issuance.taskID)
            return Answer(response: .json(200, body), outcome: issuance.repeated ? "repeated" : "issued", code: nil, repeated: issuance.repeated)
        } catch {
            if case .outcomeUnknown = error {
                logger.error("outcome unknown", metadata: ["task": .string(task.taskId.value), "code": .string(error.code)])
            }
            return Answer(response: Self.response(for: error), outcome: error.code, code: error.code, repeated: false)
        }
    }

    /// A PostgreSQL purpose: a login role for the task, through the ledger like any issuance, keyed on the token (a
    /// repeat with the same token gets the same login back).
    func issuePostgres(_ task: Task, token: String, claims: IdentityClaims, format: CredentialFormat, snapshot: RuleStore.Snapshot) async -> Answer {
        func refuse(_ status: Int, _ code: String, _ message: String, _ help: String) -> Answer {
            Answer(response: .error(status, code: code, message: message, help: help), outcome: code, code: code, repeated: false)
        }
        guard let postgres else {
            return refuse(400, "postgres-not-served", "purpose `\(task.purpose.value)` grants PostgreSQL access, and this broker serves no database",
                          "start clawc serve with --database URL (or CLAWC_POSTGRES_URL)")
        }
        guard format == .json else {
            return refuse(400, "bad-request", "`format=\(format.rawValue)` is for AWS credentials", "ask for a PostgreSQL login with `?format=json`")
        }
        do {
            try WebIdentityBackend.checkBinding(claims, taskID: task.taskId.value)
        } catch {
            return Answer(response: Self.response(for: error), outcome: error.code, code: error.code, repeated: false)
        }
        let identity = WebIdentityBackend.tokenIdentity(claims, token: token)
        let issuer = PostgresIssuer(ruleSet: snapshot.ruleSet, catalog: catalog, schema: snapshot.postgresSchema, ledger: ledger, admin: postgres,
                                    subject: claims.subject)
        do {
            let credential = try await issuer.issue(task, token: (identity.tokenID, claims.expiresAt, identity.sealingSecret))
            if !credential.repeated { metrics.upstream(service: "postgres", outcome: "ok") }
            return Answer(response: .json(200, credential.render(.json)), outcome: credential.repeated ? "repeated" : "issued", code: nil,
                          repeated: credential.repeated)
        } catch {
            if error.exitCode == 3 { metrics.upstream(service: "postgres", outcome: error.code == "outcome-unknown" ? "unknown" : "unavailable") }
            return Answer(response: Self.response(for: error), outcome: error.code, code: error.code, repeated: false)
        }
    }

    // MARK: Reading the request

    static func format(query: String?) -> Result<CredentialFormat, QueryProblem> {
        guard let query, !query.isEmpty else { return .success(.json) }
        var chosen: CredentialFormat?
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0]).removingPercentEncoding ?? ""
            let value = parts.count > 1 ? (String(parts[1]).removingPercentEncoding ?? "") : ""
            guard name == "format" else { return .failure(QueryProblem(message: "unknown query parameter `\(HostileText.clipped(name, to: 40))`")) }
            guard chosen == nil else { return .failure(QueryProblem(message: "`format` is given twice")) }
            guard let format = CredentialFormat(rawValue: value), format != .env else {
                return .failure(QueryProblem(message: "unknown format `\(HostileText.clipped(value, to: 40))`"))
            }
            chosen = format
        }
        return .success(chosen ?? .json)
    }

    /// The task from a JSON body: strict JSON first (no duplicate keys, no comments, UTF-8, bounded depth), then the
    /// task file's own reader, whose diagnostics point into the body (`request body:LINE:COLUMN`).
    static func task(from body: [UInt8]) -> Result<Task, Refusal> {
        let shown = "request body"
        let root: StrictJSON.Node
        do {
            root = try StrictJSON.parse(body)
        } catch {
            let file = SourceFile(path: shown, text: String(decoding: body, as: UTF8.self))
            let diagnostic = Diagnostic.error(error.code, error.message, at: SourceSpan(file: file, start: error.location, length: error.length), help: error.help)
            return .failure(Refusal(400, code: "bad-json", message: "the body is not valid JSON: \(error.message)",
                                   help: "send the task as one JSON object", diagnostics: [diagnostic]))
        }
        guard case .object = root.value else {
            return .failure(Refusal(400, code: "bad-json", message: "the body is \(root.kind), not a JSON object", help: "send the task as one JSON object"))
        }
        if depth(of: root) > maxDepth {
            return .failure(Refusal(400, code: "bad-json", message: "the body nests deeper than \(maxDepth) levels, more than any task",
                                   help: "a task is an object of strings, a list of targets and an object of tags"))
        }
        switch YAMLSource.parse(data: Data(body), displayPath: shown) {
        case .failure(let diagnostic):
            return .failure(Refusal(400, code: diagnostic.code, message: diagnostic.message, help: diagnostic.help, diagnostics: [diagnostic]))
        case .success(let source):
            let (task, problems) = SyntaxReader.task(source)
            guard let task, !problems.contains(where: { $0.severity == .error }) else {
                let errors = problems.filter { $0.severity == .error }
                let first = errors.first
                return .failure(Refusal(400, code: first?.code ?? "invalid-task", message: first?.message ?? "the task is not valid",
                                       help: first?.help, diagnostics: errors))
            }
            return .success(task)
        }
    }

    static func depth(of node: StrictJSON.Node) -> Int {
        switch node.value {
        case .object(let members): 1 + (members.map { depth(of: $0.value) }.max() ?? 0)
        case .array(let items): 1 + (items.map { depth(of: $0) }.max() ?? 0)
        default: 0
        }
    }

    static func coalescingKey(token: String, body: [UInt8], format: CredentialFormat) -> String {
        var hash = SHA256()
        hash.update(data: Array(token.utf8))
        hash.update(data: [0])
        hash.update(data: body)
        hash.update(data: [0])
        hash.update(data: Array(format.rawValue.utf8))
        return Hex.string(hash.finalize())
    }

    // MARK: Answers

    /// The HTTP answer for an issuance failure (DESIGN section 10's status table).
    static func response(for failure: IssueFailure) -> BrokerResponse {
        switch failure {
        case .diagnostics(let bag):
            let errors = bag.items.filter { $0.severity == .error }
            let first = errors.first
            return .error(400, code: failure.code, message: first?.message ?? "the task or its rule has errors", help: first?.help, diagnostics: errors)
        case let .refused(code, message, help):
            let status = status(forRefusal: code)
            return .error(status, code: code, message: message, help: help, extra: status == 503 ? [("Retry-After", "5")] : [])
        case let .unavailable(code, message, help):
            return .error(503, code: code, message: message, help: help, extra: [("Retry-After", "5")])
        case .sts(let error):
            if error.isUpstreamFailure {
                return .error(503, code: failure.code, message: error.description, help: error.hint, extra: [("Retry-After", "5")])
            }
            return .error(error.isRetryable ? 429 : 403, code: error.isRetryable ? "sts-throttled" : failure.code, message: error.description,
                          help: error.hint, extra: error.isRetryable ? [("Retry-After", "1")] : [])
        case let .outcomeUnknown(inner, task, _):
            let base = response(for: inner)
            return .error(503, code: inner.code,
                          message: "STS may have issued a credential before the failure (\(inner.code)); task `\(task)` stays `issuing` and is refused again",
                          help: "ask the orchestrator for a new task ID; `clawc revoke --task \(task)` cuts the session if it exists",
                          extra: base.headers.filter { $0.0 == "Retry-After" })
        }
    }

    static func status(forRefusal code: String) -> Int {
        switch code {
        case "caller-not-allowed", "token-task-mismatch": 403
        case "already-issued", "token-reused": 409
        // The broker's own state, not the request: its ledger, or a parent session too short to cut from.
        case "ledger-error", "insufficient-session-lifetime": 503
        case _ where code.hasPrefix("token-"): 401
        default: 400
        }
    }

    // MARK: Logging

    func log(_ request: BrokerRequest, _ response: BrokerResponse, _ fields: Fields, elapsed: Duration) {
        var metadata: Logger.Metadata = [
            "method": .string(request.method), "path": .string(request.path), "status": .stringConvertible(response.status),
            "outcome": .string(fields.outcome),
            "ms": .stringConvertible(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000),
        ]
        if let code = fields.code { metadata["code"] = .string(code) }
        if let purpose = fields.purpose { metadata["purpose"] = .string(HostileText.clipped(purpose, to: 80)) }
        if let task = fields.taskID { metadata["task"] = .string(HostileText.clipped(task, to: 80)) }
        if let subject = fields.subject { metadata["subject"] = .string(HostileText.clipped(subject, to: 200)) }
        if fields.repeated { metadata["repeated"] = .string("true") }
        logger.info("request", metadata: metadata)
    }
}

struct QueryProblem: Error {
    var message: String
}

/// A request refused while it was read: its answer, and the code that answer carries (for the log line and metrics).
struct Refusal: Error {
    var response: BrokerResponse
    var code: String

    init(_ status: Int, code: String, message: String, help: String?, diagnostics: [Diagnostic] = []) {
        self.response = .error(status, code: code, message: message, help: help, diagnostics: diagnostics)
        self.code = code
    }
}

/// Runs one body per key at a time: a request identical to one in flight waits for that one's answer instead of
/// racing it to the ledger (which would refuse the second as `already-issued` before the first had recorded).
final class Coalescer: @unchecked Sendable {
    private let lock = NSLock()
    private var running: [String: _Concurrency.Task<Broker.Answer, Never>] = [:]
    /// The most distinct requests in flight that may be coalesced; past it, requests simply run alone.
    static let limit = 10_000

    func run(_ key: String, _ body: @escaping @Sendable () async -> Broker.Answer) async -> (Broker.Answer, shared: Bool) {
        let (task, shared): (_Concurrency.Task<Broker.Answer, Never>, Bool) = lock.withLock {
            if let existing = running[key] { return (existing, true) }
            let made = _Concurrency.Task { await body() }
            if running.count < Self.limit { running[key] = made }
            return (made, false)
        }
        let answer = await task.value
        if !shared { _ = lock.withLock { running.removeValue(forKey: key) } }
        return (answer, shared)
    }
}
