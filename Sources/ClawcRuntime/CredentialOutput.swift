import ClawcPolicy
import Foundation

/// How issued credentials are printed. The secret appears here and nowhere else.
public enum CredentialFormat: String, Sendable, CaseIterable {
    /// A JSON object with the credentials and what they were issued for.
    case json
    /// `export AWS_ACCESS_KEY_ID=...` lines for a shell.
    case env
    /// What the AWS CLI and SDKs read from a `credential_process`: `Version` 1 and the four fields.
    case credentialProcess = "credential-process"

    public func render(_ credentials: TemporaryCredentials, sessionName: String, taskID: String) -> String {
        let expiration = AWSDate.format(credentials.expiration)
        switch self {
        case .json:
            var fields: [(String, String)] = [
                ("AccessKeyId", credentials.accessKeyID), ("SecretAccessKey", credentials.secretAccessKey),
                ("SessionToken", credentials.sessionToken), ("Expiration", expiration),
                ("SessionName", sessionName), ("TaskId", taskID),
            ]
            if let arn = credentials.assumedRoleARN { fields.append(("AssumedRoleArn", arn)) }
            return "{" + fields.map { "\(PolicyJSON.string($0.0)):\(PolicyJSON.string($0.1))" }.joined(separator: ",") + "}\n"
        case .env:
            return [
                ("AWS_ACCESS_KEY_ID", credentials.accessKeyID), ("AWS_SECRET_ACCESS_KEY", credentials.secretAccessKey),
                ("AWS_SESSION_TOKEN", credentials.sessionToken), ("AWS_CREDENTIAL_EXPIRATION", expiration),
            ].map { "export \($0.0)=\(Self.shellQuote($0.1))\n" }.joined()
        case .credentialProcess:
            return "{\"Version\":1,\"AccessKeyId\":\(PolicyJSON.string(credentials.accessKeyID)),"
                + "\"SecretAccessKey\":\(PolicyJSON.string(credentials.secretAccessKey)),"
                + "\"SessionToken\":\(PolicyJSON.string(credentials.sessionToken)),"
                + "\"Expiration\":\(PolicyJSON.string(expiration))}\n"
        }
    }

    /// Single-quoted for POSIX shells; quotes inside become `'\''`.
    static func shellQuote(_ value: String) -> String {
        "'" + value.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
