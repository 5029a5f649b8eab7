import ArgumentParser
import ClawcCompiler
import ClawcRuntime
import ClawcSyntax
import Foundation

struct IssueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issue",
        abstract: "Exchange a workload OIDC token for task-scoped STS credentials.",
        discussion: """
            Compiles the task's policy, validates the token (issuer, audience, expiry, RS256/ES256 signature against \
            the issuer's published keys), chooses a lifetime from the task's estimate within the rule's and the \
            role's bounds, names the session `<subject>@<task ID>`, and calls STS AssumeRoleWithWebIdentity. \
            Defaults follow AWS: AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN, AWS_REGION, AWS_ENDPOINT_URL_STS and \
            AWS_ENDPOINT_URL; `issuer`, `audience`, `roleArn` and `region` may also be set in `rules/clawc.yaml`. \
            Credentials go to stdout only. Exit 0 issued, 1 refused, 3 STS unavailable.

            With `--via scoped` the credential is cut from the caller's own role session by STS \
            GetScopedCredentials instead: no token, lifetimes of seconds to minutes, and sub-agent chains with \
            `--parent-task`. Either way the issuance is recorded in the ledger (`--ledger` or CLAWC_LEDGER) first, \
            and a task gets one credential.
            """
    )

    @Option(name: .long, help: ArgumentHelp("The folder of rule files.", valueName: "DIR")) var rules: String
    @Option(name: .long, help: ArgumentHelp("The task file.", valueName: "FILE")) var task: String
    @Option(name: .long, help: ArgumentHelp("The file holding the workload token (default: $AWS_WEB_IDENTITY_TOKEN_FILE).", valueName: "F"))
    var tokenFile: String?
    @Option(name: .long, help: ArgumentHelp("The role to assume (default: $AWS_ROLE_ARN, then `roleArn` in clawc.yaml).", valueName: "ARN"))
    var roleArn: String?
    @Option(name: .long, help: ArgumentHelp("The token issuer (default: `issuer` in clawc.yaml).", valueName: "URL")) var issuer: String?
    @Option(name: .long, help: ArgumentHelp("The audience the token must carry (default: `audience` in clawc.yaml, then sts.amazonaws.com).", valueName: "AUD"))
    var audience: String?
    @Option(name: .long, help: "How to print the credentials: json, env, or credential-process.") var format: String = "json"
    @Option(name: .long, help: ArgumentHelp("The role's MaxSessionDuration in seconds, if raised from AWS's default of 3600.", valueName: "SECONDS"))
    var roleMaxDuration: Int?
    @Option(name: .long, help: ArgumentHelp("Clock skew allowed on the token's times.", valueName: "SECONDS")) var leeway: Int = 60
    @Flag(name: .long, help: "Show on stderr how the policy, lifetime and session name were chosen (never secrets).") var explain = false
    @Flag(name: .long, help: "Record the issuance in the ledger only; leave the role's trust policy alone.") var noTrustPolicy = false
    @Option(name: .long, help: "How to get the credential: web-identity (AssumeRoleWithWebIdentity with a workload token) or scoped (GetScopedCredentials from the caller's own session).")
    var via: String = "web-identity"
    @Option(name: .long, help: ArgumentHelp("With --via scoped: who asks, recorded in CloudTrail's ScopedSessionDescription.", valueName: "SUBJECT"))
    var subject: String?
    @Option(name: .long, help: ArgumentHelp("With --via scoped: the task whose scoped credentials the caller holds (a sub-agent chain).", valueName: "ID"))
    var parentTask: String?
    @Option(name: .long, help: ArgumentHelp("With --via scoped: when the caller's session ends (default: $AWS_CREDENTIAL_EXPIRATION).", valueName: "TIME"))
    var callerExpiration: String?
    @OptionGroup var ledgerOptions: LedgerOptions
    @OptionGroup var catalogOptions: CatalogOptions

    func validate() throws {
        guard via == "web-identity" || via == "scoped" else { throw ValidationError("--via must be web-identity or scoped, not `\(via)`") }
        if via == "web-identity", parentTask != nil || subject != nil || callerExpiration != nil {
            throw ValidationError("--parent-task, --subject and --caller-expiration go with --via scoped")
        }
        if let callerExpiration, AWSDate.parse(callerExpiration) == nil {
            throw ValidationError("--caller-expiration must be an ISO 8601 time such as 2026-11-29T06:00:00Z")
        }
        guard CredentialFormat(rawValue: format) != nil else {
            throw ValidationError("--format must be one of json, env, credential-process, not `\(format)`")
        }
        guard (0...600).contains(leeway) else { throw ValidationError("--leeway must be between 0 and 600 seconds") }
        if let roleMaxDuration, !(900...43_200).contains(roleMaxDuration) {
            throw ValidationError("--role-max-duration must be between 900 and 43200 seconds")
        }
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let settings = RuleSet.load(directory: rules, displayPath: rules).0?.settings ?? Settings()
        func refuse(_ code: String, _ message: String, _ help: String) throws -> Never {
            Console.error("clawc: error: \(message) [\(code)]\nhelp: \(help)\n")
            throw ExitCode(1)
        }
        if via == "scoped" { return try await runScoped(environment: environment, settings: settings, refuse: refuse) }
        guard let tokenPath = tokenFile ?? environment["AWS_WEB_IDENTITY_TOKEN_FILE"] else {
            try refuse("missing-token", "no workload token", "pass --token-file, or set AWS_WEB_IDENTITY_TOKEN_FILE")
        }
        guard let tokenData = FileManager.default.contents(atPath: tokenPath) else {
            try refuse("missing-token", "cannot read the token file `\(tokenPath)`", "check the path and its permissions")
        }
        guard tokenData.count <= TokenValidator.maxTokenBytes else {
            try refuse("token-too-large", "the token file holds \(tokenData.count) bytes, more than any workload token should", "check that this is the token file")
        }
        guard let role = roleArn ?? environment["AWS_ROLE_ARN"] ?? settings.values["roleArn"]?.value else {
            try refuse("missing-role", "no role to assume", "pass --role-arn, set AWS_ROLE_ARN, or set `roleArn` in clawc.yaml")
        }
        guard let issuerURL = issuer ?? settings.values["issuer"]?.value else {
            try refuse("missing-issuer", "no token issuer configured", "pass --issuer, or set `issuer` in clawc.yaml")
        }
        let region = environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? settings.values["region"]?.value
        guard let endpoint = STSClient.endpoint(environment: environment, region: region) else {
            try refuse("bad-endpoint", "the STS endpoint address is not a URL", "check AWS_ENDPOINT_URL_STS and AWS_ENDPOINT_URL")
        }
        var configuration = IssueConfiguration(
            rulesDirectory: rules, taskPath: task, token: String(decoding: tokenData, as: UTF8.self), roleARN: role,
            issuer: issuerURL, audience: audience ?? settings.values["audience"]?.value ?? "sts.amazonaws.com", stsEndpoint: endpoint)
        configuration.roleMaxSeconds = roleMaxDuration
        configuration.leeway = TimeInterval(leeway)

        let ledger = try ledgerOptions.open()
        let issuer = WebIdentityIssuer(
            catalog: try catalogOptions.load(),
            validator: TokenValidator(issuer: configuration.issuer, audience: configuration.audience, leeway: configuration.leeway),
            sts: STSClient(endpoint: endpoint), ledger: ledger, revoker: noTrustPolicy ? nil : ledgerOptions.revoker(environment: environment))
        let explain = self.explain
        do {
            let issuance = try await issuer.issue(configuration) { line in
                if explain { Console.error("explain: \(line)\n") }
            }
            let output = (CredentialFormat(rawValue: format) ?? .json)
                .render(issuance.credentials, sessionName: issuance.sessionName, taskID: issuance.taskID)
            Console.output(output)
            for warning in issuance.warnings where !(noTrustPolicy && warning.contains("no AWS credentials")) {
                Console.error("clawc: warning: \(warning)\n")
            }
        } catch {
            Console.error(error.rendered)
            throw ExitCode(error.exitCode)
        }
    }

    /// `--via scoped`: GetScopedCredentials, signed with the caller's own temporary credentials.
    func runScoped(environment: [String: String], settings: Settings, refuse: (String, String, String) throws -> Never) async throws {
        guard let caller = AWSCredentials.fromEnvironment(environment) else {
            try refuse("missing-credentials", "no AWS credentials to cut scoped credentials from", "set AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN to the caller's role session")
        }
        guard let region = environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? settings.values["region"]?.value else {
            try refuse("missing-region", "no AWS region: GetScopedCredentials is served on regional endpoints only", "set AWS_REGION, or `region` in clawc.yaml")
        }
        let endpointText = environment["AWS_ENDPOINT_URL_STS"] ?? environment["AWS_ENDPOINT_URL"] ?? "https://sts.\(region).amazonaws.com"
        guard let endpoint = URL(string: endpointText), endpoint.host != "sts.amazonaws.com" else {
            try refuse("global-endpoint", "`\(endpointText)` is STS's global endpoint, which does not serve GetScopedCredentials", "use the regional endpoint, https://sts.\(region).amazonaws.com")
        }
        let expiration = (callerExpiration ?? environment["AWS_CREDENTIAL_EXPIRATION"]).flatMap(AWSDate.parse)
        var request = ScopedIssuer.Request(
            rulesDirectory: rules, taskPath: task, caller: caller, callerExpiration: expiration,
            subject: subject ?? "orchestrator", parentTask: parentTask)
        request.maxChars = Compiler.defaultMaxChars
        let issuer = ScopedIssuer(catalog: try catalogOptions.load(), sts: STSClient(endpoint: endpoint), ledger: try ledgerOptions.open(), region: region)
        let explain = self.explain
        do {
            let issuance = try await issuer.issue(request) { line in
                if explain { Console.error("explain: \(line)\n") }
            }
            Console.output((CredentialFormat(rawValue: format) ?? .json).render(issuance.credentials, sessionName: issuance.sessionName, taskID: issuance.taskID))
            for warning in issuance.warnings { Console.error("clawc: warning: \(warning)\n") }
        } catch {
            Console.error(error.rendered)
            throw ExitCode(error.exitCode)
        }
    }
}
