import Crypto
import Foundation

/// A credential kept in the ledger so that a repeat request (same task, same token, while the credential lives)
/// gets the same credential back instead of a second one, without the secret ever being stored in plaintext.
///
/// The credential is sealed with ChaCha20-Poly1305 under a key derived by HKDF-SHA256 from the token itself, with the
/// task ID and token ID bound in. Only a holder of the token can open it: the ledger stores the token's ID (its
/// `jti`, or a SHA-256 of the token), which is not the key's input and does not yield it. A sealed credential moved
/// to another row, or altered, does not open.
public enum CredentialSeal {
    static let version = "v1."

    private static func key(secret: [UInt8], taskID: String, tokenID: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: secret), salt: Data("clawc credential seal v1".utf8),
            info: Data((taskID + "\n" + tokenID).utf8), outputByteCount: 32)
    }

    private static func context(taskID: String, tokenID: String) -> Data {
        Data(("clawc credential v1\n" + taskID + "\n" + tokenID).utf8)
    }

    /// The sealed text the ledger keeps, or nil if sealing failed (then no repeat is possible; nothing else changes).
    public static func seal(_ credentials: TemporaryCredentials, secret: [UInt8], taskID: String, tokenID: String) -> String? {
        var fields = [
            "AccessKeyId": credentials.accessKeyID, "SecretAccessKey": credentials.secretAccessKey,
            "SessionToken": credentials.sessionToken, "Expiration": AWSDate.format(credentials.expiration),
        ]
        if let arn = credentials.assumedRoleARN { fields["AssumedRoleArn"] = arn }
        if let id = credentials.assumedRoleID { fields["AssumedRoleId"] = id }
        // The audit chain's canonical writer: JSONSerialization cost more than the sealing itself.
        let plain = Data(AuditChain.canonical(fields).utf8)
        guard let box = try? ChaChaPoly.seal(plain, using: key(secret: secret, taskID: taskID, tokenID: tokenID),
                                           authenticating: context(taskID: taskID, tokenID: tokenID))
        else { return nil }
        return version + box.combined.base64EncodedString()
    }

    /// The credential inside `sealed`, or nil if it does not open with this token for this task.
    public static func open(_ sealed: String, secret: [UInt8], taskID: String, tokenID: String) -> TemporaryCredentials? {
        guard sealed.hasPrefix(version), sealed.utf8.count <= 64 * 1024,
            let combined = Data(base64Encoded: String(sealed.dropFirst(version.count))),
            let box = try? ChaChaPoly.SealedBox(combined: combined),
            let plain = try? ChaChaPoly.open(box, using: key(secret: secret, taskID: taskID, tokenID: tokenID),
                                             authenticating: context(taskID: taskID, tokenID: tokenID)),
            let fields = (try? JSONSerialization.jsonObject(with: plain)) as? [String: String],
            let accessKeyID = fields["AccessKeyId"], let secretAccessKey = fields["SecretAccessKey"],
            let sessionToken = fields["SessionToken"], let expiration = fields["Expiration"].flatMap(AWSDate.parse)
        else { return nil }
        return TemporaryCredentials(
            accessKeyID: accessKeyID, secretAccessKey: secretAccessKey, sessionToken: sessionToken, expiration: expiration,
            assumedRoleARN: fields["AssumedRoleArn"], assumedRoleID: fields["AssumedRoleId"])
    }
}
