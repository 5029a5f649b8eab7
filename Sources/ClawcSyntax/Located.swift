import ClawcDiagnostics

/// A value with the stretch of source it came from.
public struct Located<Value: Sendable>: Sendable {
    public var value: Value
    public var span: SourceSpan

    public init(_ value: Value, at span: SourceSpan) {
        self.value = value
        self.span = span
    }
}

extension Located where Value == String {
    /// The span of `count` scalars starting `offset` scalars into the string's value, allowing for an opening quote.
    public func span(ofScalarsAt offset: Int, count: Int) -> SourceSpan {
        span.sub(offset: offset + (quoted ? 1 : 0), length: count)
    }

    /// Whether the source spelled this string with quotes (its span is two scalars longer than its value).
    var quoted: Bool { span.length == value.unicodeScalars.count + 2 }
}
