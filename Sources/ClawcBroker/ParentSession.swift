import ClawcRuntime
import Foundation

/// The broker's own role session for `--via scoped`, from which every task's credential is cut.
///
/// From the standard AWS environment: fixed keys (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
/// with `AWS_CREDENTIAL_EXPIRATION`), or a web identity (`AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`) exchanged
/// with AssumeRoleWithWebIdentity and exchanged again, the token file read anew, while the session still has more
/// left than the longest credential a rule may ask for (plus a margin). A failed refresh keeps the session it has
/// and is tried again on the next request and by the timer, at most once every few seconds.
public actor ParentSession {
    public enum Source: Sendable {
        case fixed(AWSCredentials, expiration: Date?)
        case webIdentity(tokenFile: String, roleARN: String, sts: STSClient, durationSeconds: Int)
    }

    let source: Source
    private var current: (credentials: AWSCredentials, expiration: Date?)?
    private var lastAttempt: Date?
    private var lastError: String?
    /// Seconds beyond the longest rule lifetime that a session must still have; below it a refresh is due.
    public static let margin: TimeInterval = 300
    static let retryInterval: TimeInterval = 5

    public init(source: Source) {
        self.source = source
        if case let .fixed(credentials, expiration) = source { current = (credentials, expiration) }
    }

    /// The session to cut from, refreshed first when due. Throws when there is none that is still valid.
    public func session(longestLifetime: Int, now: Date = Date()) async throws(IssueFailure) -> (credentials: AWSCredentials, expiration: Date?) {
        await refreshIfDue(longestLifetime: longestLifetime, now: now)
        guard let current, current.expiration.map({ $0 > now }) ?? true else {
            throw .unavailable(code: "parent-session-unavailable",
                               message: "the broker has no valid role session to cut scoped credentials from" + (lastError.map { " (\($0))" } ?? ""),
                               help: Self.help)
        }
        return current
    }

    /// nil when the session is usable, else why not (for `/readyz`).
    public func problem(now: Date = Date()) -> String? {
        guard let current else { return "no parent session yet" + (lastError.map { ": \($0)" } ?? "") }
        if let expiration = current.expiration, expiration <= now { return "the parent session expired at \(AWSDate.format(expiration))" }
        return nil
    }

    public func refreshIfDue(longestLifetime: Int, now: Date = Date()) async {
        guard case let .webIdentity(tokenFile, roleARN, sts, durationSeconds) = source else { return }
        if let current, let expiration = current.expiration,
            expiration.timeIntervalSince(now) > TimeInterval(longestLifetime) + Self.margin { return }
        if let lastAttempt, now.timeIntervalSince(lastAttempt) < Self.retryInterval, current != nil { return }
        lastAttempt = now
        guard let handle = FileHandle(forReadingAtPath: tokenFile) else {
            lastError = "cannot read the token file named by AWS_WEB_IDENTITY_TOKEN_FILE"
            return
        }
        let data = (try? handle.read(upToCount: TokenValidator.maxTokenBytes + 1)) ?? Data()
        try? handle.close()
        guard data.count <= TokenValidator.maxTokenBytes else {
            lastError = "the token file holds more than \(TokenValidator.maxTokenBytes) bytes"
            return
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        do {
            let made = try await sts.assumeRoleWithWebIdentity(.init(
                roleARN: roleARN, sessionName: "clawc-broker-\(ProcessInfo.processInfo.processIdentifier)", token: token, policy: "",
                durationSeconds: durationSeconds))
            current = (AWSCredentials(accessKeyID: made.accessKeyID, secretAccessKey: made.secretAccessKey, sessionToken: made.sessionToken),
                       made.expiration)
            lastError = nil
        } catch {
            lastError = String(describing: error)
        }
    }

    static let help = "give the broker a role session: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN (with AWS_CREDENTIAL_EXPIRATION), or AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN"
}
