import Crypto
import Foundation

/// Lowercase hex, the one spelling of digests in clawc's ledger, audit log, session names, signatures, and PostgreSQL
/// grant-set names and plan hashes.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    public static func string<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The SHA-256 of a text's UTF-8 bytes, in hex.
    public static func sha256(_ text: String) -> String {
        string(SHA256.hash(data: Data(text.utf8)))
    }

    /// The SHA-256 of some bytes, in hex.
    public static func sha256(_ data: Data) -> String {
        string(SHA256.hash(data: data))
    }
}
