/// Checks on a grant's `when` that need no catalog: the shape of condition keys, and condition values against
/// the type their operator compares.
///
/// Both end up verbatim in the policy. A key is emitted as a JSON object key and a value as a JSON string, so
/// neither can break the document, but a key holding a quote, a line separator or `${aws:username}` is not a
/// key IAM knows (STS refuses the policy, or the condition silently never matches), and a `Bool` compared with
/// `maybe` or a `NumericLessThan` with `ten` never matches anything. Either way the grant does not do what the
/// rule says, which is a located error here rather than a surprise at issue time.
public enum ConditionCheck {
    /// The longest condition key accepted: a service prefix, a name and a tag key (IAM allows 128 for a tag key).
    public static let maxKeyLength = 256

    /// What is wrong with a condition key: the offset of the first bad scalar (or nil for the key as a whole),
    /// a message and a help line.
    public struct KeyProblem: Sendable, Equatable {
        public var offset: Int?
        public var message: String
        public var help: String
    }

    /// Condition keys look like `service:Name` (`s3:prefix`, `aws:SourceIp`, `kms:EncryptionContext:purpose`,
    /// `accounts.google.com:aud`), optionally followed by `/` and a tag key or other name
    /// (`aws:ResourceTag/team`). Before the `/`: ASCII letters and digits with `-` and `.` in the prefix, `_ . : -`
    /// in the name. After it, what IAM allows in a tag key: letters and digits of any script, spaces, and
    /// `_ . : / = + - @`. No control or format characters, no quotes, no `$` (so no `${...}` policy variables).
    public static func keyProblem(_ key: String) -> KeyProblem? {
        let help = "condition keys are written `service:Name`, optionally with `/` and a tag key, such as `s3:prefix` or `aws:ResourceTag/team`"
        let scalars = Array(key.unicodeScalars)
        if scalars.count > maxKeyLength {
            return KeyProblem(offset: nil, message: "condition key is longer than \(maxKeyLength) characters", help: help)
        }
        guard let colon = scalars.firstIndex(of: ":") else {
            return KeyProblem(offset: nil, message: "condition key `\(key)` has no service prefix", help: help)
        }
        if colon == 0 {
            return KeyProblem(offset: 0, message: "condition key `\(key)` has an empty service prefix", help: help)
        }
        let slash = scalars.firstIndex(of: "/") ?? scalars.count
        if slash < colon {
            return KeyProblem(offset: slash, message: "condition key `\(key)` has `/` in its service prefix", help: help)
        }
        if slash == colon + 1 {
            return KeyProblem(offset: colon, message: "condition key `\(key)` has no name after its service prefix", help: help)
        }
        for (offset, scalar) in scalars.enumerated() {
            let allowed: Bool
            if offset < colon {
                allowed = scalar.isASCIILetter || scalar.isASCIIDigit || scalar == "-" || scalar == "."
            } else if offset < slash {
                allowed = scalar.isASCIILetter || scalar.isASCIIDigit || "_.:-".unicodeScalars.contains(scalar)
            } else {
                allowed = isTagKeyScalar(scalar)
            }
            if allowed { continue }
            let part = offset < colon ? "its service prefix" : offset < slash ? "its name" : "its tag key"
            let what = SlotValue.describe(scalar)
            let specific = scalar == "$"
                ? "policy variables such as `${aws:username}` are not supported in condition keys; name the key itself"
                : help
            return KeyProblem(offset: offset, message: "condition key holds \(what) in \(part)", help: specific)
        }
        return nil
    }

    /// IAM's tag-key characters (`[\p{L}\p{Z}\p{N}_.:/=+\-@]`), less the line and paragraph separators, which
    /// `\p{Z}` also holds and which break lines in logs and YAML, and less every space but U+0020, which look
    /// like it and are not it.
    static func isTagKeyScalar(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == " " || "_.:/=+-@".unicodeScalars.contains(scalar) { return true }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
             .decimalNumber, .letterNumber, .otherNumber:
            return true
        default:
            return false
        }
    }

    /// The value type an operator compares, for the operators whose values can be checked; nil for String and
    /// ARN operators (any text is a string, and ARN patterns are checked as resources are).
    public static func valueType(ofOperator op: String) -> ValueType? {
        switch ConditionOperator.types[ConditionOperator.base(op)] {
        case "Numeric": .numeric
        case "Date": .date
        case "Bool": .bool
        case "IPAddress": .ipAddress
        case "Binary": .binary
        case "Null": .null
        default: nil
        }
    }

    public enum ValueType: Sendable {
        case numeric, date, bool, ipAddress, binary, null

        /// What a value of this type looks like, for help lines.
        public var help: String {
            switch self {
            case .numeric: "write an integer or a decimal, such as `10` or `2.5`"
            case .date: "write an ISO 8601 date or date-time with a time zone, such as `2026-01-31` or `2026-01-31T12:00:00Z`, or epoch seconds"
            case .bool: "write `true` or `false`; IAM compares the text, and any other value never matches"
            case .ipAddress: "write an IPv4 or IPv6 address, optionally with a prefix length, such as `10.0.0.0/8` or `2001:db8::/32`"
            case .binary: "write the base64 encoding of the bytes, such as `QmluYXJ5`"
            case .null: "write `true` (the key is absent from the request) or `false` (it is present)"
            }
        }

        /// A noun phrase for messages.
        public var name: String {
            switch self {
            case .numeric: "a number"
            case .date: "a date"
            case .bool, .null: "`true` or `false`"
            case .ipAddress: "an IP address or CIDR range"
            case .binary: "base64"
            }
        }
    }

    /// Why `value` is not a value of `type`, or nil when it is one.
    public static func valueProblem(_ value: String, type: ValueType) -> String? {
        switch type {
        case .bool, .null:
            return ["true", "false"].contains(value.lowercased()) ? nil : "is not `true` or `false`"
        case .numeric:
            return isNumber(value) ? nil : "is not a number"
        case .date:
            return isDate(value) ? nil : "is not an ISO 8601 date or epoch seconds"
        case .binary:
            return isBase64(value) ? nil : "is not base64"
        case .ipAddress:
            return ipProblem(value)
        }
    }

    /// `-`? digits, optionally `.` digits: what IAM documents for Numeric operators (integers and decimals).
    static func isNumber(_ text: String) -> Bool {
        var scalars = Substring(text).unicodeScalars
        if scalars.first == "-" { scalars = scalars.dropFirst() }
        let parts = scalars.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        return parts.allSatisfy { !$0.isEmpty && $0.count <= 40 && $0.allSatisfy(\.isASCIIDigit) }
    }

    /// Epoch seconds, or the W3C profile of ISO 8601 that IAM documents for Date operators: `YYYY`, `YYYY-MM`,
    /// `YYYY-MM-DD`, or `YYYY-MM-DDThh:mm[:ss[.s…]]` followed by `Z` or `±hh:mm`. Fields must be in range.
    static func isDate(_ text: String) -> Bool {
        let s = Array(text.unicodeScalars)
        if !s.isEmpty, s.count <= 12, s.allSatisfy(\.isASCIIDigit) { return true }
        func digits(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= s.count, s[range].allSatisfy(\.isASCIIDigit) else { return nil }
            return s[range].reduce(0) { $0 * 10 + Int($1.value - 0x30) }
        }
        guard s.count >= 7, let year = digits(0..<4), s[4] == "-", let month = digits(5..<7), (1...12).contains(month) else {
            return false
        }
        if s.count == 7 { return true }
        guard s.count >= 10, s[7] == "-", let day = digits(8..<10), (1...daysIn(month: month, year: year)).contains(day) else { return false }
        if s.count == 10 { return true }
        guard s.count >= 16, s[10] == "T", let hour = digits(11..<13), hour <= 23, s[13] == ":", let minute = digits(14..<16), minute <= 59 else {
            return false
        }
        var index = 16
        if index < s.count, s[index] == ":" {
            guard let second = digits((index + 1)..<(index + 3)), second <= 59 else { return false }
            index += 3
            if index < s.count, s[index] == "." {
                let start = index + 1
                index = start
                while index < s.count, s[index].isASCIIDigit { index += 1 }
                guard index > start, index - start <= 9 else { return false }
            }
        }
        // The time zone designator the W3C profile requires with a time.
        if index < s.count, s[index] == "Z" { return index + 1 == s.count }
        guard index + 6 == s.count, s[index] == "+" || s[index] == "-", let offsetHour = digits((index + 1)..<(index + 3)), offsetHour <= 23,
              s[index + 3] == ":", let offsetMinute = digits((index + 4)..<(index + 6)), offsetMinute <= 59 else { return false }
        return true
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    static func isBase64(_ text: String) -> Bool {
        let s = Array(text.unicodeScalars)
        guard !s.isEmpty, s.count % 4 == 0 else { return false }
        let padding = s.reversed().prefix { $0 == "=" }.count
        guard padding <= 2 else { return false }
        return s.dropLast(padding).allSatisfy { $0.isASCIILetter || $0.isASCIIDigit || $0 == "+" || $0 == "/" }
    }

    /// Why a text is not an IPv4 or IPv6 address with an optional `/prefix`, or nil when it is one.
    static func ipProblem(_ text: String) -> String? {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let address = String(parts[0])
        let isV6 = address.contains(":")
        let bits = isV6 ? 128 : 32
        if isV6 ? !isIPv6(address) : !isIPv4(address) {
            return "is not an IP address or CIDR range"
        }
        if parts.count == 2 {
            let prefix = parts[1]
            guard !prefix.isEmpty, prefix.count <= 3, prefix.unicodeScalars.allSatisfy(\.isASCIIDigit), let length = Int(prefix) else {
                return "has a prefix length that is not a number"
            }
            if length > bits { return "has a prefix length of /\(length), more than the \(bits) bits of an IPv\(isV6 ? 6 : 4) address" }
        }
        return nil
    }

    static func isIPv4(_ text: String) -> Bool {
        let octets = text.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets.allSatisfy { octet in
            (1...3).contains(octet.count) && octet.unicodeScalars.allSatisfy(\.isASCIIDigit) && (Int(octet) ?? 256) <= 255
        }
    }

    static func isIPv6(_ text: String) -> Bool {
        guard text.unicodeScalars.count <= 45 else { return false }
        var groups = 0
        var text = Substring(text)
        // An embedded IPv4 address at the end (`::ffff:10.0.0.1`) stands for the last two groups.
        if let lastColon = text.lastIndex(of: ":"), text[text.index(after: lastColon)...].contains(".") {
            guard isIPv4(String(text[text.index(after: lastColon)...])) else { return false }
            groups += 2
            text = text[...lastColon]
            if !text.hasSuffix("::") { text = text.dropLast() }
        }
        let halves = splitAtDoubleColons(text)
        guard halves.count <= 2 else { return false }
        for half in halves where !half.isEmpty {
            for group in half.split(separator: ":", omittingEmptySubsequences: false) {
                guard (1...4).contains(group.count), group.unicodeScalars.allSatisfy({ $0.properties.isASCIIHexDigit }) else { return false }
                groups += 1
            }
        }
        return halves.count == 2 ? groups <= 7 : groups == 8
    }

    /// The pieces of an IPv6 address around each `::`.
    static func splitAtDoubleColons(_ text: Substring) -> [Substring] {
        var pieces: [Substring] = []
        var start = text.startIndex
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(after: index)
            if text[index] == ":", next < text.endIndex, text[next] == ":" {
                pieces.append(text[start..<index])
                index = text.index(after: next)
                start = index
            } else {
                index = next
            }
        }
        pieces.append(text[start...])
        return pieces
    }
}
