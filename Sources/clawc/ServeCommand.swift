import ArgumentParser
import ClawcBroker
import ClawcCompiler
import ClawcDiagnostics
import ClawcRuntime
import Foundation
import Logging

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the issuance broker: an HTTP service that issues task credentials to agent pools.",
        discussion: """
            Serves POST /v1/credentials (a bearer token and a task as JSON in, what `clawc issue` prints out), GET \
            /healthz, /readyz and /metrics (Prometheus text). Rules are read once; SIGHUP reloads them (a folder that \
            fails to load keeps the rules in use), SIGTERM stops accepting, drains requests in flight (at most 10 s) \
            and exits 0. Every rule must name its `callers`. One JSON log line per request on stderr, never a secret.

            With `--via scoped` (the default) each credential is cut by GetScopedCredentials from the broker's own role \
            session: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN (with AWS_CREDENTIAL_EXPIRATION), \
            or AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN, refreshed ahead of expiry. Callers' tokens carry the \
            broker's audience (default `clawc`), which STS does not accept. With `--via web-identity` the caller's \
            token is forwarded to AssumeRoleWithWebIdentity. Several brokers may share one PostgreSQL ledger.

            With --database URL (or CLAWC_POSTGRES_URL), purposes whose rules grant PostgreSQL access are served too: \
            the answer is what `clawc issue --to postgres --format json` prints, a login role for the task.
            """
    )

    @Option(name: .long, help: ArgumentHelp("The folder of rule files.", valueName: "DIR")) var rules: String
    @Option(name: .long, help: ArgumentHelp("The address to listen on (port 0: any free port, logged at start).", valueName: "HOST:PORT"))
    var listen = "127.0.0.1:8080"
    @Option(name: .long, help: "How to get credentials: GetScopedCredentials from the broker's session, or AssumeRoleWithWebIdentity with the caller's token.")
    var via: IssuancePath = .scoped
    @Option(name: .long, help: ArgumentHelp("The token issuer (default: `issuer` in clawc.yaml).", valueName: "URL")) var issuer: String?
    @Option(name: .long, help: ArgumentHelp(
        "The audience callers' tokens must carry (default: `clawc` with --via scoped; with --via web-identity `audience` in clawc.yaml, then sts.amazonaws.com).",
        valueName: "AUD"))
    var audience: String?
    @Option(name: .long, help: ArgumentHelp("With --via web-identity: the role to assume (default: $AWS_ROLE_ARN, then `roleArn` in clawc.yaml).", valueName: "ARN"))
    var roleArn: String?
    @Option(name: .long, help: ArgumentHelp("With --via web-identity: the role's MaxSessionDuration in seconds, if raised from 3600.", valueName: "SECONDS"))
    var roleMaxDuration: Int?
    @Option(name: .long, help: ArgumentHelp("Clock skew allowed on the token's times.", valueName: "SECONDS")) var leeway: Int = 60
    @Option(name: .long, help: ArgumentHelp("Requests a second each token subject may make (bursts of twice as many).", valueName: "N"))
    var subjectRate: Double = 50
    @Option(name: .long, help: ArgumentHelp("Calls a second this broker makes to STS at most; a request waits up to 1 s for its turn, then gets 429.", valueName: "N"))
    var stsRate: Double = 500
    @Flag(name: .long, help: "With --via web-identity: record issuances in the ledger only; leave the role's trust policy alone.")
    var noTrustPolicy = false
    @OptionGroup var ledgerOptions: LedgerOptions
    @OptionGroup var databaseOptions: DatabaseOptions
    @OptionGroup var catalogOptions: CatalogOptions

    func validate() throws {
        guard Self.address(listen) != nil else { throw ValidationError("--listen must be HOST:PORT, such as 127.0.0.1:8080") }
        guard (0...600).contains(leeway) else { throw ValidationError("--leeway must be between 0 and 600 seconds") }
        guard subjectRate > 0, subjectRate.isFinite, stsRate > 0, stsRate.isFinite else { throw ValidationError("--subject-rate and --sts-rate must be positive") }
        if via == .scoped, roleArn != nil || roleMaxDuration != nil || noTrustPolicy {
            throw ValidationError("--role-arn, --role-max-duration and --no-trust-policy go with --via web-identity")
        }
    }

    static func address(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65_535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : (host, port)
    }

    static func refuse(_ code: String, _ message: String, _ help: String) -> ExitCode {
        Console.error("clawc: error: \(HostileText.escape(message)) [\(code)]\nhelp: \(help)\n")
        return ExitCode(1)
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        LoggingSystem.bootstrap { JSONLogHandler(label: $0) }
        let logger = Logger(label: "clawc.serve")
        let catalog = try catalogOptions.load()
        let store: RuleStore
        do {
            store = try RuleStore(directory: rules, catalog: catalog)
        } catch {
            Console.error(error.rendered)
            Console.error("clawc: error: the broker serves only rules that load without errors and name their callers [rules-not-servable]\n")
            throw ExitCode(1)
        }
        let settings = store.snapshot.ruleSet.settings
        guard let issuer = issuer ?? settings.values["issuer"]?.value else {
            throw Self.refuse("missing-issuer", "no token issuer configured", "pass --issuer, or set `issuer` in clawc.yaml")
        }
        let region = environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? settings.values["region"]?.value
        let (host, port) = Self.address(listen)!

        var parent: ParentSession?
        var revoker: Revoker?
        var roleARN: String?
        let audience: String
        let stsEndpoint: URL
        let ledger = try ledgerOptions.open()
        switch via {
        case .postgres:
            throw ValidationError("--via must be scoped or web-identity")
        case .scoped:
            audience = self.audience ?? "clawc"
            // The point of the scoped broker: an agent's token is worth nothing at STS.
            guard audience != "sts.amazonaws.com" else {
                throw Self.refuse("audience-accepted-by-sts", "with --via scoped, callers' tokens must not carry STS's audience `sts.amazonaws.com`",
                                  "use an audience of the broker's own, such as `--audience clawc`, so a stolen agent token cannot be exchanged at STS")
            }
            guard let region else {
                throw Self.refuse("missing-region", "no AWS region: GetScopedCredentials is served on regional endpoints only", "set AWS_REGION, or `region` in clawc.yaml")
            }
            let endpointText = environment["AWS_ENDPOINT_URL_STS"] ?? environment["AWS_ENDPOINT_URL"] ?? "https://sts.\(region).amazonaws.com"
            guard let endpoint = URL(string: endpointText), endpoint.host != "sts.amazonaws.com" else {
                throw Self.refuse("global-endpoint", "`\(endpointText)` is not a regional STS endpoint", "use https://sts.\(region).amazonaws.com")
            }
            stsEndpoint = endpoint
            if let credentials = AWSCredentials.fromEnvironment(environment) {
                let expiration = environment["AWS_CREDENTIAL_EXPIRATION"].flatMap(AWSDate.parse)
                parent = ParentSession(source: .fixed(credentials, expiration: expiration))
            } else if let tokenFile = environment["AWS_WEB_IDENTITY_TOKEN_FILE"], let role = environment["AWS_ROLE_ARN"] {
                parent = ParentSession(source: .webIdentity(tokenFile: tokenFile, roleARN: role, sts: STSClient(endpoint: endpoint), durationSeconds: 3600))
            } else {
                throw Self.refuse("missing-credentials", "no role session for the broker to cut scoped credentials from",
                                  "set AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, or AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN")
            }
        case .webIdentity:
            audience = self.audience ?? settings.values["audience"]?.value ?? "sts.amazonaws.com"
            guard let role = roleArn ?? environment["AWS_ROLE_ARN"] ?? settings.values["roleArn"]?.value else {
                throw Self.refuse("missing-role", "no role to assume", "pass --role-arn, set AWS_ROLE_ARN, or set `roleArn` in clawc.yaml")
            }
            roleARN = role
            guard let endpoint = STSClient.endpoint(environment: environment, region: region) else {
                throw Self.refuse("bad-endpoint", "the STS endpoint address is not a URL", "check AWS_ENDPOINT_URL_STS and AWS_ENDPOINT_URL")
            }
            stsEndpoint = endpoint
            revoker = noTrustPolicy ? nil : ledgerOptions.revoker(environment: environment, lock: ledger)
        }

        let configuration = Broker.Configuration(
            via: via, issuer: issuer, audience: audience, leeway: TimeInterval(leeway), stsEndpoint: stsEndpoint, region: region,
            roleARN: roleARN, roleMaxSeconds: roleMaxDuration)
        let broker = Broker(
            configuration: configuration, rules: store, ledger: ledger, catalog: catalog, parent: parent, revoker: revoker,
            subjects: SubjectLimits(rate: subjectRate, burst: subjectRate * 2), upstreamLimit: UpstreamLimit(rate: stsRate),
            metrics: BrokerMetrics(), logger: logger, postgres: try databaseOptions.admin(environment: environment))
        if let explanation = ledgerOptions.explanation { logger.info("ledger", metadata: ["ledger": .string(explanation)]) }
        do {
            try await closing(ledger) { try await BrokerServer(broker: broker, host: host, port: port, logger: logger).run() }
        } catch let failure as ExitCode {
            throw failure
        } catch {
            throw Self.refuse("serve-failed", "the broker stopped: \(error)", "check that \(listen) is free and this process may listen on it")
        }
    }
}
