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

/// Matching of one concrete string against a `*`/`?` glob, as IAM matches ARNs and `StringLike` values.
public enum Wildcard {
    /// Whether `text` is in the language of `pattern`: `*` any run of characters (including none), `?` one.
    public static func matches(pattern: String, _ text: String) -> Bool {
        let p = Array(pattern.unicodeScalars), t = Array(text.unicodeScalars)
        var pi = 0, ti = 0
        var star = -1, resume = 0
        while ti < t.count {
            if pi < p.count, p[pi] == "?" || (p[pi] != "*" && p[pi] == t[ti]) {
                pi += 1; ti += 1
            } else if pi < p.count, p[pi] == "*" {
                star = pi; resume = ti; pi += 1
            } else if star >= 0 {
                pi = star + 1; resume += 1; ti = resume
            } else {
                return false
            }
        }
        while pi < p.count, p[pi] == "*" { pi += 1 }
        return pi == p.count
    }
}

/// The IAM condition operators, with their `ForAllValues:`/`ForAnyValue:` prefixes and `IfExists` suffix.
public enum ConditionOperator {
    /// The operators without prefix or suffix, and the type of value each compares.
    public static let types: [String: String] = [
        "StringEquals": "String", "StringNotEquals": "String", "StringEqualsIgnoreCase": "String",
        "StringNotEqualsIgnoreCase": "String", "StringLike": "String", "StringNotLike": "String",
        "NumericEquals": "Numeric", "NumericNotEquals": "Numeric", "NumericLessThan": "Numeric",
        "NumericLessThanEquals": "Numeric", "NumericGreaterThan": "Numeric", "NumericGreaterThanEquals": "Numeric",
        "DateEquals": "Date", "DateNotEquals": "Date", "DateLessThan": "Date", "DateLessThanEquals": "Date",
        "DateGreaterThan": "Date", "DateGreaterThanEquals": "Date",
        "Bool": "Bool", "BinaryEquals": "Binary", "IpAddress": "IPAddress", "NotIpAddress": "IPAddress",
        "ArnEquals": "ARN", "ArnLike": "ARN", "ArnNotEquals": "ARN", "ArnNotLike": "ARN",
        "Null": "Null",
    ]

    public static var baseNames: [String] { types.keys.sorted() }

    /// The operator without `ForAllValues:`/`ForAnyValue:` and `IfExists`.
    public static func base(_ name: String) -> String {
        var name = Substring(name)
        for prefix in ["ForAllValues:", "ForAnyValue:"] where name.hasPrefix(prefix) { name = name.dropFirst(prefix.count) }
        if name.hasSuffix("IfExists"), name != "Null" { name = name.dropLast("IfExists".count) }
        return String(name)
    }

    /// Operators that pass when the value differs (`StringNotEquals`, `NotIpAddress`, ...), and so also when the key is absent.
    public static func isNegated(_ base: String) -> Bool {
        base.contains("Not") && base != "Null"
    }

    public static func isKnown(_ name: String) -> Bool {
        let base = base(name)
        if base == "Null" && name != "Null" { return false }
        return types[base] != nil
    }
}
