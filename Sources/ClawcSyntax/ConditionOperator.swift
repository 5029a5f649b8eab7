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
