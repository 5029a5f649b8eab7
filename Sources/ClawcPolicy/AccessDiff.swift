import ClawcSyntax

/// The access one policy grants and another does not, as readable (action, resource, condition) rows.
public enum AccessDiff {
    /// One granted (action, resource) pair under a statement's conditions.
    public struct Row: Hashable, Sendable, CustomStringConvertible {
        public var action: String
        public var resource: String
        public var conditions: ConditionBlock

        public var description: String {
            var text = "\(action)  \(resource)"
            let triples = conditions.triples
            if !triples.isEmpty {
                text += "  when " + triples.map { "\($0.op) \($0.key) = \($0.values.joined(separator: "|"))" }.joined(separator: " and ")
            }
            return text
        }
    }

    public struct Result: Sendable {
        /// Rows of the new policy the old one does not cover.
        public var added: [Row]
        /// Rows of the old policy the new one does not cover.
        public var removed: [Row]
        public var isEmpty: Bool { added.isEmpty && removed.isEmpty }
    }

    /// Every row of a policy, actions expanded by `expand` (catalog wildcards), in a stable order.
    public static func rows(_ policy: Policy, expand: (String) -> [String]) -> [Row] {
        var seen = Set<Row>()
        var out: [Row] = []
        for statement in policy.statements {
            for action in statement.actions.flatMap(expand) {
                for resource in statement.resources {
                    let row = Row(action: action, resource: resource, conditions: statement.conditions)
                    if seen.insert(row).inserted { out.append(row) }
                }
            }
        }
        return out.sorted { ($0.action.lowercased(), $0.resource) < ($1.action.lowercased(), $1.resource) }
    }

    /// What `new` adds to and removes from `old`. A row counts as kept when the other policy covers it; a decision
    /// over `budget` counts as not covered, so the answer is never a wrong "same access".
    public static func diff(
        old: Policy, new: Policy, budget: ProverBudget = ProverBudget(units: 8 * ProverBudget.defaultUnits),
        expand: @escaping (String) -> [String]
    ) -> Result {
        Result(
            added: uncovered(rows(new, expand: expand), by: Cover(old, expand: expand), budget),
            removed: uncovered(rows(old, expand: expand), by: Cover(new, expand: expand), budget))
    }

    /// One policy prepared for many row lookups: per statement, its exact actions (lowercased) in a set, its
    /// action wildcards, its resource patterns parsed once.
    struct Cover {
        struct Entry {
            var exact: Set<String>
            var wildcards: [String]
            var resources: [ResourcePattern]
            var texts: Set<String>
            var conditions: ConditionBlock
        }
        var entries: [Entry]

        init(_ policy: Policy, expand: (String) -> [String]) {
            entries = policy.statements.map { statement in
                let actions = statement.actions.flatMap(expand)
                return Entry(
                    exact: Set(actions.filter { !Wildcard.hasWildcards($0) }.map { $0.lowercased() }),
                    wildcards: actions.filter { Wildcard.hasWildcards($0) }, resources: statement.resources.map(ResourcePattern.init),
                    texts: Set(statement.resources), conditions: statement.conditions)
            }
        }

        func covers(_ row: Row, budget: ProverBudget) -> Bool {
            let action = row.action.lowercased()
            let candidates = entries.filter { entry in
                (entry.exact.contains(action) || entry.wildcards.contains { GrantContainment.actionCovers($0, row.action) })
                    && GrantContainment.implies(row.conditions, entry.conditions, .exact)
            }
            // The same text under a covering statement: covered, no search needed.
            if candidates.contains(where: { $0.texts.contains(row.resource) }) { return true }
            guard budget.charge(1 + candidates.count) else { return false }
            return ResourcePattern.search(in: ResourcePattern(row.resource), outside: candidates.flatMap(\.resources), budget: budget) == .contained
        }
    }

    static func uncovered(_ rows: [Row], by cover: Cover, _ budget: ProverBudget) -> [Row] {
        rows.filter { !cover.covers($0, budget: budget) }
    }
}
