/// Text from a task, a token or a rule, made safe to print on one line of a terminal or a CI log.
///
/// Diagnostics echo user values (a purpose, a key, a tag), and a value is hostile until proven otherwise: a
/// newline in it can print a line that looks like a diagnostic of its own (`rules/x.yaml:1:1: note: ok`), an
/// ESC sequence can recolour, hide or rewrite what the reader sees, and the bidi controls can reorder it
/// ("Trojan Source"). Every renderer of diagnostics (and anything else that echoes input to stderr) passes the
/// text through here, so no single message has to remember to.
public enum HostileText {
    /// Whether a scalar must never reach a terminal or a log raw.
    ///
    /// The set: C0 controls (U+0000–U+001F, tab and line breaks included), DEL, the C1 controls
    /// (U+0080–U+009F, with NEL, U+0085, which YAML and some viewers take as a line break), LINE SEPARATOR and
    /// PARAGRAPH SEPARATOR (U+2028, U+2029), and the bidi controls: the embeddings and overrides U+202A–U+202E,
    /// the isolates U+2066–U+2069, and the marks U+200E, U+200F and U+061C.
    public static func isHostile(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: true
        case 0x2028, 0x2029: true
        case 0x202A...0x202E, 0x2066...0x2069: true
        case 0x200E, 0x200F, 0x061C: true
        default: false
        }
    }

    /// Whether `text` holds a scalar that `escape` would change.
    public static func needsEscaping(_ text: some StringProtocol) -> Bool {
        text.unicodeScalars.contains(where: isHostile)
    }

    /// The text with every hostile scalar written out as an escape: `\n`, `\r`, `\t`, otherwise `\u{1B}`
    /// (Swift's spelling, uppercase hex). Everything else, backslashes included, is left as it is: the point is
    /// that nothing breaks the line or moves the cursor, and the escape shows the reader what was there.
    public static func escape(_ text: some StringProtocol) -> String {
        guard needsEscaping(text) else { return String(text) }
        var out = ""
        out.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            guard isHostile(scalar) else {
                out.unicodeScalars.append(scalar)
                continue
            }
            out += escaped(scalar)
        }
        return out
    }

    /// The escape for one hostile scalar.
    public static func escaped(_ scalar: Unicode.Scalar) -> String {
        switch scalar {
        case "\n": return "\\n"
        case "\r": return "\\r"
        case "\t": return "\\t"
        default: return "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
        }
    }

    /// At most `maxScalars` scalars of `text`, with `…` when it was longer: for echoing a value that has no
    /// business being long (a duration, a name) without copying a megabyte of it into the message.
    public static func clipped(_ text: String, to maxScalars: Int) -> String {
        let scalars = text.unicodeScalars
        guard scalars.count > maxScalars else { return text }
        return String(String.UnicodeScalarView(scalars.prefix(max(0, maxScalars)))) + "…"
    }
}
