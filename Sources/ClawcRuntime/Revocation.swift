import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file lock (`flock`) held for the duration of a body: serializes read-modify-write of IAM documents among
/// the processes on this machine that share a ledger (and among tasks in one process: each call opens its own
/// descriptor, and `flock` locks conflict between descriptors). Several machines need a shared lock (a database)
/// instead.
///
/// Taking the lock never blocks a thread: `LOCK_NB` is tried again after jittered `Task.sleep` pauses, for at most
/// `timeout` (30 s by default, several IAM round trips), then the call fails with `lock-error`.
public enum FileLock {
    public static let defaultTimeout: Duration = .seconds(30)

    public static func withLock<T>(_ path: String, timeout: Duration = defaultTimeout, _ body: () async throws -> T) async throws -> T {
        let fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw RevocationFailure(code: "lock-error", message: "cannot open the lock file `\(path)`: \(String(cString: strerror(errno)))", upstream: false)
        }
        defer { close(fd) }
        try await acquire(fd, path: path, timeout: timeout)
        defer { flock(fd, LOCK_UN) }
        return try await body()
    }

    private static func acquire(_ fd: Int32, path: String, timeout: Duration) async throws(RevocationFailure) {
        var budget = RetryBudget(limit: timeout, maxPause: .milliseconds(200))
        while true {
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { return }
            let error = errno
            guard error == EWOULDBLOCK || error == EINTR else {
                throw RevocationFailure(code: "lock-error", message: "cannot lock `\(path)`: \(String(cString: strerror(error)))", upstream: false)
            }
            guard let pause = budget.nextPause() else {
                throw RevocationFailure(
                    code: "lock-error",
                    message: "another process has held the lock `\(path)` for \(budget.limitText) without finishing its IAM edit; nothing was changed; "
                        + "find the holder with `fuser \(path)`",
                    upstream: false)
            }
            do {
                try await Task.sleep(for: pause)
            } catch {
                throw RevocationFailure(code: "lock-error", message: "cancelled while waiting for the lock `\(path)`", upstream: false)
            }
        }
    }
}

public struct RevocationFailure: Error, Sendable, CustomStringConvertible {
    public var code: String
    public var message: String
    /// True when IAM was unavailable (exit 3), false when clawc or IAM refused (exit 1).
    public var upstream: Bool
    public var description: String { message }
}

/// Adds task IDs to (and prunes them from) the Deny statement of a role's trust policy, and cuts live sessions
/// with inline role policies. Every read-modify-write runs under the role's lock (`RoleLocking`), so concurrent
/// issuers lose no entry.
public struct Revoker: Sendable {
    public var iam: IAMClient
    /// Serializes edits of one role's documents among every process sharing the ledger.
    public var lock: any RoleLocking
    /// The most characters the trust policy may have after an edit.
    public var trustPolicyLimit: Int

    public init(iam: IAMClient, lock: any RoleLocking, trustPolicyLimit: Int = TrustPolicy.defaultLimit) {
        self.iam = iam
        self.lock = lock
        self.trustPolicyLimit = trustPolicyLimit
    }

    /// A revoker whose edits are serialized by the lock file at `lockPath` (processes of one machine).
    public init(iam: IAMClient, lockPath: String, trustPolicyLimit: Int = TrustPolicy.defaultLimit) {
        self.init(iam: iam, lock: FileRoleLock(path: lockPath), trustPolicyLimit: trustPolicyLimit)
    }

    /// Makes the trust policy of `roleARN` deny `add` and no longer list `remove`. Returns the listed IDs after.
    @discardableResult
    public func updateTrustPolicy(roleARN: String, add: Set<String>, remove: Set<String> = []) async throws(RevocationFailure) -> Set<String> {
        guard let name = IAMClient.roleName(fromARN: roleARN) else {
            throw RevocationFailure(code: "bad-role", message: "`\(roleARN)` is not a role ARN", upstream: false)
        }
        do {
            return try await lock.withRoleLock(roleARN) { stillHeld in
                let role = try await iam.getRole(name)
                let before = try TrustPolicy.revokedTaskIDs(in: role.trustPolicy)
                if add.isSubset(of: before) && remove.isDisjoint(with: before) { return before }
                let updated = try TrustPolicy.updating(role.trustPolicy, add: add, remove: remove)
                guard updated.count <= trustPolicyLimit else {
                    throw RevocationFailure(
                        code: "trust-policy-full",
                        message: "the trust policy of `\(name)` would be \(updated.count) characters, over its limit of \(trustPolicyLimit)",
                        upstream: false)
                }
                try await stillHeld()
                try await iam.updateAssumeRolePolicy(name, document: updated)
                return try TrustPolicy.revokedTaskIDs(in: updated)
            }
        } catch {
            throw Self.failure(from: error)
        }
    }

    /// Denies live sessions through an inline role policy: by `aws:userid` (one session), or by
    /// `aws:TokenIssueTime` (every session issued before a time), as AWS's own "revoke active sessions" does.
    public enum SessionCut: Sendable {
        case sessions(userIDs: Set<String>)
        case issuedBefore(Date)
    }

    public static let sessionPolicyName = "ClawcRevokedSessions"
    public static let olderSessionsPolicyName = "AWSRevokeOlderSessions"

    public func cut(roleARN: String, _ cut: SessionCut) async throws(RevocationFailure) {
        guard let name = IAMClient.roleName(fromARN: roleARN) else {
            throw RevocationFailure(code: "bad-role", message: "`\(roleARN)` is not a role ARN", upstream: false)
        }
        do {
            try await lock.withRoleLock(roleARN) { stillHeld in
                switch cut {
                case .sessions(let ids):
                    let existing = try await iam.getRolePolicy(name, policyName: Self.sessionPolicyName)
                    let all = Self.userIDs(in: existing).union(ids)
                    try await stillHeld()
                    try await iam.putRolePolicy(name, policyName: Self.sessionPolicyName, document: Self.denyDocument(
                        sid: "ClawcRevokedSessions", condition: ["StringEquals": ["aws:userid": all.sorted()]]))
                case .issuedBefore(let date):
                    try await stillHeld()
                    try await iam.putRolePolicy(name, policyName: Self.olderSessionsPolicyName, document: Self.denyDocument(
                        sid: "RevokeOlderSessions", condition: ["DateLessThan": ["aws:TokenIssueTime": AWSDate.format(date)]]))
                }
            }
        } catch {
            throw Self.failure(from: error)
        }
    }

    /// Any error of an IAM edit, as a revocation failure.
    static func failure(from error: any Error) -> RevocationFailure {
        switch error {
        case let failure as RevocationFailure: failure
        case let error as STSError: RevocationFailure(code: "iam-error", message: "IAM \(error.code): \(error.message)", upstream: error.isUpstreamFailure)
        default: RevocationFailure(code: "iam-error", message: "\(error)", upstream: false)
        }
    }

    static func denyDocument(sid: String, condition: [String: Any]) -> String {
        TrustPolicy.serialize([
            "Version": "2012-10-17",
            "Statement": [["Sid": sid, "Effect": "Deny", "Action": "*", "Resource": "*", "Condition": condition]],
        ])
    }

    static func userIDs(in document: String?) -> Set<String> {
        guard let document, let (_, statements) = try? TrustPolicy.parse(document) else { return [] }
        var out = Set<String>()
        for statement in statements {
            let value = ((statement["Condition"] as? [String: Any])?["StringEquals"] as? [String: Any])?["aws:userid"]
            out.formUnion((value as? [String]) ?? (value as? String).map { [$0] } ?? [])
        }
        return out
    }
}
