import Crypto
import Foundation

/// STS `RoleSessionName`: built from the token's subject and the task ID, so CloudTrail leads to both.
///
/// The shape is `<encoded subject>@<task ID>`. The subject is encoded injectively into STS's character set
/// `[\w+=,.@-]`: allowed characters stay (letters, digits, `_ + , . -`), every other byte, and `=` and `@`
/// themselves, become `=XX` (hex). So `system:serviceaccount:agents:log-bot` reads
/// `system=3Aserviceaccount=3Aagents=3Alog-bot`, and the first `@` always separates subject from task.
/// When the whole would pass 64 characters the task ID stays whole, the subject is cut, and `+` and the first
/// 8 hex digits of the SHA-256 of the full subject keep different subjects apart.
public enum SessionName {
    public static let maxLength = 64

    public static func make(subject: String, taskID: String) -> String {
        let encoded = encode(subject)
        let whole = "\(encoded)@\(taskID)"
        if whole.count <= maxLength { return whole }
        let digest = String(Hex.sha256(subject).prefix(8))
        let room = maxLength - taskID.count - 1 - 1 - digest.count  // "@", "+", hash
        guard room >= 0 else {
            // A task ID of 55 or more characters leaves no room; the ID alone stays unique per task.
            return String(taskID.prefix(maxLength))
        }
        var cut = String(encoded.prefix(room))
        // Do not end inside an `=XX` escape.
        if let last = cut.lastIndex(of: "="), cut.distance(from: last, to: cut.endIndex) < 3 { cut = String(cut[..<last]) }
        return "\(cut)+\(digest)@\(taskID)"
    }

    static func encode(_ subject: String) -> String {
        var out = ""
        for byte in subject.utf8 {
            let scalar = Unicode.Scalar(byte)
            let plain = (byte < 0x80) && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "_+,.-".unicodeScalars.contains(scalar))
            if plain { out.unicodeScalars.append(scalar) } else { out += String(format: "=%02X", byte) }
        }
        return out
    }
}
