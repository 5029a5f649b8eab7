import Foundation

/// `clawc revoke --task`: cutting the live session of one task, for either path.
///
/// A web-identity task has a session of its own: it is denied by its `aws:userid` (`<role-id>:<session-name>`).
/// A scoped task's credentials keep the caller's session identity, and AWS offers no way to revoke one scoped
/// session: cutting it means denying the caller's session, which also cuts the caller and every scoped
/// credential cut from that session. That is done only when asked for (`cutCallerSession`).
public struct SessionRevocation: Sendable {
    public var ledger: any LedgerStore
    public var revoker: Revoker

    public init(ledger: any LedgerStore, revoker: Revoker) {
        self.ledger = ledger
        self.revoker = revoker
    }

    /// What was done, for the operator.
    public struct Outcome: Sendable {
        public var userID: String
        public var roleARN: String
        /// Tasks whose rows were marked revoked (more than one when a caller's session was cut).
        public var tasks: [String]
    }

    public func revoke(task: String, cutCallerSession: Bool, now: Date = Date()) async throws(IssueFailure) -> Outcome {
        let entry: Ledger.Entry?
        do { entry = try await ledger.entry(task: task) } catch { throw .ledger(error) }
        guard let entry, entry.accessKeyID != nil || entry.state == .issuing else {
            throw .refused(code: "unknown-task", message: "the ledger has no issued credential for task `\(task)`",
                           help: "check the task ID with the orchestrator; `clawc revoke --role ARN --before TIME` cuts every older session of a role")
        }
        switch entry.via {
        case .postgres:
            throw .refused(code: "postgres-task", message: "task `\(task)` holds a PostgreSQL role, not an AWS session",
                           help: "revoke it with `clawc revoke --task \(task) --database URL` (or CLAWC_POSTGRES_URL)")
        case .webIdentity:
            var userID = entry.sessionID.flatMap { $0.contains(":") ? $0 : nil }
            if userID == nil {
                let role = try await self.role(named: entry.roleARN)
                userID = "\(role.roleID):\(entry.sessionName)"
            }
            let id = userID ?? ""
            try await cut(roleARN: entry.roleARN, userID: id)
            try await mark([task], userID: id, now: now)
            return Outcome(userID: id, roleARN: entry.roleARN, tasks: [task])
        case .scoped:
            guard let caller = Self.callerSession(entry.roleARN) else {
                throw .refused(code: "unknown-session", message: "the ledger does not know which session task `\(task)`'s scoped credentials were cut from",
                               help: "cut the caller's role session with `clawc revoke --role ARN --before TIME`; the scoped credential lives at most until \(entry.expiresAt.map(AWSDate.format) ?? "its expiry")")
            }
            guard cutCallerSession else {
                throw .refused(
                    code: "scoped-revocation",
                    message: "task `\(task)` holds scoped credentials cut from session `\(caller.session)` of role `\(caller.role)`; AWS cannot revoke one scoped session, so cutting it cuts that whole session and every scoped credential cut from it",
                    help: "re-run with --cut-caller-session to deny session `\(caller.session)`, or let the credential expire at \(entry.expiresAt.map(AWSDate.format) ?? "its expiry")")
            }
            let role = try await self.role(named: caller.roleARN)
            let userID = "\(role.roleID):\(caller.session)"
            try await cut(roleARN: caller.roleARN, userID: userID)
            // Every scoped task cut from the same session loses its credential with it.
            let siblings: [String]
            do {
                siblings = try await ledger.entries(in: [.issued, .issuing]).filter { $0.via == .scoped && $0.roleARN == entry.roleARN }.map(\.taskID)
            } catch { throw .ledger(error) }
            let tasks = Array(Set(siblings + [task])).sorted()
            try await mark(tasks, userID: userID, now: now)
            return Outcome(userID: userID, roleARN: caller.roleARN, tasks: tasks)
        }
    }

    /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION` → the role's ARN, its name and the session name.
    static func callerSession(_ arn: String) -> (roleARN: String, role: String, session: String)? {
        let parts = arn.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 6, parts[0] == "arn", parts[2] == "sts" else { return nil }
        let path = parts[5].split(separator: "/").map(String.init)
        guard path.count == 3, path[0] == "assumed-role" else { return nil }
        return ("arn:\(parts[1]):iam::\(parts[4]):role/\(path[1])", path[1], path[2])
    }

    func role(named roleARN: String) async throws(IssueFailure) -> IAMClient.Role {
        guard let name = IAMClient.roleName(fromARN: roleARN) else {
            throw .refused(code: "bad-role", message: "`\(roleARN)` is not a role ARN", help: nil)
        }
        do { return try await revoker.iam.getRole(name) } catch {
            throw error.isUpstreamFailure
                ? .unavailable(code: "iam-error", message: "IAM \(error.code): \(error.message)", help: "retry when IAM is reachable")
                : .refused(code: "iam-error", message: "IAM \(error.code): \(error.message)", help: nil)
        }
    }

    func cut(roleARN: String, userID: String) async throws(IssueFailure) {
        do { try await revoker.cut(roleARN: roleARN, .sessions(userIDs: [userID])) } catch {
            throw error.upstream ? .unavailable(code: error.code, message: error.message, help: "retry when IAM is reachable")
                : .refused(code: error.code, message: error.message, help: nil)
        }
    }

    func mark(_ tasks: [String], userID: String, now: Date) async throws(IssueFailure) {
        for task in tasks {
            do { try await ledger.transition(task: task, to: .revoked, event: "revoked", detail: ["userId": userID], now: now) } catch {
                throw .ledger(error)
            }
        }
    }
}

/// `clawc sweep`: retry pending trust-policy edits, prune entries whose session and token have both expired,
/// and deal with `issuing` rows older than a bound (an STS outcome never seen, or a crash mid-issue): a
/// credential may exist, so a web-identity task's ID is denied in the trust policy and its known session cut by
/// `aws:userid`, and the row becomes `revoked`. Safe to run twice at once (edits are serialized by a lock).
/// Without IAM credentials it still reports what it would do.
public struct Sweeper: Sendable {
    public var ledger: any LedgerStore
    public var revoker: Revoker?
    /// Ends PostgreSQL task roles whose lifetime is over (or whose issuance outcome was never seen); nil when no
    /// administrative database connection was given.
    public var postgres: PostgresRevocation?

    public init(ledger: any LedgerStore, revoker: Revoker?, postgres: PostgresRevocation? = nil) {
        self.ledger = ledger
        self.revoker = revoker
        self.postgres = postgres
    }

    public struct Report: Sendable {
        /// One line per role or task: what was done.
        public var done: [String] = []
        /// What failed, with why.
        public var failures: [RevocationFailure] = []
        /// `issuing` rows older than the bound that were not (or could not be) dealt with.
        public var stale: [Ledger.Entry] = []
        /// How many rows this run took on (at most `batchLimit`; more are left for the next run).
        public var claimed = 0
    }

    /// The most rows one run works on: a backlog is worked off over several runs, never replayed in one.
    public static let batchLimit = 500
    /// How long rows claimed by one run are skipped by sweepers on other nodes (a shared ledger).
    public static let claimLease: TimeInterval = 300

    public func run(staleAfter: TimeInterval, now: Date = Date(), limit: Int = Sweeper.batchLimit) async throws(IssueFailure) -> Report {
        var report = Report()
        let rows: [Ledger.Entry]
        do {
            rows = try await ledger.claimForSweep(now: now, staleBefore: now.addingTimeInterval(-staleAfter), limit: limit, lease: Self.claimLease)
        } catch { throw .ledger(error) }
        report.claimed = rows.count
        // PostgreSQL roles: expired ones end (live sessions too); a stale `issuing` one may exist, so it is ended as well.
        let postgresRows = rows.filter { $0.via == .postgres }
        if !postgresRows.isEmpty {
            if let postgres {
                for entry in postgresRows where entry.roleARN != postgres.admin.target {
                    report.failures.append(RevocationFailure(
                        code: "other-database", message: "task `\(entry.taskID)`: its role is in \(entry.roleARN), not in \(postgres.admin.target); run sweep with that database's URL",
                        upstream: false))
                }
                for entry in postgresRows where entry.roleARN == postgres.admin.target {
                    let expired = entry.state == .issued
                    do {
                        let outcome = try await postgres.end(entry, to: expired ? .retired : .revoked, event: expired ? "retired" : "revoked", now: now)
                        switch outcome {
                        case .dropped(let sessions):
                            report.done.append("task `\(entry.taskID)`: \(expired ? "expired" : "issuing since \(AWSDate.format(entry.createdAt)) (outcome unknown)"); role `\(entry.sessionName)` dropped, \(sessions) live session(s) ended")
                        case .absent:
                            report.done.append("task `\(entry.taskID)`: role `\(entry.sessionName)` does not exist; the row is closed")
                        case .blocked(let why):
                            report.failures.append(RevocationFailure(code: "role-not-dropped", message: "task `\(entry.taskID)`: \(why)", upstream: false))
                        }
                    } catch {
                        report.failures.append(RevocationFailure(code: error.code, message: "task `\(entry.taskID)`: \(error.rendered.prefix(400))", upstream: error.exitCode == 3))
                    }
                }
            } else {
                report.failures.append(RevocationFailure(
                    code: "missing-database",
                    message: "\(postgresRows.count) PostgreSQL role(s) are due to end, and no administrative database was given (--database or CLAWC_POSTGRES_URL)",
                    upstream: false))
            }
        }
        let awsRows = rows.filter { $0.via != .postgres }
        let stale = awsRows.filter { $0.state == .issuing && now.timeIntervalSince($0.createdAt) > staleAfter }
        guard let revoker else {
            report.stale = stale
            if awsRows.contains(where: { $0.state == .pending }) {
                report.failures.append(RevocationFailure(
                    code: "missing-credentials", message: "pending revocations were not retried: no AWS credentials for IAM calls", upstream: false))
            }
            return report
        }
        // Only web-identity rows have a trust-policy entry to add or prune.
        let trusted = awsRows.filter { $0.via == .webIdentity && !$0.roleARN.isEmpty }
        let unknown = Set(stale.filter { $0.via == .webIdentity && !$0.roleARN.isEmpty }.map(\.taskID))
        for (role, entries) in Dictionary(grouping: trusted, by: \.roleARN).sorted(by: { $0.key < $1.key }) {
            let pending = Set(entries.filter { $0.state == .pending || unknown.contains($0.taskID) }.map(\.taskID))
            let expired = Set(entries.filter { entry in
                entry.state == .sealed && (entry.expiresAt ?? .distantFuture) < now && (entry.tokenExpiresAt ?? .distantFuture) < now
            }.map(\.taskID))
            if pending.isEmpty && expired.isEmpty { continue }
            do {
                try await revoker.updateTrustPolicy(roleARN: role, add: pending, remove: expired)
            } catch {
                report.failures.append(RevocationFailure(code: error.code, message: "\(role): \(error.message)", upstream: error.upstream))
                report.stale += entries.filter { unknown.contains($0.taskID) }
                continue
            }
            let completed = pending.subtracting(unknown)
            do {
                for task in completed.sorted() { try await ledger.transition(task: task, to: .sealed, event: "sealed", detail: ["by": "sweep"], now: now) }
                for task in expired.sorted() { try await ledger.transition(task: task, to: .retired, event: "retired", detail: ["by": "sweep"], now: now) }
            } catch { throw .ledger(error) }
            report.done.append("\(role): \(completed.count) pending revocation(s) completed, \(expired.count) expired entr\(expired.count == 1 ? "y" : "ies") pruned")
            // An unknown outcome: the task is denied now; cut the session it may have, by its known name.
            for entry in entries where unknown.contains(entry.taskID) {
                do {
                    let outcome = try await SessionRevocation(ledger: ledger, revoker: revoker).revoke(task: entry.taskID, cutCallerSession: false, now: now)
                    report.done.append("task `\(entry.taskID)` was `issuing` since \(AWSDate.format(entry.createdAt)) (outcome unknown): denied in the trust policy and its session (aws:userid \(outcome.userID)) cut")
                } catch {
                    report.failures.append(RevocationFailure(
                        code: error.code, message: "task `\(entry.taskID)`: denied in the trust policy, but its session could not be cut: \(error.rendered.prefix(300))",
                        upstream: error.exitCode == 3))
                    report.stale.append(entry)
                }
            }
        }
        report.stale += stale.filter { !unknown.contains($0.taskID) }
        return report
    }
}
