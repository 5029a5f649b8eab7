import ClawcPolicy

/// An independent model of IAM's decision "does this Allow-only policy allow (action, resource)", written from
/// AWS's documentation and sharing no code with the prover: its own wildcard matcher, its own ARN split.
///
/// Two readings of the documented wildcard rule are modelled. `fieldwise`: an ARN pattern's wildcards stay
/// within the colon-separated segment they are written in (partition, service, region, account), the resource
/// part being everything after the fifth colon; this is what a rule author means. `wholeString`: every `*` and `?`
/// may match colons too, the widest thing IAM could do. A pattern that is not `arn:` and five more parts is read
/// as one string in both.
enum ReferenceModel {
    enum Reading: CaseIterable {
        case fieldwise, wholeString
    }

    /// Classic dynamic-programming wildcard match (over UTF-8 bytes: the generated texts are ASCII); quadratic,
    /// obviously correct.
    static func globMatch(_ pattern: String, _ text: String) -> Bool {
        let p = Array(pattern.utf8), t = Array(text.utf8)
        var row = [Bool](repeating: false, count: t.count + 1)
        var next = row
        row[0] = true
        for pc in p {
            next[0] = pc == UInt8(ascii: "*") && row[0]
            if t.count > 0 {
                for j in 1...t.count {
                    next[j] = pc == UInt8(ascii: "*") ? (next[j - 1] || row[j]) : (row[j - 1] && (pc == UInt8(ascii: "?") || pc == t[j - 1]))
                }
            }
            swap(&row, &next)
        }
        return row[t.count]
    }

    /// The six parts of an ARN (`arn`, partition, service, region, account, resource), or nil.
    static func arnParts(_ text: String) -> [String]? {
        var parts: [String] = []
        var current = ""
        for character in text {
            if character == ":" && parts.count < 5 {
                parts.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        parts.append(current)
        return parts.count == 6 && parts[0] == "arn" ? parts : nil
    }

    static func resourceMatches(_ pattern: String, _ request: String, _ reading: Reading) -> Bool {
        guard reading == .fieldwise, let p = arnParts(pattern) else { return globMatch(pattern, request) }
        guard let r = arnParts(request) else { return false }
        return zip(p, r).allSatisfy { globMatch($0, $1) }
    }

    static func actionMatches(_ pattern: String, _ action: String) -> Bool {
        globMatch(pattern.lowercased(), action.lowercased())
    }

    /// `StringEquals`/`StringLike` over a request context; any other operator is not modelled (nil).
    static func conditionsHold(_ block: ConditionBlock, _ context: [String: String]) -> Bool? {
        for (op, keys) in block.entries {
            for (key, values) in keys {
                guard let value = context[key] else { return false }
                switch op {
                case "StringEquals": if !values.contains(value) { return false }
                case "StringLike": if !values.contains(where: { globMatch($0, value) }) { return false }
                default: return nil
                }
            }
        }
        return true
    }

    static func allows(
        _ policy: Policy, action: String, resource: String, context: [String: String] = [:], reading: Reading = .fieldwise
    ) -> Bool {
        policy.statements.contains { statement in
            statement.actions.contains { actionMatches($0, action) }
                && statement.resources.contains { resourceMatches($0, resource, reading) }
                && conditionsHold(statement.conditions, context) == true
        }
    }

    /// Concrete request ARNs a pattern matches, with wildcards filled by hostile pieces (colons, other accounts).
    static func instances(of pattern: String, _ rng: inout SplitMix64, count: Int = 4) -> [String] {
        let fillers = ["", "x", "a.log", "/", ":", "999999999999", ":999999999999:", "us-east-1:999999999999:log-group:z",
                       "1:123456789012:log-group:/acme/q", "x/y.log", "east-1"]
        return (0..<count).map { _ in
            var out = ""
            for scalar in pattern.unicodeScalars {
                switch scalar {
                case "*": out += fillers.randomElement(using: &rng) ?? ""
                case "?": out += ["x", ":", "1", "/"].randomElement(using: &rng) ?? "x"
                default: out.unicodeScalars.append(scalar)
                }
            }
            return out
        }
    }
}
