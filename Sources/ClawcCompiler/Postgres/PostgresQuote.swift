/// The one place clawc turns a name or a value into SQL text.
///
/// PostgreSQL DDL takes no bind parameters, so role names, table names and literals are written into statements.
/// Each goes through a strict check first (no NUL, no control characters, at most 63 bytes for a name), then the
/// quoting the server defines: `"` doubled inside `"…"`, `'` doubled inside `'…'`. Plans set
/// `standard_conforming_strings = on` for their transaction, so a backslash in a literal is only a backslash; clawc
/// refuses backslashes anyway, as no value it writes needs one.
public enum PostgresQuote {
    public struct Refusal: Error, Sendable, CustomStringConvertible, Equatable {
        public var description: String
    }

    /// `"name"`, or a refusal: empty, longer than 63 bytes (the server would truncate it silently, so two names
    /// could meet), NUL or another control character.
    public static func identifier(_ name: String) throws(Refusal) -> String {
        if name.isEmpty { throw Refusal(description: "an empty name") }
        if name.utf8.count > 63 { throw Refusal(description: "a name longer than 63 bytes") }
        if let bad = name.unicodeScalars.first(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            throw Refusal(description: "a name holding the control character U+\(String(bad.value, radix: 16, uppercase: true))")
        }
        return "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// `'text'`, or a refusal: NUL, another control character, or a backslash.
    public static func literal(_ text: String) throws(Refusal) -> String {
        if let bad = text.unicodeScalars.first(where: { $0.value < 0x20 || $0.value == 0x7F || $0 == "\\" }) {
            throw Refusal(description: bad == "\\" ? "a value holding a backslash"
                : "a value holding the control character U+\(String(bad.value, radix: 16, uppercase: true))")
        }
        return "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
    }

    /// `"schema"."name"` for a name already checked to be `schema.name` of SQL identifiers.
    public static func qualified(_ name: String) throws(Refusal) -> String {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 else { throw Refusal(description: "`\(name)` is not `schema.name`") }
        return try identifier(parts[0]) + "." + identifier(parts[1])
    }
}
