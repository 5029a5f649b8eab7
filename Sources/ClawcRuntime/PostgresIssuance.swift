import ClawcCatalog
import ClawcCompiler
import ClawcDiagnostics
import ClawcPolicy
import ClawcSyntax
import Foundation

/// A PostgreSQL login issued for one task: what `clawc issue --to postgres` prints. The password appears here and
/// nowhere else: the server got only its SCRAM verifier, the ledger only the role's name.
public struct PostgresCredential: Sendable {
    public var user: String
    public var password: String
    public var host: String
    public var port: Int
    public var database: String
    public var expiration: Date
    public var taskID: String
    /// The plan's hash, as the ledger and the role's comment record it.
    public var planSHA256: String
    /// True when this is the login issued earlier for the same task and token, handed back to a repeat request.
    public var repeated = false

    /// `postgresql://user:password@host:port/database`, each part percent-encoded.
    public var uri: String {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        func encode(_ text: String) -> String { text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text }
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        return "postgresql://\(encode(user)):\(encode(password))@\(host):\(port)/\(encode(database))"
    }

    public enum Format: String, Sendable, CaseIterable {
        case json, env, uri
    }

    public func render(_ format: Format) -> String {
        switch format {
        case .json:
            let fields: [(String, String)] = [
                ("user", PolicyJSON.string(user)), ("password", PolicyJSON.string(password)), ("host", PolicyJSON.string(host)), ("port", String(port)),
                ("database", PolicyJSON.string(database)), ("expiration", PolicyJSON.string(AWSDate.format(expiration))), ("uri", PolicyJSON.string(uri)),
                ("taskId", PolicyJSON.string(taskID)),
            ]
            return "{" + fields.map { "\(PolicyJSON.string($0.0)):\($0.1)" }.joined(separator: ",") + "}\n"
        case .env:
            return [("PGHOST", host), ("PGPORT", String(port)), ("PGDATABASE", database), ("PGUSER", user), ("PGPASSWORD", password)]
                .map { "export \($0.0)=\(CredentialFormat.shellQuote($0.1))\n" }.joined()
        case .uri:
            return uri + "\n"
        }
    }
}

/// `clawc issue --to postgres`: plan → ledger `issuing` row → one transaction on the database → ledger record. The
/// same order as every issuance: nothing is made in the database unless the ledger recorded the task first, and a
/// task gets one role, once.
public struct PostgresIssuer: Sendable {
    public var ruleSet: RuleSet
    public var catalog: Catalog
    public var schema: PostgresSchema?
    public var ledger: any LedgerStore
    public var admin: PostgresAdmin
    /// Who asked, as the ledger records it (the orchestrator holding the administrative connection).
    public var subject: String

    public init(ruleSet: RuleSet, catalog: Catalog, schema: PostgresSchema?, ledger: any LedgerStore, admin: PostgresAdmin, subject: String) {
        self.ruleSet = ruleSet
        self.catalog = catalog
        self.schema = schema
        self.ledger = ledger
        self.admin = admin
        self.subject = subject
    }

    /// A credential's shortest useful life, and the floor under estimates.
    public static let floorSeconds = 60

    /// `token`: the caller's token identity, when there is one (the broker): the ledger keys the issuance on it (one
    /// token, one issuance), and a repeat with the same token, while the role lives, gets the same credential back,
    /// sealed in the ledger under the token's bytes as AWS credentials are.
    public func issue(_ task: Task, token: (tokenID: String, expiresAt: Date?, sealingSecret: [UInt8])? = nil, now: Date = Date(),
                      explain: (String) -> Void = { _ in }) async throws(IssueFailure) -> PostgresCredential {
        // 1. The plan, checked before anything is written or connected to.
        guard let rule = ruleSet.rule(for: task.purpose.value) else {
            throw .diagnostics(Compiler.compile(ruleSet: ruleSet, task: task, catalog: catalog).diagnostics)
        }
        let (reviewed, problems) = PostgresPlanner.plan(rule: rule, task: task, catalog: catalog, schema: schema, database: admin.location.database,
                                                             values: .placeholders)
        var bag = DiagnosticBag()
        bag.add(contentsOf: problems.filter { $0.severity == .error })
        guard let reviewed, !bag.hasErrors else { throw .diagnostics(bag) }
        if let schema, schema.database != admin.location.database {
            throw .refused(code: "postgres-schema-mismatch",
                           message: "the rules folder's \(PostgresSchema.fileName) describes database `\(schema.database)`, and --database names `\(admin.location.database)`",
                           help: "write the snapshot of the database tasks use: `clawc emit postgres-schema --database URL`")
        }
        let lifetime: LifetimeChoice
        switch LifetimePolicy.choose(estimated: task.estimatedDuration?.value, ruleDefault: rule.lifetime.defaultSeconds?.value,
                                     ruleMax: rule.lifetime.maxSeconds?.value, roleMax: SyntaxReader.maxLifetimeSeconds,
                                     floor: max(Self.floorSeconds, rule.lifetime.minSeconds?.value ?? 0)) {
        case .success(let choice): lifetime = choice
        case .failure(let error): throw .refused(code: "lifetime-out-of-range", message: error.description, help: nil)
        }
        let expiration = Date(timeIntervalSince1970: (now.timeIntervalSince1970 + TimeInterval(lifetime.seconds)).rounded(.down))
        let password = SCRAM.newPassword()
        let (plan, _) = PostgresPlanner.plan(rule: rule, task: task, catalog: catalog, schema: schema, database: admin.location.database,
                                             values: .actual(verifier: SCRAM.verifier(password: password), validUntil: expiration))
        guard let plan, plan.sha256 == reviewed.sha256 else {
            throw .refused(code: "unproven-plan", message: "internal error: the plan with values differs from the reviewed plan; nothing was run",
                           help: "this is a bug in clawc, not in the rule or task; please report it with both files")
        }
        explain("plan: login role \(plan.roleName), grant set \(plan.grantSetRole), plan sha256 \(plan.sha256)")
        explain("lifetime: \(lifetime.seconds)s (\(lifetime.explanation))")

        // 2. The ledger, before the database: a task seen before is refused here, across processes and machines.
        var entry = Ledger.Entry(
            taskID: task.taskId.value, purpose: rule.purpose.value, subject: subject, jwtID: token?.tokenID, policySHA256: plan.sha256,
            sessionName: plan.roleName, roleARN: admin.target, via: .postgres, tokenExpiresAt: token?.expiresAt, now: now)
        entry.policy = reviewed.text
        do { try await ledger.begin(entry) } catch {
            if let token, let repeated = try await repeatIssuance(entry, token: token, refusal: error, now: now, explain: explain) { return repeated }
            throw .ledger(error)
        }

        // 3. The role, in one transaction.
        do {
            try await admin.run(plan)
        } catch {
            switch error {
            case .unreachable(let why):
                try? await ledger.transition(task: entry.taskID, to: .failed, event: "failed", detail: ["code": "database-unavailable"], now: Date())
                throw .unavailable(code: "database-unavailable", message: why, help: "check that the database in --database (or CLAWC_POSTGRES_URL) is reachable")
            case let .refused(why, state):
                try? await ledger.transition(task: entry.taskID, to: .failed, event: "failed", detail: ["code": "database-refused", "sqlstate": state ?? "?"], now: Date())
                throw .refused(code: "database-refused", message: why + "; nothing was made (the transaction rolled back)", help: PostgresAdmin.privilegesHelp)
            case .unknown(let why):
                try? await ledger.transition(task: entry.taskID, to: .issuing, event: "outcome-unknown", detail: ["code": "database-commit-unknown"], now: Date())
                throw .unavailable(
                    code: "outcome-unknown",
                    message: "\(why) after COMMIT was sent: role `\(plan.roleName)` may exist; task `\(entry.taskID)` stays `issuing` and is refused again",
                    help: "`clawc revoke --task \(entry.taskID) --database URL` drops the role if it exists; `clawc sweep` does it for stale rows")
            }
        }
        explain("made role \(plan.roleName) in \(admin.target), valid until \(AWSDate.format(expiration))")

        // A revoke or sweep that ran while the transaction was open found no role and closed the row: the role made
        // since must not outlive that decision.
        if let current = try? await ledger.entry(task: entry.taskID), current.state != .issuing {
            _ = try? await admin.end(role: plan.roleName, taskID: entry.taskID)
            throw .refused(code: "revoked-during-issue", message: "task `\(entry.taskID)` was revoked while its role was being made; the role was ended",
                           help: "ask the orchestrator for a new task ID")
        }

        // 4. The record. A failure leaves the row `issuing` for sweep, which drops the role; the credential is returned.
        let sealed = token.flatMap { token in
            CredentialSeal.seal(Self.sealable(role: plan.roleName, password: password, expiration: expiration), secret: token.sealingSecret,
                                taskID: entry.taskID, tokenID: token.tokenID)
        }
        do {
            try await ledger.recordIssued(task: entry.taskID, accessKeyID: plan.roleName, sessionID: nil, expiresAt: expiration, state: .issued,
                                          roleARN: nil, sealed: sealed, now: Date())
        } catch {
            explain("warning: the ledger could not record the role (\(error.description)); `clawc sweep` will drop it as a stale issuance")
        }
        return PostgresCredential(user: plan.roleName, password: password, host: admin.location.host, port: admin.location.port,
                                  database: admin.location.database, expiration: expiration, taskID: entry.taskID, planSHA256: plan.sha256)
    }

    /// The sealed form of a role's login: the seal's credential shape, with the password as its secret.
    static func sealable(role: String, password: String, expiration: Date) -> TemporaryCredentials {
        TemporaryCredentials(accessKeyID: role, secretAccessKey: password, sessionToken: "", expiration: expiration, assumedRoleARN: nil, assumedRoleID: nil)
    }

    /// The login issued earlier for this task, when the refused request repeats it: same task, same token (by ID,
    /// and able to open the sealed copy, which only the token's bytes can), same plan, a role recorded and not
    /// expired. Anything else is nil and the refusal stands. The hand-back is written to the audit chain first.
    func repeatIssuance(_ entry: Ledger.Entry, token: (tokenID: String, expiresAt: Date?, sealingSecret: [UInt8]), refusal: LedgerRefusal,
                        now: Date, explain: (String) -> Void) async throws(IssueFailure) -> PostgresCredential? {
        switch refusal {
        case .taskAlreadyIssued, .tokenAlreadyUsed: break
        default: return nil
        }
        guard let earlier = try? await ledger.entry(task: entry.taskID), earlier.via == .postgres, earlier.jwtID == token.tokenID,
            earlier.policySHA256 == entry.policySHA256, earlier.state == .issued, let expiresAt = earlier.expiresAt, expiresAt > now,
            let sealed = earlier.sealedCredential,
            let opened = CredentialSeal.open(sealed, secret: token.sealingSecret, taskID: entry.taskID, tokenID: token.tokenID),
            opened.accessKeyID == earlier.accessKeyID
        else { return nil }
        do {
            try await ledger.audit("returned", task: entry.taskID, detail: ["role": opened.accessKeyID, "jti": token.tokenID], now: Date())
        } catch { throw .ledger(error) }
        explain("repeat: task `\(entry.taskID)` already has a live role issued for this token; returning it (nothing run)")
        var credential = PostgresCredential(user: opened.accessKeyID, password: opened.secretAccessKey, host: admin.location.host, port: admin.location.port,
                                            database: admin.location.database, expiration: opened.expiration, taskID: entry.taskID, planSHA256: entry.policySHA256)
        credential.repeated = true
        return credential
    }
}

/// `clawc revoke --task` and `clawc sweep` for PostgreSQL tasks: the role ends, live sessions included.
public struct PostgresRevocation: Sendable {
    public var ledger: any LedgerStore
    public var admin: PostgresAdmin

    public init(ledger: any LedgerStore, admin: PostgresAdmin) {
        self.ledger = ledger
        self.admin = admin
    }

    /// Ends one task's role and marks its row `to` (revoked, or retired when swept after expiry). A role that
    /// cannot be dropped stays NOLOGIN with its sessions ended, and is an error the caller reports.
    public func end(_ entry: Ledger.Entry, to state: Ledger.State, event: String, now: Date = Date()) async throws(IssueFailure) -> PostgresAdmin.EndOutcome {
        guard entry.via == .postgres else {
            throw .refused(code: "not-a-postgres-task", message: "task `\(entry.taskID)` holds AWS credentials, not a PostgreSQL role", help: nil)
        }
        guard entry.roleARN == admin.target else {
            throw .refused(code: "other-database", message: "task `\(entry.taskID)`'s role is in \(entry.roleARN), not in \(admin.target)",
                           help: "pass that database's administrative URL with --database")
        }
        let role = entry.accessKeyID ?? entry.sessionName
        let outcome = try await admin.end(role: role, taskID: entry.taskID)
        switch outcome {
        case .dropped(let sessions):
            do { try await ledger.transition(task: entry.taskID, to: state, event: event, detail: ["role": role, "sessionsEnded": String(sessions)], now: now) } catch {
                throw .ledger(error)
            }
        case .absent:
            do { try await ledger.transition(task: entry.taskID, to: state, event: event, detail: ["role": role, "absent": "true"], now: now) } catch {
                throw .ledger(error)
            }
        case .blocked(let why):
            try? await ledger.audit("revoke-blocked", task: entry.taskID, detail: ["role": role, "reason": String(why.prefix(500))], now: now)
        }
        return outcome
    }
}
