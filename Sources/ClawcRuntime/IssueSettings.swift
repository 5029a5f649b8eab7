import ClawcSyntax
import Foundation

/// Where `clawc issue` takes each setting from, in order: the flag, the AWS environment variable, `rules/clawc.yaml`.
/// The CLI hands over what it parsed; the decisions (and their refusals) live here.
public enum IssueSettings {
    /// What the command line said; nil where a flag was not given.
    public struct Flags: Sendable {
        public var tokenFile: String?
        public var roleARN: String?
        public var issuer: String?
        public var audience: String?
        public var roleMaxDuration: Int?
        public var leeway: Int = 60
        public var subject: String?
        public var parentTask: String?
        public var callerExpiration: String?

        public init() {}
    }

    /// Everything the web-identity backend needs, resolved.
    public struct WebIdentity: Sendable {
        public var token: String
        public var roleARN: String
        public var issuer: String
        public var audience: String
        public var stsEndpoint: URL
        public var roleMaxSeconds: Int?
        public var leeway: TimeInterval
    }

    /// Everything the scoped backend needs, resolved.
    public struct Scoped: Sendable {
        public var caller: AWSCredentials
        public var callerExpiration: Date?
        public var region: String
        public var stsEndpoint: URL
        public var subject: String
        public var parentTask: String?
    }

    static func refuse(_ code: String, _ message: String, _ help: String) -> IssueFailure {
        .refused(code: code, message: message, help: help)
    }

    /// The region: `AWS_REGION`, `AWS_DEFAULT_REGION`, then `region` in clawc.yaml.
    static func region(_ environment: [String: String], _ settings: Settings) -> String? {
        environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? settings.values["region"]?.value
    }

    public static func webIdentity(_ flags: Flags, environment: [String: String], settings: Settings) throws(IssueFailure) -> WebIdentity {
        guard let tokenPath = flags.tokenFile ?? environment["AWS_WEB_IDENTITY_TOKEN_FILE"] else {
            throw refuse("missing-token", "no workload token", "pass --token-file, or set AWS_WEB_IDENTITY_TOKEN_FILE")
        }
        guard let handle = FileHandle(forReadingAtPath: tokenPath) else {
            throw refuse("missing-token", "cannot read the token file `\(tokenPath)`", "check the path and its permissions")
        }
        defer { try? handle.close() }
        // Read at most one byte more than any token may have: a huge or endless file is not read whole.
        let tokenData = (try? handle.read(upToCount: TokenValidator.maxTokenBytes + 1)) ?? Data()
        guard tokenData.count <= TokenValidator.maxTokenBytes else {
            throw refuse("token-too-large", "the token file holds more than \(TokenValidator.maxTokenBytes) bytes, more than any workload token should",
                         "check that this is the token file")
        }
        guard let role = flags.roleARN ?? environment["AWS_ROLE_ARN"] ?? settings.values["roleArn"]?.value else {
            throw refuse("missing-role", "no role to assume", "pass --role-arn, set AWS_ROLE_ARN, or set `roleArn` in clawc.yaml")
        }
        guard let issuer = flags.issuer ?? settings.values["issuer"]?.value else {
            throw refuse("missing-issuer", "no token issuer configured", "pass --issuer, or set `issuer` in clawc.yaml")
        }
        guard let endpoint = STSClient.endpoint(environment: environment, region: region(environment, settings)) else {
            throw refuse("bad-endpoint", "the STS endpoint address is not a URL", "check AWS_ENDPOINT_URL_STS and AWS_ENDPOINT_URL")
        }
        return WebIdentity(
            token: String(decoding: tokenData, as: UTF8.self), roleARN: role, issuer: issuer,
            audience: flags.audience ?? settings.values["audience"]?.value ?? "sts.amazonaws.com", stsEndpoint: endpoint,
            roleMaxSeconds: flags.roleMaxDuration, leeway: TimeInterval(flags.leeway))
    }

    public static func scoped(_ flags: Flags, environment: [String: String], settings: Settings) throws(IssueFailure) -> Scoped {
        guard let caller = AWSCredentials.fromEnvironment(environment) else {
            throw refuse("missing-credentials", "no AWS credentials to cut scoped credentials from",
                         "set AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN to the caller's role session")
        }
        guard let region = region(environment, settings) else {
            throw refuse("missing-region", "no AWS region: GetScopedCredentials is served on regional endpoints only",
                         "set AWS_REGION, or `region` in clawc.yaml")
        }
        let endpointText = environment["AWS_ENDPOINT_URL_STS"] ?? environment["AWS_ENDPOINT_URL"] ?? "https://sts.\(region).amazonaws.com"
        guard let endpoint = URL(string: endpointText), endpoint.host != "sts.amazonaws.com" else {
            throw refuse("global-endpoint", "`\(endpointText)` is STS's global endpoint, which does not serve GetScopedCredentials",
                         "use the regional endpoint, https://sts.\(region).amazonaws.com")
        }
        let expiration = (flags.callerExpiration ?? environment["AWS_CREDENTIAL_EXPIRATION"]).flatMap(AWSDate.parse)
        return Scoped(
            caller: caller, callerExpiration: expiration, region: region, stsEndpoint: endpoint,
            subject: flags.subject ?? "orchestrator", parentTask: flags.parentTask)
    }
}
