/// The characters a value may bring into a policy through a slot, and the checks made before substitution.
public enum SlotValue {
    /// Letters, digits and `_ . @ = + , - : /`. Nothing that widens a pattern (`*`, `?`), starts a policy variable
    /// (`$`), opens a slot (`{`, `}`), breaks JSON (quotes, `\`), or hides (whitespace, control characters).
    public static func isSafe(_ scalar: Unicode.Scalar) -> Bool {
        scalar.isASCIILetter || scalar.isASCIIDigit || "_.@=+,-:/".unicodeScalars.contains(scalar)
    }

    /// The first scalar that is not safe, with its offset; `*` and `?` pass when `allowWildcards` (for `match` globs).
    public static func firstUnsafe(in text: String, allowWildcards: Bool) -> (offset: Int, phrase: String)? {
        for (offset, scalar) in text.unicodeScalars.enumerated() {
            if isSafe(scalar) || (allowWildcards && (scalar == "*" || scalar == "?")) { continue }
            return (offset, describe(scalar))
        }
        return nil
    }

    /// Why `value` may not fill a slot for `param`, or nil when it may.
    public static func check(_ value: String, against param: Param?) -> String? {
        if value.isEmpty { return "is empty" }
        if value.unicodeScalars.count > 256 { return "is longer than 256 characters" }
        if let bad = firstUnsafe(in: value, allowWildcards: false) { return "holds \(bad.phrase), which may not appear in a slot value" }
        guard let param else { return nil }
        if let match = param.match, !Wildcard.matches(pattern: match.value, value) {
            return "does not match `\(match.value)`"
        }
        if let oneOf = param.oneOf, !oneOf.contains(where: { $0.value == value }) {
            return "is not one of \(oneOf.map { "`\($0.value)`" }.joined(separator: ", "))"
        }
        return nil
    }

    static func describeShort(_ scalar: Unicode.Scalar) -> String {
        switch scalar {
        case " ": "space"
        case "\t": "tab"
        case "`": "backtick"
        default:
            scalar.value < 0x20 || scalar.value == 0x7F || scalar.value > 0x7E
                ? hex(scalar) : String(scalar)
        }
    }

    static func hex(_ scalar: Unicode.Scalar) -> String {
        let digits = String(scalar.value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// A phrase naming a character for messages: "a space", "`$`", "U+0007".
    public static func describe(_ scalar: Unicode.Scalar) -> String {
        let short = describeShort(scalar)
        if short.hasPrefix("U+") { return "the character \(short)" }
        return short.count == 1 ? "`\(short)`" : "a \(short)"
    }
}
