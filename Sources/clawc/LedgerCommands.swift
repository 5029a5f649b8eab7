import ArgumentParser
import ClawcDiagnostics
import ClawcRuntime
import Foundation

/// The ledger and the IAM access that revocation needs, shared by `issue`, `revoke`, `sweep` and `audit`.
struct LedgerOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "The issuance ledger: an SQLite file, or a postgres:// URL (libpq syntax; password from the URL or PGPASSWORD; sslmode honoured) for a ledger shared by many machines (default: $CLAWC_LEDGER, else ${XDG_STATE_HOME:-$HOME/.local/state}/clawc/ledger.sqlite; a new ledger file is made 0600, the default's folder 0700).",
        valueName: "LOCATION"))
    var ledger: String?

    @Option(name: .long, help: ArgumentHelp(
        "A file holding the key the audit chain is keyed with (HMAC-SHA256), kept outside the ledger (default: $CLAWC_AUDIT_KEY). At least 32 bytes, mode 0600; make one with `openssl rand -hex 32`. A ledger's chain is keyed from its first record or not at all.",
        valueName: "FILE"))
    var auditKey: String?

    @Option(name: .long, help: ArgumentHelp("The most characters a role's trust policy may reach (IAM's default quota is 2048).", valueName: "N"))
    var trustPolicyLimit: Int = 2048

    /// The audit key from --audit-key or CLAWC_AUDIT_KEY, or nil when neither is set; a key that cannot be read is an
    /// error (exit 1) rather than an unkeyed chain.
    func loadAuditKey(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> AuditKey? {
        let path = auditKey ?? environment[AuditKey.environmentVariable].flatMap { $0.isEmpty ? nil : $0 }
        guard let path else { return nil }
        do {
            return try AuditKey.load(path: path)
        } catch {
            Console.error("clawc: error: \(HostileText.escape(error.message)) [audit-key]\nhelp: the audit key is a file of at least 32 secret bytes, mode 0600, named by --audit-key or CLAWC_AUDIT_KEY\n")
            throw ExitCode(1)
        }
    }

    /// Where the ledger is, from --ledger, CLAWC_LEDGER or the default (the ledger-location contract).
    func location(environment: [String: String] = ProcessInfo.processInfo.environment) throws(LedgerLocation.Failure) -> LedgerLocation {
        try LedgerLocation.resolve(flag: ledger, environment: environment)
    }

    /// The `--explain` line naming the ledger and why it is that one (for `issue --explain`, per the ledger-location
    /// contract).
    var explanation: String? { try? location().explanation }

    /// Opens the ledger: an SQLite file, or a PostgreSQL database for a postgres:// URL. With `create` (issue,
    /// revoke, sweep, migrate) a missing default folder (0700) and file (0600) are created, and a PostgreSQL schema is
    /// brought up to date on first use; without it (audit, status) a missing ledger is an error and nothing is
    /// created. A PostgreSQL server is not contacted here: an unreachable one fails the first call, exit 3.
    func open(create: Bool = true) throws -> any LedgerStore & RoleLocking & LedgerAdministration {
        do {
            let resolved = try location()
            if create { try resolved.prepareForWriting() } else { try resolved.requireExisting() }
            let key = try loadAuditKey()
            do {
                if let postgres = resolved.postgres { return try PostgresLedger(location: postgres, create: create, auditKey: key) }
                return try Ledger(path: resolved.path, create: create, auditKey: key)
            } catch {
                Console.refusal(error)
                throw ExitCode(1)
            }
        } catch let failure as LedgerLocation.Failure {
            Console.error("clawc: error: \(HostileText.escape(failure.message)) [\(failure.code)]\nhelp: \(HostileText.escape(failure.help))\n")
            throw ExitCode(1)
        }
    }

    /// Opens the ledger, runs `body` with it, and closes it (its connections) whether `body` returned or threw.
    func withLedger<T>(create: Bool = true, _ body: (any LedgerStore & RoleLocking & LedgerAdministration) async throws -> T) async throws -> T {
        let ledger = try open(create: create)
        return try await closing(ledger) { try await body(ledger) }
    }

    /// A revoker signing with the orchestrator's credentials from the environment, or nil when there are none. Its
    /// edits are serialized by `lock`, the opened ledger's (a file lock beside SQLite, advisory locks in PostgreSQL).
    func revoker(environment: [String: String], lock: any RoleLocking) -> Revoker? {
        guard let credentials = AWSCredentials.fromEnvironment(environment), let endpoint = IAMClient.endpoint(environment: environment) else { return nil }
        return Revoker(iam: IAMClient(endpoint: endpoint, credentials: credentials), lock: lock, trustPolicyLimit: trustPolicyLimit)
    }

    /// Like `revoker`, but an error (exit 1) when there are no credentials: for commands whose job is IAM.
    func requireRevoker(environment: [String: String], lock: any RoleLocking) throws -> Revoker {
        guard let revoker = revoker(environment: environment, lock: lock) else {
            Console.error("clawc: error: no AWS credentials for IAM calls [missing-credentials]\nhelp: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) to the orchestrator's own credentials\n")
            throw ExitCode(1)
        }
        return revoker
    }
}

struct RevokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "Cut a task's live session, or every session of a role issued before a time.",
        discussion: """
            `--task ID` adds the session's `aws:userid` (`<role-id>:<session-name>`) to a Deny in the role's inline \
            policy `ClawcRevokedSessions`. `--role ARN --before TIME` writes the inline policy `AWSRevokeOlderSessions`, \
            denying every session whose `aws:TokenIssueTime` is earlier, as AWS's own "revoke active sessions" does. \
            A scoped task has no session of its own (its credentials keep the caller's identity): `--task` refuses \
            unless `--cut-caller-session` says to deny the caller's whole session, which cuts every scoped credential \
            cut from it. IAM applies any of these within seconds to minutes. Exit 0 done, 1 refused, 3 IAM unavailable.
            """
    )

    @Option(name: .long, help: "The task whose session to cut.") var task: String?
    @Flag(name: .long, help: "For a scoped task: deny the caller's whole session, which cuts every scoped credential cut from it.")
    var cutCallerSession = false
    @Option(name: .long, help: ArgumentHelp("With --before: the role whose older sessions to cut.", valueName: "ARN")) var role: String?
    @Option(name: .long, help: ArgumentHelp("With --role: cut sessions issued before this time (ISO 8601, or `now`).", valueName: "TIME")) var before: String?
    @OptionGroup var ledgerOptions: LedgerOptions
    @OptionGroup var databaseOptions: DatabaseOptions

    func validate() throws {
        if (task == nil) == (role == nil) { throw ValidationError("give either --task ID, or --role ARN with --before TIME") }
        if role != nil && before == nil { throw ValidationError("--role needs --before TIME") }
        if cutCallerSession && task == nil { throw ValidationError("--cut-caller-session goes with --task") }
        if let before, before != "now", AWSDate.parse(before) == nil { throw ValidationError("--before must be an ISO 8601 time such as 2026-11-29T05:00:00Z, or `now`") }
    }

    func run() async throws {
        try await ledgerOptions.withLedger { ledger in try await run(ledger: ledger) }
    }

    func run(ledger: any LedgerStore & RoleLocking & LedgerAdministration) async throws {
        let environment = ProcessInfo.processInfo.environment
        // A PostgreSQL task's role is ended in its database; no IAM call is involved.
        if let task, let entry = try? await ledger.entry(task: task), entry.via == .postgres {
            try await revokePostgres(entry, ledger: ledger)
            return
        }
        let revoker = try ledgerOptions.requireRevoker(environment: environment, lock: ledger)
        do {
            if let task {
                let outcome = try await SessionRevocation(ledger: ledger, revoker: revoker).revoke(task: task, cutCallerSession: cutCallerSession)
                if outcome.tasks == [task] {
                    Console.error("clawc: revoked the session of task `\(task)` (aws:userid \(outcome.userID)); IAM may take a few minutes to apply it\n")
                } else {
                    Console.error("clawc: denied the caller's session (aws:userid \(outcome.userID)) of `\(outcome.roleARN)`; the scoped credentials of \(outcome.tasks.map { "`\($0)`" }.joined(separator: ", ")) stop working with it; IAM may take a few minutes to apply it\n")
                }
            } else if let role, let before {
                let date = before == "now" ? Date() : (AWSDate.parse(before) ?? Date())
                do { try await revoker.cut(roleARN: role, .issuedBefore(date)) } catch {
                    throw error.upstream ? IssueFailure.unavailable(code: error.code, message: error.message, help: nil)
                        : IssueFailure.refused(code: error.code, message: error.message, help: nil)
                }
                do { try await ledger.audit("revoked-before", task: nil, detail: ["roleArn": role, "before": AWSDate.format(date)], now: Date()) } catch {
                    throw IssueFailure.ledger(error)
                }
                Console.error("clawc: denied every session of `\(role)` issued before \(AWSDate.format(date))\n")
            }
        } catch let failure as IssueFailure {
            Console.error(failure.rendered)
            throw ExitCode(failure.exitCode)
        }
    }
}

extension RevokeCommand {
    /// NOLOGIN, live sessions terminated, the role dropped; a role that cannot be dropped stays NOLOGIN (exit 1).
    func revokePostgres(_ entry: Ledger.Entry, ledger: any LedgerStore) async throws {
        let admin = try databaseOptions.requireAdmin()
        do {
            let outcome: PostgresAdmin.EndOutcome
            do {
                outcome = try await PostgresRevocation(ledger: ledger, admin: admin).end(entry, to: .revoked, event: "revoked")
                await admin.close()
            } catch {
                await admin.close()
                throw error
            }
            switch outcome {
            case .dropped(let sessions):
                Console.error("clawc: revoked task `\(entry.taskID)`: role `\(entry.sessionName)` dropped, \(sessions) live session(s) ended\n")
            case .absent:
                Console.error("clawc: task `\(entry.taskID)`: role `\(entry.sessionName)` does not exist (never made, or dropped before); marked revoked\n")
            case .blocked(let why):
                Console.error("clawc: error: \(HostileText.escape(why)) [role-not-dropped]\nhelp: the role can no longer log in; drop or reassign what it owns, then run `clawc revoke --task \(entry.taskID)` again\n")
                throw ExitCode(1)
            }
        } catch let failure as IssueFailure {
            Console.error(failure.rendered)
            throw ExitCode(failure.exitCode)
        }
    }
}

struct SweepCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Retry pending revocations, prune expired trust-policy entries, end expired PostgreSQL roles, report stale issuing rows.",
        discussion: """
            Safe from cron, twice at once and on every node: trust-policy edits are serialized by the role's lock (a \
            file beside an SQLite ledger, an advisory lock in a PostgreSQL one), and each run takes on at most 500 rows, \
            which sweepers on other nodes skip for 5 minutes. \
            An entry is pruned from a role's Deny list only when both its session and the token it was issued for \
            have expired; the ledger keeps refusing the task ID after that. With --database (or CLAWC_POSTGRES_URL),             PostgreSQL task roles past their lifetime (and stale `issuing` ones) are ended: NOLOGIN, live sessions             terminated, role dropped. A session lives at most one sweep interval past its task: run sweep every minute.             Exit 0 done, 1 refused, 3 IAM or the database unavailable.
            """
    )

    @OptionGroup var ledgerOptions: LedgerOptions
    @OptionGroup var databaseOptions: DatabaseOptions
    @Option(name: .long, help: ArgumentHelp("Treat `issuing` rows older than this many seconds as an unknown STS outcome: deny and cut them.", valueName: "SECONDS"))
    var staleAfter: Int = 120

    func run() async throws {
        try await ledgerOptions.withLedger { ledger in try await run(ledger: ledger) }
    }

    func run(ledger: any LedgerStore & RoleLocking & LedgerAdministration) async throws {
        let environment = ProcessInfo.processInfo.environment
        let revoker = ledgerOptions.revoker(environment: environment, lock: ledger)
        let admin = try databaseOptions.admin(environment: environment)
        if revoker == nil && admin == nil {
            Console.error("clawc: warning: no AWS credentials for IAM calls: reporting only [missing-credentials]\nhelp: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) to the orchestrator's own credentials\n")
        }
        let report: Sweeper.Report
        do {
            report = try await Sweeper(ledger: ledger, revoker: revoker, postgres: admin.map { PostgresRevocation(ledger: ledger, admin: $0) })
                .run(staleAfter: TimeInterval(staleAfter))
            await admin?.close()
        } catch {
            await admin?.close()
            Console.error(error.rendered)
            throw ExitCode(error.exitCode)
        }
        for line in report.done { Console.error("clawc: \(line)\n") }
        for failure in report.failures { Console.error("clawc: error: \(HostileText.escape(failure.message)) [\(failure.code)]\n") }
        for entry in report.stale {
            Console.error("clawc: warning: task `\(entry.taskID)` has been `issuing` since \(AWSDate.format(entry.createdAt)): STS may have issued a credential that was never recorded; check CloudTrail for session `\(HostileText.escape(entry.sessionName))`\n")
        }
        if let failure = report.failures.first { throw ExitCode(failure.upstream ? 3 : 1) }
        if revoker == nil && admin == nil { throw ExitCode(1) }
    }
}

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Work with the ledger's audit log.", subcommands: [Verify.self, Head.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Walk the audit log's hash chain and name the first broken record.",
            discussion: """
                Checks that every record links to the one before and matches its hash. With --expect-head SEQ:HASH \
                (a line `clawc audit head` printed earlier, kept where clawc cannot write), record SEQ must also still \
                be in the chain with that hash: a chain rewritten or cut short up to there fails even when every link \
                holds. Reads an existing ledger and never creates one. Exit 0 intact, 1 broken or no ledger.
                """)

        @OptionGroup var ledgerOptions: LedgerOptions
        @Option(name: .long, help: ArgumentHelp("An earlier head, as `clawc audit head` printed it with a colon for the space.", valueName: "SEQ:HASH"))
        var expectHead: String?

        func validate() throws {
            if let expectHead, AuditChain.parseHead(expectHead) == nil {
                throw ValidationError("--expect-head must be SEQ:HASH, a record number and 64 lowercase hex digits, such as 12:\(AuditChain.genesis.prefix(8))…")
            }
        }

        func run() async throws {
            try await ledgerOptions.withLedger(create: false) { ledger in try await run(ledger: ledger) }
        }

        func run(ledger: any LedgerStore & RoleLocking & LedgerAdministration) async throws {
            do {
                switch try await ledger.verifyAudit(expecting: expectHead.flatMap(AuditChain.parseHead)) {
                case .intact(let records):
                    Console.error("clawc: audit log intact: \(records) record(s)\(expectHead.map { ", including the expected head \($0)" } ?? "")\n")
                case let .broken(seq, reason):
                    // A failed anchor means an edit at or before the anchor; a failed link or hash, one from there on.
                    let help = expectHead != nil && reason.contains("expected head")
                        ? "the chain was rewritten or cut short at or before that record since the head was taken; restore the ledger from a backup"
                        : "the ledger was edited outside clawc after that point"
                    // seq 0: the chain holds, but the issuance rows disagree with it.
                    let what = seq == 0 ? "the ledger disagrees with its audit log" : "audit record \(seq) is broken"
                    Console.error("clawc: error: \(what): \(reason) [audit-broken]\nhelp: \(help)\n")
                    throw ExitCode(1)
                }
            } catch let refusal as LedgerRefusal {
                Console.refusal(refusal)
                throw ExitCode(1)
            }
        }
    }

    struct Head: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "head",
            abstract: "Print the audit chain's head: `SEQ HASH`.",
            discussion: """
                Prints the last record's sequence number and hash on stdout, one line; an empty chain prints `0` and \
                the genesis hash (64 zeros). Keep the line where clawc cannot write (another machine, a ticket), and \
                later check the ledger against it with `clawc audit verify --expect-head SEQ:HASH`. Does not verify \
                the chain. Reads an existing ledger and never creates one. Exit 0 printed, 1 no ledger or unreadable.
                """)

        @OptionGroup var ledgerOptions: LedgerOptions

        func run() async throws {
            try await ledgerOptions.withLedger(create: false) { ledger in try await run(ledger: ledger) }
        }

        func run(ledger: any LedgerStore & RoleLocking & LedgerAdministration) async throws {
            do {
                Console.output(AuditChain.format(head: try await ledger.auditHead()) + "\n")
            } catch {
                Console.refusal(error)
                throw ExitCode(1)
            }
        }
    }
}

/// Runs `body`, then closes the ledger's connections whether `body` returned or threw.
func closing<T>(_ ledger: any LedgerStore, _ body: () async throws -> T) async throws -> T {
    do {
        let value = try await body()
        await ledger.close()
        return value
    } catch {
        await ledger.close()
        throw error
    }
}

extension Console {
    /// A ledger refusal as a diagnostic with what to do about it.
    static func refusal(_ refusal: LedgerRefusal) {
        // Escaped: a refusal can carry a peer's words (a PostgreSQL server's error message) or a task ID.
        error("clawc: error: \(HostileText.escape(refusal.description)) [\(refusal.code)]\nhelp: \(HostileText.escape(refusal.help))\n")
    }
}

struct EmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "emit", abstract: "Print documents an operator needs to set clawc up.", subcommands: [TrustPolicyDocument.self, PostgresSchemaDocument.self])

    struct TrustPolicyDocument: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "trust-policy",
            abstract: "Print the starting trust policy for a role clawc issues sessions of.",
            discussion: """
                The Allow trusts the OIDC provider for the audience and requires a `TaskID` session tag; the Deny \
                (`ClawcRevokedTasks`) is the list `clawc issue` adds each issued task ID to.
                """)

        @Option(name: .long, help: ArgumentHelp("The IAM OIDC provider's ARN.", valueName: "ARN")) var providerArn: String
        @Option(name: .long, help: "The audience tokens carry.") var audience: String = "sts.amazonaws.com"
        @Option(name: .long, help: ArgumentHelp("Restrict subjects with a StringLike pattern, such as `system:serviceaccount:agents:*`.", valueName: "PATTERN"))
        var subject: String?

        func validate() throws {
            guard providerArn.hasPrefix("arn:"), providerArn.contains(":oidc-provider/") else {
                throw ValidationError("--provider-arn must be an OIDC provider ARN, such as arn:aws:iam::123456789012:oidc-provider/issuer.example.com")
            }
        }

        func run() throws {
            Console.output(TrustPolicy.starting(providerARN: providerArn, audience: audience, subjectPattern: subject) + "\n")
        }
    }
}

struct LedgerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger", abstract: "Operate the issuance ledger: bring its schema up to date, report its state.",
        subcommands: [Migrate.self, Status.self])

    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "migrate",
            abstract: "Bring the ledger's schema up to the version this clawc writes.",
            discussion: """
                Creates the ledger if it is missing (an SQLite file, or the `clawc` schema in a PostgreSQL database) and \
                applies the migrations it lacks, in one transaction under an advisory lock: nodes migrating at once \
                migrate once. `clawc issue` does the same on first use; run this ahead of a rollout to find out early. \
                Exit 0 done, 1 refused, 3 the ledger unreachable.
                """)

        @OptionGroup var ledgerOptions: LedgerOptions

        func run() async throws {
            try await ledgerOptions.withLedger { ledger in try await run(ledger: ledger) }
        }

        func run(ledger: any LedgerStore & RoleLocking & LedgerAdministration) async throws {
            do {
                let (from, to) = try await ledger.migrate()
                Console.error(from == to
                    ? "clawc: the ledger's schema is at version \(to), the newest this clawc knows; nothing to do\n"
                    : "clawc: migrated the ledger's schema from version \(from) to \(to)\n")
            } catch {
                Console.refusal(error)
                throw ExitCode(IssueFailure.ledger(error).exitCode)
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "status",
            abstract: "Print the ledger's schema version, its rows by state and its audit head.",
            discussion: """
                Reads an existing ledger and never creates or changes one. The head is printed as `clawc audit head` \
                prints it; keep it elsewhere to check the chain against later. Exit 0 printed, 1 no ledger, 3 the \
                ledger unreachable.
                """)

        @OptionGroup var ledgerOptions: LedgerOptions
        @Flag(name: .long, help: "Print one JSON object instead of text.") var json = false

        func run() async throws {
            try await ledgerOptions.withLedger(create: false) { ledger in try await run(ledger: ledger) }
        }

        func run(ledger: any LedgerStore & RoleLocking & LedgerAdministration) async throws {
            let status: LedgerStatus
            do {
                status = try await ledger.status()
            } catch {
                Console.refusal(error)
                throw ExitCode(IssueFailure.ledger(error).exitCode)
            }
            let counts = LedgerState.allCases.map { ($0.rawValue, status.rows[$0] ?? 0) }
            if json {
                var object: [String: Any] = [
                    "kind": status.kind, "location": status.location, "schemaVersion": status.schemaVersion,
                    "latestSchemaVersion": status.latestSchemaVersion, "auditHead": ["seq": status.auditHeadSeq, "hash": status.auditHeadHash],
                    "rows": Dictionary(uniqueKeysWithValues: counts),
                ]
                object["auditKeyId"] = status.auditKeyID ?? NSNull()
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
                Console.output(String(decoding: data, as: UTF8.self) + "\n")
                return
            }
            let schema = status.schemaVersion == status.latestSchemaVersion ? "current"
                : status.schemaVersion < status.latestSchemaVersion ? "behind: run `clawc ledger migrate`" : "newer than this clawc: upgrade clawc"
            Console.output("""
                ledger: \(status.location) (\(status.kind))
                schema: version \(status.schemaVersion) (\(schema))
                rows: \(counts.map { "\($0.0) \($0.1)" }.joined(separator: ", "))
                audit head: \(status.auditHeadSeq) \(status.auditHeadHash)
                audit key: \(status.auditKeyID.map { "key ID \($0)" } ?? "none (the chain is not keyed)")

                """)
        }
    }
}
