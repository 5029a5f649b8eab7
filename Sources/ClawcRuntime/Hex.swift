import Crypto
import Foundation

/// Lowercase hex, the one spelling of digests in clawc's ledger, audit log, session names and signatures.
public enum Hex {
    public static func string<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    /// The SHA-256 of a text's UTF-8 bytes, in hex.
    public static func sha256(_ text: String) -> String {
        string(SHA256.hash(data: Data(text.utf8)))
    }
}
