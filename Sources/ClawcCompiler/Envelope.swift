import ClawcPolicy
import ClawcSyntax

/// The most a rule can ever grant: its grants with every slot replaced by all the values it may take.
///
/// A param with `match` stands for its glob, one with `oneOf` for each listed value, anything else for `*`
/// (slot values are restricted to safe characters, and `*` covers them all). The envelope over-approximates,
/// so "inside the envelope" is a sound claim about what a compiled policy can grant.
public enum Envelope {
    /// Every pattern a template can become.
    public static func patterns(for template: Template, in rule: Rule) -> [String] {
        var results = [""]
        for piece in template.pieces {
            let options: [String]
            switch piece {
            case .literal(let text):
                options = [text]
            case .slot(.param(let name), _, _):
                let param = rule.param(named: name)
                if let oneOf = param?.oneOf {
                    options = oneOf.map(\.value).filter { value in param?.match.map { Wildcard.matches(pattern: $0.value, value) } ?? true }
                } else {
                    options = [param?.match?.value ?? "*"]
                }
            case .slot:
                options = ["*"]
            }
            results = results.flatMap { prefix in options.map { prefix + $0 } }
        }
        return results
    }

    /// One typical value of a template, for deciding which resource types a pattern names: each slot becomes its
    /// default, its first `oneOf` value, or its `match` glob with wildcards replaced by a plain letter.
    ///
    /// A slot value could in principle hold `/` or `:` and reshape an ARN (a bucket slot turning into an object
    /// path); resource-type checks judge the pattern as the rule author wrote it, not by such values.
    public static func sample(for template: Template, in rule: Rule) -> String {
        template.pieces.map { piece in
            switch piece {
            case .literal(let text):
                return text
            case .slot(.param(let name), _, _):
                let param = rule.param(named: name)
                if let value = param?.defaultValue?.value ?? param?.oneOf?.first?.value { return value }
                let glob = param?.match?.value ?? "x"
                return String(glob.map { $0 == "*" || $0 == "?" ? "x" : $0 })
            case .slot:
                return "x"
            }
        }.joined()
    }

    /// The rule's envelope as policy statements over the lowered actions (one per grant, in order).
    public static func statements(for rule: Rule, lowered: [IRStatement]) -> [Statement] {
        lowered.map { statement in
            guard let index = statement.grants.first else { return statement.statement }
            let grant = rule.grants[index]
            var conditions = ConditionBlock()
            for condition in grant.conditions {
                // For an operator that passes when the request's value is one of the listed ones, a slot stands
                // for every value it may take. For any other (`StringNotEquals`, `ForAllValues:…`, …) no pattern
                // stands for "not some value of the slot": the envelope leaves the key out, which only widens it.
                let hasSlot = condition.values.contains { $0.pieces.contains { if case .slot = $0 { true } else { false } } }
                if hasSlot && !GrantContainment.isPositive(condition.op.value) { continue }
                conditions.add(condition.op.value, condition.key.value, condition.values.flatMap { patterns(for: $0, in: rule) })
            }
            return Statement(
                actions: statement.actions, resources: grant.resources.flatMap { patterns(for: $0, in: rule) }, conditions: conditions)
        }
    }
}
