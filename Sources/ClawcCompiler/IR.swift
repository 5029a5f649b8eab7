import ClawcPolicy
import ClawcSyntax

/// A statement on its way through the passes: a policy statement plus where it came from.
public struct IRStatement: Sendable, Equatable {
    /// Indices of the rule's grants this statement carries (several after merging).
    public var grants: [Int]
    /// Sids of those grants, in order; the emitted Sid is kept only while they agree.
    public var sids: [String]
    public var actions: [String]
    public var resources: [String]
    public var conditions: ConditionBlock
    public var narrowToTargets: Bool

    /// The statement as emitted.
    public var statement: Statement {
        let distinct = Set(sids)
        let sid = distinct.count == 1 && sids.count == grants.count ? sids.first : nil
        return Statement(sid: sid, actions: actions, resources: resources, conditions: conditions)
    }
}

/// The compiler's intermediate representation: the statements of one task's policy, in rule order.
public struct PolicyIR: Sendable, Equatable {
    public var statements: [IRStatement]
    /// Set by size fitting: emit no Sids.
    public var dropSids = false

    public init(statements: [IRStatement], dropSids: Bool = false) {
        self.statements = statements
        self.dropSids = dropSids
    }

    public var policy: Policy {
        Policy(statements: statements.map { statement in
            var s = statement.statement
            if dropSids { s.sid = nil }
            return s
        })
    }
}
