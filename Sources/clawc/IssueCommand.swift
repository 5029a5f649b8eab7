import ArgumentParser
import ClawcCompiler
import ClawcDiagnostics
import ClawcRuntime
import ClawcCatalog
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
            `--parent-task`. Either way the issuance is recorded in the ledger first (`--ledger`, CLAWC_LEDGER, or \
            the default under $XDG_STATE_HOME), and a task gets one credential.

            With `--to postgres` the task's rule must grant PostgreSQL access: clawc makes a login role for the task \
            in the database named by --database (or CLAWC_POSTGRES_URL), with the rule's privileges, a password sent \
            only as a SCRAM-SHA-256 verifier, and VALID UNTIL its lifetime; `clawc revoke` and `clawc sweep` end it.
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
    @Option(name: .long, help: "How to print the credentials: json, env, credential-process (AWS), uri (PostgreSQL).") var format: OutputFormat = .json
    @Option(name: .long, help: "What to issue: an AWS session, or a PostgreSQL login role (with --database).") var to: Target = .aws
    @Option(name: .long, help: ArgumentHelp("The role's MaxSessionDuration in seconds, if raised from AWS's default of 3600.", valueName: "SECONDS"))
    var roleMaxDuration: Int?
    @Option(name: .long, help: ArgumentHelp("Clock skew allowed on the token's times.", valueName: "SECONDS")) var leeway: Int = 60
    @Flag(name: .long, help: "Show on stderr how the policy, lifetime and session name were chosen (never secrets).") var explain = false
    @Flag(name: .long, help: "Record the issuance in the ledger only; leave the role's trust policy alone.") var noTrustPolicy = false
    @Option(name: .long, help: "How to get the credential: AssumeRoleWithWebIdentity with a workload token, or GetScopedCredentials from the caller's own session.")
    var via: IssuancePath = .webIdentity
    @Option(name: .long, help: ArgumentHelp("With --via scoped: who asks, recorded in CloudTrail's ScopedSessionDescription.", valueName: "SUBJECT"))
    var subject: String?
    @Option(name: .long, help: ArgumentHelp("With --via scoped: the task whose scoped credentials the caller holds (a sub-agent chain).", valueName: "ID"))
    var parentTask: String?
    @Option(name: .long, help: ArgumentHelp("With --via scoped: when the caller's session ends (default: $AWS_CREDENTIAL_EXPIRATION).", valueName: "TIME"))
    var callerExpiration: String?
    @OptionGroup var ledgerOptions: LedgerOptions
    @OptionGroup var databaseOptions: DatabaseOptions
    @OptionGroup var catalogOptions: CatalogOptions

    enum Target: String, ExpressibleByArgument, CaseIterable {
        case aws, postgres
    }

    enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
        case json, env
        case credentialProcess = "credential-process"
        case uri
    }

    func validate() throws {
        switch to {
        case .aws:
            if format == .uri { throw ValidationError("--format uri goes with --to postgres") }
        case .postgres:
            if format == .credentialProcess { throw ValidationError("--format credential-process is for AWS credentials; use json, env or uri with --to postgres") }
            if via != .webIdentity || parentTask != nil || callerExpiration != nil || tokenFile != nil || roleArn != nil || noTrustPolicy {
                throw ValidationError("--via, --token-file, --role-arn, --parent-task, --caller-expiration and --no-trust-policy are for AWS credentials, not --to postgres")
            }
        }
        if to == .aws, via == .webIdentity, parentTask != nil || subject != nil || callerExpiration != nil {
            throw ValidationError("--parent-task, --subject and --caller-expiration go with --via scoped")
        }
        if let callerExpiration, AWSDate.parse(callerExpiration) == nil {
            throw ValidationError("--caller-expiration must be an ISO 8601 time such as 2026-11-29T06:00:00Z")
        }
        guard (0...600).contains(leeway) else { throw ValidationError("--leeway must be between 0 and 600 seconds") }
        if let roleMaxDuration, !(900...43_200).contains(roleMaxDuration) {
            throw ValidationError("--role-max-duration must be between 900 and 43200 seconds")
        }
    }

    var flags: IssueSettings.Flags {
        var flags = IssueSettings.Flags()
        flags.tokenFile = tokenFile
        flags.roleARN = roleArn
        flags.issuer = issuer
        flags.audience = audience
        flags.roleMaxDuration = roleMaxDuration
        flags.leeway = leeway
        flags.subject = subject
        flags.parentTask = parentTask
        flags.callerExpiration = callerExpiration
        return flags
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let catalog = try catalogOptions.load()
        // The rules and the task are read once; the issuer compiles from memory.
        let (ruleSet, ruleDiagnostics) = RuleSet.load(directory: rules, displayPath: rules)
        var bag = DiagnosticBag()
        bag.add(contentsOf: ruleDiagnostics.filter { $0.severity == .error })
        let (parsedTask, taskDiagnostics) = Compiler.readTask(path: task)
        bag.add(contentsOf: taskDiagnostics)
        guard let ruleSet, let parsedTask, !bag.hasErrors else {
            Console.error(DiagnosticRenderer.render(bag))
            throw ExitCode(1)
        }
        if to == .postgres {
            try await issuePostgres(ruleSet: ruleSet, task: parsedTask, catalog: catalog)
            return
        }
        let explain = self.explain
        do {
            let ledger: any LedgerStore & RoleLocking
            let backend: any CredentialBackend
            switch via {
            case .webIdentity:
                let resolved = try IssueSettings.webIdentity(flags, environment: environment, settings: ruleSet.settings)
                ledger = try ledgerOptions.open()
                backend = WebIdentityBackend(
                    validator: TokenValidator(issuer: resolved.issuer, audience: resolved.audience, leeway: resolved.leeway),
                    sts: STSClient(endpoint: resolved.stsEndpoint), token: resolved.token, roleARN: resolved.roleARN,
                    roleMaxSeconds: resolved.roleMaxSeconds, revoker: noTrustPolicy ? nil : ledgerOptions.revoker(environment: environment, lock: ledger))
            case .postgres:
                throw ValidationError("--via names an AWS path; use --to postgres")
            case .scoped:
                let resolved = try IssueSettings.scoped(flags, environment: environment, settings: ruleSet.settings)
                ledger = try ledgerOptions.open()
                backend = ScopedBackend(
                    sts: STSClient(endpoint: resolved.stsEndpoint), caller: resolved.caller, callerExpiration: resolved.callerExpiration,
                    region: resolved.region, subject: resolved.subject, parentTask: resolved.parentTask, catalog: catalog)
            }
            if explain, let line = ledgerOptions.explanation { Console.error("explain: \(line)\n") }
            let issuer = Issuer(rules: PreparedRules(ruleSet: ruleSet, catalog: catalog), ledger: ledger, backend: backend)
            let issuance = try await closing(ledger) {
                try await issuer.issue(parsedTask) { line in
                    if explain { Console.error("explain: \(line)\n") }
                }
            }
            let awsFormat: CredentialFormat = format == .env ? .env : format == .credentialProcess ? .credentialProcess : .json
            Console.output(awsFormat.render(issuance.credentials, sessionName: issuance.sessionName, taskID: issuance.taskID))
            for warning in issuance.warnings where !(noTrustPolicy && warning.contains("no AWS credentials")) {
                Console.error("clawc: warning: \(HostileText.escape(warning))\n")
            }
        } catch let failure as IssueFailure {
            Console.error(failure.rendered)
            throw ExitCode(failure.exitCode)
        }
    }
}

extension IssueCommand {
    /// `--to postgres`: a login role for the task in the database named by --database, through the ledger.
    func issuePostgres(ruleSet: RuleSet, task: Task, catalog: Catalog) async throws {
        let environment = ProcessInfo.processInfo.environment
        let admin = try databaseOptions.requireAdmin(environment: environment)
        var schema: PostgresSchema?
        switch PostgresSchema.load(rulesDirectory: rules, displayPath: rules) {
        case .success(let loaded): schema = loaded
        case .failure(let diagnostic):
            await admin.close()
            var bag = DiagnosticBag()
            bag.add(diagnostic)
            Console.error(DiagnosticRenderer.render(bag))
            throw ExitCode(1)
        }
        let explain = self.explain
        do {
            let ledger = try ledgerOptions.open()
            if explain, let line = ledgerOptions.explanation { Console.error("explain: \(line)\n") }
            let issuer = PostgresIssuer(ruleSet: ruleSet, catalog: catalog, schema: schema, ledger: ledger, admin: admin,
                                        subject: subject ?? "orchestrator (\(admin.location.user))")
            let credential: PostgresCredential
            do {
                credential = try await closing(ledger) {
                    try await issuer.issue(task) { line in
                        if explain { Console.error("explain: \(HostileText.escape(line))\n") }
                    }
                }
                await admin.close()
            } catch {
                await admin.close()
                throw error
            }
            let chosen: PostgresCredential.Format = format == .env ? .env : format == .uri ? .uri : .json
            Console.output(credential.render(chosen))
        } catch let failure as IssueFailure {
            Console.error(failure.rendered)
            throw ExitCode(failure.exitCode)
        }
    }
}

extension IssuancePath: ExpressibleByArgument {
    /// `--via` names the AWS paths only; a PostgreSQL credential is asked for with `--to postgres`.
    public init?(argument: String) {
        guard argument != IssuancePath.postgres.rawValue else { return nil }
        self.init(rawValue: argument)
    }

    public static var allValueStrings: [String] { [IssuancePath.webIdentity.rawValue, IssuancePath.scoped.rawValue] }
}
