import Foundation

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
            credentials: try Self.credentials(from: values, requestedSeconds: request.durationSeconds), scopedSessionID: values["ScopedSessionId"], arn: values["Arn"],
            scopedPoliciesCount: values["ScopedPoliciesCount"].flatMap { Int($0) })
    }
}
