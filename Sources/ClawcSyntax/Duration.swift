/// Durations as written in rules and tasks: `90s`, `10m`, `1h`, `1h30m`, or plain seconds.
public enum DurationText {
    /// Seconds for a duration text, or nil when it is not one.
    public static func seconds(_ text: String) -> Int? {
        if !text.isEmpty, text.allSatisfy(\.isASCII), let plain = Int(text), plain >= 0 { return plain }
        var total = 0
        var number = ""
        var sawUnit = false
        for character in text {
            if character.isASCII, character.isNumber {
                number.append(character)
                continue
            }
            let unit: Int
            switch character {
            case "s": unit = 1
            case "m": unit = 60
            case "h": unit = 3600
            case "d": unit = 86400
            default: return nil
            }
            guard let value = Int(number), number.count <= 7 else { return nil }
            total += value * unit
            number = ""
            sawUnit = true
        }
        guard number.isEmpty, sawUnit else { return nil }
        return total
    }

    /// A short form for messages: `900s (15m)`.
    public static func describe(_ seconds: Int) -> String {
        if seconds % 3600 == 0, seconds > 0 { return "\(seconds / 3600)h" }
        if seconds % 60 == 0, seconds > 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }
}
