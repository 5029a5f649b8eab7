import ClawcCompiler
import Crypto
import Foundation

/// AWS credentials for signing: the orchestrator's own, from the standard environment variables.
public struct AWSCredentials: Sendable, Equatable {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }

    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and, if set, `AWS_SESSION_TOKEN`.
    public static func fromEnvironment(_ environment: [String: String]) -> AWSCredentials? {
        guard let key = environment["AWS_ACCESS_KEY_ID"], !key.isEmpty,
            let secret = environment["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty
        else { return nil }
        let token = environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        return AWSCredentials(accessKeyID: key, secretAccessKey: secret, sessionToken: token)
    }
}

/// AWS Signature Version 4, header-based, as documented in "Create a signed AWS API request".
public enum SigV4 {
    /// A request to sign: method, URL, headers (any case) and body.
    public struct Request: Sendable {
        public var method: String
        public var url: URL
        public var headers: [String: String]
        public var body: Data

        public init(method: String, url: URL, headers: [String: String] = [:], body: Data = Data()) {
            self.method = method
            self.url = url
            self.headers = headers
            self.body = body
        }
    }

    /// The headers to add: `Authorization`, `X-Amz-Date`, `X-Amz-Content-Sha256` not included (query APIs do not
    /// need it), and `X-Amz-Security-Token` for temporary credentials. `Host` is signed from the URL.
    public static func sign(_ request: Request, credentials: AWSCredentials, region: String, service: String, date: Date) -> [String: String] {
        let amzDate = timestamp(date)
        let day = String(amzDate.prefix(8))
        var headers: [String: String] = [:]
        for (name, value) in request.headers { headers[name.lowercased()] = value }
        headers["host"] = hostHeader(request.url)
        headers["x-amz-date"] = amzDate
        if let token = credentials.sessionToken { headers["x-amz-security-token"] = token }

        let signedNames = headers.keys.sorted()
        let canonicalHeaders = signedNames.map { "\($0):\(trimmed(headers[$0] ?? ""))\n" }.joined()
        let signedHeaders = signedNames.joined(separator: ";")
        let payloadHash = Hex.string(SHA256.hash(data: request.body))
        let canonicalRequest = [
            request.method.uppercased(), canonicalPath(request.url), canonicalQuery(request.url),
            canonicalHeaders, signedHeaders, payloadHash,
        ].joined(separator: "\n")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, Hex.sha256(canonicalRequest)].joined(separator: "\n")

        var key = SymmetricKey(data: Data("AWS4\(credentials.secretAccessKey)".utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        let signature = Hex.string(HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: key))
        var out: [String: String] = [
            "Authorization": "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)",
            "X-Amz-Date": amzDate,
        ]
        if let token = credentials.sessionToken { out["X-Amz-Security-Token"] = token }
        return out
    }

    /// `YYYYMMDD'T'HHMMSS'Z'` in UTC.
    public static func timestamp(_ date: Date) -> String {
        AWSDate.compact(date)
    }

    static func hostHeader(_ url: URL) -> String {
        let host = url.host ?? ""
        guard let port = url.port else { return host }
        let defaultPort = url.scheme == "https" ? 443 : 80
        return port == defaultPort ? host : "\(host):\(port)"
    }

    /// Header values with leading and trailing space removed and inner runs of spaces collapsed to one.
    static func trimmed(_ value: String) -> String {
        value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ").trimmingCharacters(in: .whitespaces)
    }

    /// The path as sent (already percent-encoded), dot segments removed, then each segment URI-encoded again:
    /// every service but S3 expects the path encoded twice. `/` when empty.
    static func canonicalPath(_ url: URL) -> String {
        let path = URLComponents(url: url, resolvingAgainstBaseURL: false)?.percentEncodedPath ?? ""
        if path.isEmpty { return "/" }
        let segments = normalize(path).split(separator: "/", omittingEmptySubsequences: false).map { FormEncoding.escape(String($0)) }
        return segments.joined(separator: "/")
    }

    /// Removes `.` and `..` segments and doubled slashes, as the SigV4 test suite's normalization cases expect.
    static func normalize(_ path: String) -> String {
        var out: [Substring] = []
        for segment in path.split(separator: "/", omittingEmptySubsequences: true) {
            if segment == "." { continue }
            if segment == ".." { _ = out.popLast(); continue }
            out.append(segment)
        }
        let joined = "/" + out.joined(separator: "/")
        return path.hasSuffix("/") && joined != "/" ? joined + "/" : joined
    }

    /// Query parameters URI-encoded, sorted by name then value.
    static func canonicalQuery(_ url: URL) -> String {
        guard let query = URLComponents(url: url, resolvingAgainstBaseURL: false)?.percentEncodedQuery, !query.isEmpty else { return "" }
        let pairs = query.split(separator: "&").map { item -> (String, String) in
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0]).removingPercentEncoding ?? String(parts[0])
            let value = parts.count > 1 ? (String(parts[1]).removingPercentEncoding ?? String(parts[1])) : ""
            return (FormEncoding.escape(name), FormEncoding.escape(value))
        }
        return pairs.sorted { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

}
