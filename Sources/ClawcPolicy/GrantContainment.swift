import ClawcSyntax

/// A sound check that one list of Allow statements grants nothing beyond another.
///
/// "Sound" means a `nil` answer (contained) is never wrong; when it cannot tell, it reports a grant as uncovered.
public enum GrantContainment {
    /// An (action, resource) pair of the inner statements that no outer statement covers.
    public struct Uncovered: Sendable, Equatable, CustomStringConvertible {
        public var action: String
        public var resource: String
        public var statement: Int
        /// A concrete request resource the inner side allows and the outer does not, when one was found.
        public var example: String?
        /// The prover ran out of budget: the grant may be covered, but that could not be shown.
        public var overBudget = false

        public init(action: String, resource: String, statement: Int, example: String?, overBudget: Bool = false) {
            self.action = action
            self.resource = resource
            self.statement = statement
            self.example = example
            self.overBudget = overBudget
        }

        public var description: String {
            "(`\(action)`, `\(resource)`) of statement \(statement + 1)"
                + (example.map { ", e.g. a request on `\($0)`" } ?? "")
                + (overBudget ? " (the proof ran over its work budget, so clawc does not claim it is covered)" : "")
        }
    }

    /// How an outer condition value is compared with an inner one.
    public enum ValueMatching: Sendable {
        /// Values are compared as equal strings.
        case exact
        /// Outer values are patterns (the rule envelope, where a slot stands for every value it may take).
        case outerIsPattern
    }

    /// Whether outer action `outer` covers inner action `inner`: case-insensitive, `*`/`?` in either.
    public static func actionCovers(_ outer: String, _ inner: String) -> Bool {
        // Most actions are exact names: compare them without building patterns.
        if !Wildcard.hasWildcards(outer) && !Wildcard.hasWildcards(inner) {
            return outer.utf8.count == inner.utf8.count && outer.lowercased() == inner.lowercased()
        }
        return Glob(outer.lowercased()).contains(Glob(inner.lowercased()))
    }

    /// The first inner grant not covered by `outer`, or nil when every grant is covered.
    ///
    /// `expand` turns an inner action wildcard into the exact actions it stands for (through the catalog), so each
    /// is checked on its own; without it a wildcard is covered only by an equal or wider outer pattern. Resources
    /// are compared as `ResourcePattern`s (ARN field by field). Every search is charged to `budget`; one that runs
    /// over reports the grant as uncovered, with no example.
    public static func firstUncovered(
        _ inner: [Statement], in outer: [Statement], values: ValueMatching = .exact,
        budget: ProverBudget = ProverBudget(), expand: (String) -> [String] = { [$0] }
    ) -> Uncovered? {
        let outerPatterns = outer.map { $0.resources.map(ResourcePattern.init) }
        for (index, statement) in inner.enumerated() {
            let candidates = outer.indices.filter { implies(statement.conditions, outer[$0].conditions, values) }
            let patterns = statement.resources.map(ResourcePattern.init)
            for action in statement.actions.flatMap(expand) {
                let withAction = candidates.filter { o in outer[o].actions.contains { actionCovers($0, action) } }
                let union = withAction.flatMap { outerPatterns[$0] }
                for pattern in patterns {
                    switch ResourcePattern.search(in: pattern, outside: union, budget: budget) {
                    case .contained: continue
                    case .witness(let example):
                        return Uncovered(action: action, resource: pattern.text, statement: index, example: example)
                    case .unknown:
                        return Uncovered(action: action, resource: pattern.text, statement: index, example: nil, overBudget: true)
                    }
                }
            }
        }
        return nil
    }

    /// Whether a request meeting `inner` always meets `outer`. Conservative: unsure means no.
    public static func implies(_ inner: ConditionBlock, _ outer: ConditionBlock, _ values: ValueMatching) -> Bool {
        for (op, keys) in outer.entries {
            for (key, outerValues) in keys {
                guard let innerValues = inner.entries[op]?[key] else { return false }
                // Values are compared as bytes: `String` equality (and hashing) is canonical equivalence, under which
                // a composed and a decomposed `é` are one value, and IAM's comparisons are not.
                if Set(innerValues.map { Array($0.utf8) }) == Set(outerValues.map { Array($0.utf8) }) { continue }
                // For positive single-valued operators, fewer alternatives on the inner side is stricter.
                guard isPositive(op) else { return false }
                for value in innerValues {
                    let ok = outerValues.contains { outerValue in
                        switch values {
                        case .exact: outerValue.utf8.elementsEqual(value.utf8)
                        // IAM compares ARN values field by field, as resources: the same containment.
                        case .outerIsPattern where op.hasPrefix("Arn"): ResourcePattern(outerValue).contains(ResourcePattern(value))
                        // A `StringLike` value is itself a pattern: its language must lie inside.
                        case .outerIsPattern: op.hasSuffix("Like") ? Glob(outerValue).contains(Glob(value)) : Glob(outerValue).matches(value)
                        }
                    }
                    if !ok { return false }
                }
            }
        }
        return true
    }

    /// Operators where a request passes when its value equals (or matches) any listed value.
    public static func isPositive(_ op: String) -> Bool {
        ["StringEquals", "StringLike", "ArnEquals", "ArnLike", "StringEqualsIgnoreCase"].contains(op)
    }
}
