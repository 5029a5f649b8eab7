import Foundation

/// The IAM query API calls clawc makes, SigV4-signed with the orchestrator's own credentials.
public struct IAMClient: Sendable {
    public var endpoint: URL
    public var credentials: AWSCredentials
    public var http: HTTPTransport
    /// IAM is a global service signed for us-east-1 (aws partition).
    public var signingRegion = "us-east-1"

    public init(endpoint: URL, credentials: AWSCredentials, http: HTTPTransport = HTTPTransport(timeout: 5)) {
        self.endpoint = endpoint
        self.credentials = credentials
        self.http = http
    }

    /// `AWS_ENDPOINT_URL_IAM`, then `AWS_ENDPOINT_URL`, then IAM's global endpoint.
    public static func endpoint(environment: [String: String]) -> URL? {
        if let url = environment["AWS_ENDPOINT_URL_IAM"] ?? environment["AWS_ENDPOINT_URL"], !url.isEmpty { return URL(string: url) }
        return URL(string: "https://iam.amazonaws.com/")
    }

    public struct Role: Sendable {
        public var arn: String
        public var roleID: String
        public var trustPolicy: String
        public var maxSessionDuration: Int?
    }

    /// The role name of a role ARN: the last segment after `role/` (roles may have paths).
    public static func roleName(fromARN arn: String) -> String? {
        guard let range = arn.range(of: ":role/") else { return nil }
        let name = arn[range.upperBound...].split(separator: "/").last.map(String.init)
        return name?.isEmpty == false ? name : nil
    }

    public func getRole(_ name: String) async throws(STSError) -> Role {
        let values = try await call([("Action", "GetRole"), ("RoleName", name)])
        guard let arn = values["Arn"], let id = values["RoleId"], let document = values["AssumeRolePolicyDocument"] else {
            throw STSError(code: "MalformedResponse", message: "GetRole answered without the role's trust policy", httpStatus: 200, isUpstreamFailure: true)
        }
        return Role(arn: arn, roleID: id, trustPolicy: document.removingPercentEncoding ?? document,
                    maxSessionDuration: values["MaxSessionDuration"].flatMap { Int($0) })
    }

    public func updateAssumeRolePolicy(_ name: String, document: String) async throws(STSError) {
        _ = try await call([("Action", "UpdateAssumeRolePolicy"), ("RoleName", name), ("PolicyDocument", document)])
    }

    /// An inline policy's document, or nil when the role has no policy of that name.
    public func getRolePolicy(_ name: String, policyName: String) async throws(STSError) -> String? {
        do {
            let values = try await call([("Action", "GetRolePolicy"), ("RoleName", name), ("PolicyName", policyName)])
            return values["PolicyDocument"].map { $0.removingPercentEncoding ?? $0 }
        } catch where error.code == "NoSuchEntity" {
            return nil
        }
    }

    public func putRolePolicy(_ name: String, policyName: String, document: String) async throws(STSError) {
        _ = try await call([("Action", "PutRolePolicy"), ("RoleName", name), ("PolicyName", policyName), ("PolicyDocument", document)])
    }

    func call(_ fields: [(String, String)]) async throws(STSError) -> [String: String] {
        try await QueryProtocol.send(
            endpoint: endpoint, http: http, fields: fields + [("Version", "2010-05-08")],
            signing: .init(credentials: credentials, region: signingRegion, service: "iam"))
    }
}
