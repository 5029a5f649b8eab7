import ClawcCompiler
import Foundation

/// STS `RoleSessionName`: built from the token's subject and the task ID, so CloudTrail leads to both, and
/// injective: two different (subject, task ID) pairs never share a name, so they never share an `aws:userid`.
///
/// Three shapes, told apart by where `+` stands (an encoded subject never holds one):
/// - `<encoded subject>@<task ID>` when it fits in 64 characters. The subject is encoded into STS's character set
///   `[\w+=,.@-]`: letters, digits and `_ , . -` stay; every other byte, and `=`, `@` and `+` themselves, become
///   `=XX` (hex). So `system:serviceaccount:agents:log-bot` reads `system=3Aserviceaccount=3Aagents=3Alog-bot`,
///   and the first `@` always separates subject from task.
/// - `<cut subject>+<16 hex of SHA-256(subject)>@<task ID>` when the subject is too long: the task ID stays whole
///   and at least one character of the subject is kept.
/// - `+<20 hex of SHA-256(subject, task ID)>@<task ID prefix>` when the task ID leaves no room for a subject
///   digest (43 characters or more): the pair is digested whole and the task ID is cut, never the subject dropped.
///
/// The digest shapes are injective up to SHA-256 collisions in 64 and 80 bits. The ledger keeps every session
/// name beside its task ID and subject, so each maps back.
public enum SessionName {
    public static let maxLength = 64
    static let subjectDigestLength = 16
    static let pairDigestLength = 20

    public static func make(subject: String, taskID: String) -> String {
        let encoded = encode(subject)
        let whole = "\(encoded)@\(taskID)"
        if whole.utf8.count <= maxLength { return whole }
        // "<cut>+<digest>@<task>": keep at least one character of the subject.
        let room = maxLength - taskID.utf8.count - 2 - subjectDigestLength
        if room >= 1 {
            var cut = String(encoded.prefix(room))
            // Do not end inside an `=XX` escape.
            if let last = cut.lastIndex(of: "="), cut.distance(from: last, to: cut.endIndex) < 3 { cut = String(cut[..<last]) }
            if !cut.isEmpty {
                return "\(cut)+\(Hex.sha256(subject).prefix(subjectDigestLength))@\(taskID)"
            }
        }
        let digest = Hex.sha256(subject + "\u{0}" + taskID).prefix(pairDigestLength)
        return "+\(digest)@\(taskID.prefix(maxLength - pairDigestLength - 2))"
    }

    static func encode(_ subject: String) -> String {
        var out = ""
        for byte in subject.utf8 {
            let scalar = Unicode.Scalar(byte)
            let plain = (byte < 0x80) && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "_,.-".unicodeScalars.contains(scalar))
            if plain { out.unicodeScalars.append(scalar) } else { out += String(format: "=%02X", byte) }
        }
        return out
    }
}
