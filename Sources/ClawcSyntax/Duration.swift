/// Durations as written in rules and tasks: `90s`, `10m`, `1h`, `1h30m`, or plain seconds.
public enum DurationText {
    /// Why a text is not a usable duration.
    public enum Problem: Error, Equatable {
        /// Not digits, and not numbers each followed by `s`, `m`, `h` or `d`.
        case notADuration
        /// A duration, but more seconds than an `Int` holds (`9223372036854775808`, `99999999999999999h`).
        case overflow
    }

    /// Seconds for a duration text. Never traps: a sum or product past `Int.max` is `.overflow`, and callers
    /// check the range they need (a task estimate, a rule lifetime) on the result.
    public static func parse(_ text: String) -> Result<Int, Problem> {
        let scalars = text.unicodeScalars
        guard !scalars.isEmpty else { return .failure(.notADuration) }
        // Syntax first, so `99999999999999999999x` is "not a duration" rather than "too long".
        switch number(Substring.UnicodeScalarView(scalars)) {
        case .value(let plain): return .success(plain)
        case .tooBig: return .failure(.overflow)
        case nil: break
        }
        var total = 0
        var overflowed = false
        var digits = Substring.UnicodeScalarView()
        for scalar in scalars {
            if scalar.isASCIIDigit {
                digits.append(scalar)
                continue
            }
            let unit: Int
            switch scalar {
            case "s": unit = 1
            case "m": unit = 60
            case "h": unit = 3600
            case "d": unit = 86400
            default: return .failure(.notADuration)
            }
            guard let parsed = number(digits) else { return .failure(.notADuration) }
            digits = Substring.UnicodeScalarView()
            guard case .value(let value) = parsed else { overflowed = true; continue }
            let (product, productOverflow) = value.multipliedReportingOverflow(by: unit)
            let (sum, sumOverflow) = total.addingReportingOverflow(product)
            if productOverflow || sumOverflow { overflowed = true } else { total = sum }
        }
        guard digits.isEmpty else { return .failure(.notADuration) }
        return overflowed ? .failure(.overflow) : .success(total)
    }

    /// Seconds for a duration text, or nil when it is not one (or is too long to count).
    public static func seconds(_ text: String) -> Int? {
        try? parse(text).get()
    }

    private enum Number {
        case value(Int)
        case tooBig
    }

    /// The value of a run of ASCII digits, `.tooBig` when it does not fit an `Int`; nil when it is not digits.
    private static func number(_ digits: Substring.UnicodeScalarView) -> Number? {
        guard !digits.isEmpty, digits.allSatisfy(\.isASCIIDigit) else { return nil }
        var value = 0
        for digit in digits {
            let (shifted, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = shifted.addingReportingOverflow(Int(digit.value - 0x30))
            if o1 || o2 { return .tooBig }
            value = next
        }
        return .value(value)
    }

    /// A short form for messages: `900s (15m)`.
    public static func describe(_ seconds: Int) -> String {
        if seconds % 3600 == 0, seconds > 0 { return "\(seconds / 3600)h" }
        if seconds % 60 == 0, seconds > 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }
}
