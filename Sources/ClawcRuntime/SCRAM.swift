import Crypto
import Foundation

/// SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL stores it: the server keeps a verifier, never the password.
/// clawc sends `CREATE ROLE … PASSWORD 'SCRAM-SHA-256$…'`, so the password itself never reaches the server, its log
/// or `pg_stat_statements`; only the task that receives the credential knows it.
public enum SCRAM {
    /// PostgreSQL's own default (`scram_iterations`).
    public static let iterations = 4096

    /// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, base64, as `pg_authid.rolpassword` holds it.
    /// The password must be ASCII without control characters, so that SASLprep leaves it unchanged (clawc's own
    /// passwords always are).
    public static func verifier(password: String, salt: [UInt8], iterations: Int = iterations) -> String {
        precondition(password.unicodeScalars.allSatisfy { $0.value >= 0x21 && $0.value <= 0x7E }, "SCRAM passwords here are printable ASCII")
        let salted = pbkdf2SHA256(password: Array(password.utf8), salt: salt, iterations: iterations)
        let key = SymmetricKey(data: salted)
        let clientKey = Data(HMAC<SHA256>.authenticationCode(for: Data("Client Key".utf8), using: key))
        let storedKey = Data(SHA256.hash(data: clientKey))
        let serverKey = Data(HMAC<SHA256>.authenticationCode(for: Data("Server Key".utf8), using: key))
        return "SCRAM-SHA-256$\(iterations):\(Data(salt).base64EncodedString())$\(storedKey.base64EncodedString()):\(serverKey.base64EncodedString())"
    }

    /// A verifier with a fresh random 16-byte salt.
    public static func verifier(password: String) -> String {
        verifier(password: password, salt: randomBytes(16))
    }

    /// A new password: 32 bytes from the system's random source, base64url without padding (43 characters, 256
    /// bits). Printable ASCII with no quote, backslash or `@`/`:`/`/`, so it survives a connection URI unescaped.
    public static func newPassword() -> String {
        Data(randomBytes(32)).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// PBKDF2 (RFC 8018) with HMAC-SHA-256, one 32-byte block: what SCRAM's `Hi()` is.
    static func pbkdf2SHA256(password: [UInt8], salt: [UInt8], iterations: Int) -> [UInt8] {
        let key = SymmetricKey(data: password)
        var block = HMAC<SHA256>.authenticationCode(for: salt + [0, 0, 0, 1], using: key).map { $0 }
        var result = block
        for _ in 1..<max(1, iterations) {
            block = HMAC<SHA256>.authenticationCode(for: block, using: key).map { $0 }
            for index in result.indices { result[index] ^= block[index] }
        }
        return result
    }
}
