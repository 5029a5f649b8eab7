/// Matching of one concrete string against a `*`/`?` glob, as IAM matches ARNs and `StringLike` values.
public enum Wildcard {
    /// Whether `text` holds `*` or `?`; a byte scan (Foundation's `String.contains(_:)` is far slower).
    /// Inlinable, so callers in other modules get it specialized for their string type instead of going through
    /// the generic entry point's witness tables.
    @inlinable
    public static func hasWildcards(_ text: some StringProtocol) -> Bool {
        text.utf8.contains { $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: "?") }
    }

    /// Whether `text` is in the language of `pattern`: `*` any run of characters (including none), `?` one.
    public static func matches(pattern: String, _ text: String) -> Bool {
        matches(pattern: Array(pattern.unicodeScalars)[...], Array(text.unicodeScalars)[...])
    }

    /// The same on scalar slices, with one backtrack point per `*` (linear in practice, no allocation).
    public static func matches(pattern p: ArraySlice<Unicode.Scalar>, _ t: ArraySlice<Unicode.Scalar>) -> Bool {
        var pi = p.startIndex, ti = t.startIndex
        var star = -1, resume = t.startIndex
        while ti < t.endIndex {
            if pi < p.endIndex, p[pi] == "?" || (p[pi] != "*" && p[pi] == t[ti]) {
                pi += 1
                ti += 1
            } else if pi < p.endIndex, p[pi] == "*" {
                star = pi
                resume = ti
                pi += 1
            } else if star >= 0 {
                pi = star + 1
                resume += 1
                ti = resume
            } else {
                return false
            }
        }
        while pi < p.endIndex, p[pi] == "*" { pi += 1 }
        return pi == p.endIndex
    }
}
