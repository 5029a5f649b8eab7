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

        public var description: String {
            "(`\(action)`, `\(resource)`) of statement \(statement + 1)" + (example.map { ", e.g. a request on `\($0)`" } ?? "")
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
        Glob(outer.lowercased()).contains(Glob(inner.lowercased()))
    }

    /// The first inner grant not covered by `outer`, or nil when every grant is covered.
    ///
    /// `expand` turns an inner action wildcard into the exact actions it stands for (through the catalog), so each
    /// is checked on its own; without it a wildcard is covered only by an equal or wider outer pattern.
    public static func firstUncovered(
        _ inner: [Statement], in outer: [Statement], values: ValueMatching = .exact,
        expand: (String) -> [String] = { [$0] }
    ) -> Uncovered? {
        let outerGlobs = outer.map { $0.resources.map(Glob.init) }
        for (index, statement) in inner.enumerated() {
            let candidates = outer.indices.filter { implies(statement.conditions, outer[$0].conditions, values) }
            let globs = statement.resources.map(Glob.init)
            for action in statement.actions.flatMap(expand) {
                let withAction = candidates.filter { o in outer[o].actions.contains { actionCovers($0, action) } }
                for glob in globs {
                    // Quick path: one outer pattern covers it; otherwise decide against the union of them all.
                    if withAction.contains(where: { o in outerGlobs[o].contains { $0.contains(glob) } }) { continue }
                    let union = withAction.flatMap { outerGlobs[$0] }
                    if let example = Glob.witness(in: glob, outside: union) {
                        return Uncovered(action: action, resource: glob.text, statement: index, example: example)
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
                if Set(innerValues) == Set(outerValues) { continue }
                // For positive single-valued operators, fewer alternatives on the inner side is stricter.
                guard isPositive(op) else { return false }
                for value in innerValues {
                    let ok = outerValues.contains { outerValue in
                        switch values {
                        case .exact: outerValue == value
                        case .outerIsPattern: Glob(outerValue).matches(value)
                        }
                    }
                    if !ok { return false }
                }
            }
        }
        return true
    }

    /// Operators where a request passes when its value equals (or matches) any listed value.
    static func isPositive(_ op: String) -> Bool {
        ["StringEquals", "StringLike", "ArnEquals", "ArnLike", "StringEqualsIgnoreCase"].contains(op)
    }
}
