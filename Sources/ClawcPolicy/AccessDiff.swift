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

    /// What `new` adds to and removes from `old`. A row counts as kept when the other policy covers it.
    public static func diff(old: Policy, new: Policy, expand: @escaping (String) -> [String]) -> Result {
        func uncovered(_ rows: [Row], by policy: Policy) -> [Row] {
            let outer = policy.statements.map { s in Statement(actions: s.actions.flatMap(expand), resources: s.resources, conditions: s.conditions) }
            return rows.filter { row in
                let inner = [Statement(actions: [row.action], resources: [row.resource], conditions: row.conditions)]
                return GrantContainment.firstUncovered(inner, in: outer) != nil
            }
        }
        return Result(added: uncovered(rows(new, expand: expand), by: old), removed: uncovered(rows(old, expand: expand), by: new))
    }
}
