/// Canonical policy JSON: minified, keys in a fixed order, deterministic byte for byte.
///
/// Order: `Version`, `Statement`; in a statement `Sid`, `Effect`, `Action`, `Resource`, `Condition`.
/// Actions, resources, condition operators, keys and values are sorted by Unicode scalar value.
/// The fixed rule for lists: one element is written as a string, two or more as an array.
public enum PolicyJSON {
    public static let version = "2012-10-17"

    /// The policy as sent to STS, without a trailing newline.
    public static func emit(_ policy: Policy) -> String {
        var out = "{\"Version\":\"\(version)\",\"Statement\":["
        for (index, statement) in policy.statements.enumerated() {
            if index > 0 { out += "," }
            out += emit(statement)
        }
        return out + "]}"
    }

    /// One statement as a JSON object.
    public static func emit(_ statement: Statement) -> String {
        var out = "{"
        if let sid = statement.sid { out += "\"Sid\":\(string(sid))," }
        out += "\"Effect\":\"Allow\",\"Action\":\(list(statement.actions)),\"Resource\":\(list(statement.resources))"
        if !statement.conditions.isEmpty {
            out += ",\"Condition\":{"
            let ops = statement.conditions.entries.keys.sorted(by: scalarOrder)
            for (i, op) in ops.enumerated() {
                if i > 0 { out += "," }
                out += "\(string(op)):{"
                let keys = (statement.conditions.entries[op] ?? [:]).sorted { scalarOrder($0.key, $1.key) }
                for (j, entry) in keys.enumerated() {
                    if j > 0 { out += "," }
                    out += "\(string(entry.key)):\(list(entry.value))"
                }
                out += "}"
            }
            out += "}"
        }
        return out + "}"
    }

    /// Sorted, de-duplicated values: a string for one, an array for more.
    static func list(_ values: [String]) -> String {
        // The passes hand over sorted, unique lists; sort only what is not.
        let ordered = zip(values, values.dropFirst()).allSatisfy { scalarOrder($0, $1) }
        let sorted = ordered ? values : Array(Set(values)).sorted(by: scalarOrder)
        if sorted.count == 1 { return string(sorted[0]) }
        return "[" + sorted.map(string).joined(separator: ",") + "]"
    }

    /// Order by Unicode scalar values, independent of locale.
    public static func scalarOrder(_ a: String, _ b: String) -> Bool {
        a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars)
    }

    /// A JSON string literal; `"`, `\` and control characters escaped, nothing else.
    public static func string(_ value: String) -> String {
        // Nearly every value needs no escaping: check the bytes and copy it whole.
        if value.utf8.allSatisfy({ $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
            return "\"" + value + "\""
        }
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// Characters as STS counts them for the 2,048 limit: the policy text without the trailing newline.
    public static func size(_ policy: Policy) -> Int { emit(policy).unicodeScalars.count }
}
