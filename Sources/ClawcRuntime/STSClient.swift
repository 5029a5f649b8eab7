import ClawcDiagnostics
import Foundation

/// Temporary credentials as STS returns them.
public struct TemporaryCredentials: Sendable, Equatable {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String
    public var expiration: Date
    /// The assumed-role ARN, `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
    public var assumedRoleARN: String?
    /// `ROLEID:SESSION`, what `aws:userid` matches.
    public var assumedRoleID: String?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String, expiration: Date, assumedRoleARN: String?, assumedRoleID: String?) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.expiration = expiration
        self.assumedRoleARN = assumedRoleARN
        self.assumedRoleID = assumedRoleID
    }
}

/// An STS failure: an AWS error code and message, or no answer at all.
public struct STSError: Error, Sendable, CustomStringConvertible {
    public var code: String
    public var message: String
    public var httpStatus: Int
    /// True when the failure is on AWS's side or the network's (exit 3); false when AWS refused the request (exit 1).
    public var isUpstreamFailure: Bool

    public var description: String { "STS \(code): \(message)" }

    /// Codes worth another try; nothing else is retried.
    /// Whether the call may be sent again: only an answer that says STS did nothing (a 4xx naming throttling or an
    /// IdP it could not reach). A 5xx is not retried: STS may have issued a credential before failing, and a second
    /// call would issue another for the same task.
    public var isRetryable: Bool {
        (400..<500).contains(httpStatus) && ["Throttling", "ThrottlingException", "RequestLimitExceeded", "IDPCommunicationError"].contains(code)
    }

    /// A short explanation for the codes an issuer runs into.
    public var hint: String? {
        switch code {
        case "ExpiredToken", "ExpiredTokenException": "the workload token expired before STS saw it; get a fresh one"
        case "IDPCommunicationError": "STS could not reach the issuer to fetch its keys; it may be down or unreachable from AWS"
        case "IDPRejectedClaim": "the role's trust policy refused the token's claims (aud, sub or session tags)"
        case "InvalidIdentityToken": "STS could not validate the token (issuer not registered as an OIDC provider, or a bad signature)"
        case "MalformedPolicyDocument": "STS refused the session policy; compile it with `clawc compile` to see it"
        case "PackedPolicyTooLarge": "the policy and session tags packed too large; narrow the task or drop session tags"
        case "AccessDenied": "the role's trust policy does not allow this token"
        case "ValidationError": "a parameter is out of range (duration, session name or role ARN)"
        case "InsufficientSessionLifetime": "the scoped credential would outlive the caller's session; refresh the caller's session or shorten the task"
        case "InvalidSubjectCredentials": "GetScopedCredentials needs the caller's temporary role-session credentials"
        default: nil
        }
    }
}

/// The STS query API over HTTP: `AssumeRoleWithWebIdentity` (unsigned) and the XML it answers with.
public struct STSClient: Sendable {
    public var endpoint: URL
    public var http: HTTPTransport
    /// Attempts for retryable failures, first included.
    public var maxAttempts: Int
    public var baseDelay: TimeInterval

    public init(endpoint: URL, http: HTTPTransport = HTTPTransport(), maxAttempts: Int = 4, baseDelay: TimeInterval = 0.2) {
        self.endpoint = endpoint
        self.http = http
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
    }

    /// The STS endpoint by AWS's conventions: `AWS_ENDPOINT_URL_STS`, then `AWS_ENDPOINT_URL`, then the regional one.
    public static func endpoint(environment: [String: String], region: String?) -> URL? {
        if let url = environment["AWS_ENDPOINT_URL_STS"] ?? environment["AWS_ENDPOINT_URL"], !url.isEmpty { return URL(string: url) }
        return URL(string: "https://sts.\(region ?? "us-east-1").amazonaws.com")
    }

    public struct WebIdentityRequest: Sendable {
        public var roleARN: String
        public var sessionName: String
        public var token: String
        public var policy: String
        public var durationSeconds: Int

        public init(roleARN: String, sessionName: String, token: String, policy: String, durationSeconds: Int) {
            self.roleARN = roleARN
            self.sessionName = sessionName
            self.token = token
            self.policy = policy
            self.durationSeconds = durationSeconds
        }
    }

    public func assumeRoleWithWebIdentity(_ request: WebIdentityRequest) async throws(STSError) -> TemporaryCredentials {
        let fields = [
            ("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"),
            ("RoleArn", request.roleARN), ("RoleSessionName", request.sessionName),
            ("WebIdentityToken", request.token), ("Policy", request.policy),
            ("DurationSeconds", String(request.durationSeconds)),
        ].filter { !($0.0 == "Policy" && $0.1.isEmpty) }  // no session policy: the role's own (a broker's parent session)
        let body = try await call(fields, result: "AssumeRoleWithWebIdentityResult")
        return try Self.credentials(from: body, requestedSeconds: request.durationSeconds)
    }

    /// Sends one query call, retrying throttling and server errors with full-jitter exponential backoff.
    func call(_ fields: [(String, String)], result: String, signing: QueryProtocol.Signing? = nil) async throws(STSError) -> [String: String] {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await QueryProtocol.send(endpoint: endpoint, http: http, fields: fields, signing: signing)
            } catch {
                guard error.isRetryable, attempt < maxAttempts else { throw error }
                let cap = baseDelay * pow(2, Double(attempt - 1))
                let delay = Double.random(in: 0...min(cap, 3))
                try? await Task.sleep(nanoseconds: UInt64(delay * 1_000_000_000))
            }
        }
    }

    /// Clock skew allowed between clawc and STS when checking an answer's `Expiration`.
    static let expirationSkew: TimeInterval = 300

    static func credentials(from values: [String: String], requestedSeconds: Int, now: Date = Date()) throws(STSError) -> TemporaryCredentials {
        guard let key = values["AccessKeyId"], let secret = values["SecretAccessKey"], let token = values["SessionToken"],
            let expiration = values["Expiration"].flatMap(AWSDate.parse)
        else {
            throw STSError(code: "MalformedResponse", message: "the answer lacks credentials or a readable expiration", httpStatus: 200, isUpstreamFailure: true)
        }
        // An expiry outside what was asked for (one in 2001, or in 2999) is not an answer clawc can trust or prune.
        let latest = now.addingTimeInterval(TimeInterval(requestedSeconds) + Self.expirationSkew)
        guard expiration > now.addingTimeInterval(-Self.expirationSkew), expiration <= latest else {
            throw STSError(code: "MalformedResponse", message: "the answer's expiration \(AWSDate.format(expiration)) is outside the \(requestedSeconds) s asked for",
                           httpStatus: 200, isUpstreamFailure: true)
        }
        return TemporaryCredentials(
            accessKeyID: key, secretAccessKey: secret, sessionToken: token, expiration: expiration,
            assumedRoleARN: values["Arn"], assumedRoleID: values["AssumedRoleId"])
    }
}

/// AWS's query protocol: a form-encoded POST, optionally SigV4-signed, answered with XML.
public enum QueryProtocol {
    /// Who signs a request, for which region and service.
    public struct Signing: Sendable {
        public var credentials: AWSCredentials
        public var region: String
        public var service: String

        public init(credentials: AWSCredentials, region: String, service: String) {
            self.credentials = credentials
            self.region = region
            self.service = service
        }
    }

    /// One request; the answer's elements by name, or the AWS error it carried.
    public static func send(endpoint: URL, http: HTTPTransport, fields: [(String, String)], signing: Signing?) async throws(STSError) -> [String: String] {
        let body = Data(FormEncoding.encode(fields).utf8)
        let contentType = "application/x-www-form-urlencoded; charset=utf-8"
        var headers = [("Content-Type", contentType)]
        if let signing {
            let signed = SigV4.sign(
                SigV4.Request(method: "POST", url: endpoint, headers: ["Content-Type": contentType], body: body),
                credentials: signing.credentials, region: signing.region, service: signing.service, date: Date())
            for (name, value) in signed.sorted(by: { $0.key < $1.key }) { headers.append((name, value)) }
            // The Host that was signed is the Host sent (the transport would otherwise spell its own).
            headers.append(("Host", SigV4.hostHeader(endpoint)))
        }
        let response: HTTPTransport.Response
        do { response = try await http.send(.init(method: "POST", url: endpoint, headers: headers, body: body)) } catch {
            // No usable answer: a failure upstream (exit 3), and not retried (a second deadline would only double
            // the wait).
            let code = switch error {
            case .unreachable: "Unreachable"
            case .tooLarge: "ResponseTooLarge"
            case .deadline: "Timeout"
            }
            throw STSError(code: code, message: error.description, httpStatus: 0, isUpstreamFailure: true)
        }
        let parsed = XMLFields.parseChecked(response.body)
        let values = parsed.values
        guard response.status == 200 else {
            // The code and message are the peer's text and end up on stderr: one line, no control characters.
            let code = values["Code"].map { HostileText.escape(HostileText.clipped($0, to: 100)) }
            let message = values["Message"].map { HostileText.escape(HostileText.clipped($0, to: 1000)) }
            throw STSError(code: code ?? "HTTP\(response.status)", message: message ?? "AWS answered HTTP \(response.status)",
                           httpStatus: response.status, isUpstreamFailure: response.status >= 500 || response.status == 0)
        }
        // A 200 that is not one clear answer is an unknown outcome, never read one plausible way: two
        // `<Credentials>` once gave one's key ID with the other's secret.
        guard parsed.wellFormed else {
            throw STSError(code: "MalformedResponse", message: "the answer is not well-formed XML", httpStatus: 200, isUpstreamFailure: true)
        }
        if let twice = parsed.duplicates.intersection(XMLFields.singular).sorted().first {
            throw STSError(code: "MalformedResponse", message: "the answer holds `\(twice)` more than once", httpStatus: 200, isUpstreamFailure: true)
        }
        return values
    }
}
