/// An IAM condition block: operator → key → values. Keys are AND-ed, the values of one key OR-ed.
public struct ConditionBlock: Hashable, Sendable {
    public var entries: [String: [String: [String]]]

    public init(_ entries: [String: [String: [String]]] = [:]) { self.entries = entries }

    public var isEmpty: Bool { entries.isEmpty }

    /// Adds values under `op` and `key`, keeping each value once.
    public mutating func add(_ op: String, _ key: String, _ values: [String]) {
        var existing = entries[op, default: [:]][key, default: []]
        for value in values where !existing.contains(value) { existing.append(value) }
        entries[op, default: [:]][key] = existing.sorted()
    }

    /// Every (operator, key, values) triple, in emission order.
    public var triples: [(op: String, key: String, values: [String])] {
        entries.keys.sorted().flatMap { op in
            (entries[op] ?? [:]).keys.sorted().map { key in (op, key, entries[op]?[key] ?? []) }
        }
    }
}

/// One Allow statement of a session policy.
public struct Statement: Hashable, Sendable {
    public var sid: String?
    public var actions: [String]
    public var resources: [String]
    public var conditions: ConditionBlock

    public init(sid: String? = nil, actions: [String], resources: [String], conditions: ConditionBlock = ConditionBlock()) {
        self.sid = sid
        self.actions = actions
        self.resources = resources
        self.conditions = conditions
    }
}

/// A session policy: Allow statements only (clawc never emits Deny, NotAction or NotResource).
public struct Policy: Hashable, Sendable {
    public var statements: [Statement]

    public init(statements: [Statement]) { self.statements = statements }
}
