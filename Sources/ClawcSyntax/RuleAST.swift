import ClawcDiagnostics

/// One rule file: the scope a task with this purpose may receive.
public struct Rule: Sendable {
    public var file: SourceFile
    public var purpose: Located<String>
    public var summary: Located<String>?
    public var lifetime: Lifetime
    public var params: [Param]
    public var fit: Set<FitOption>
    public var grants: [Grant]
    /// Who may ask for this purpose: the rule's `callers`, or else `defaults.callers` from `clawc.yaml` (filled in
    /// by `RuleSet.load`); nil when neither says (`clawc check` warns, `clawc serve` refuses to start).
    public var callers: Callers? = nil

    public func param(named name: String) -> Param? { params.first { $0.name.value == name } }

    /// True when the rule grants PostgreSQL access (`postgres:` grants); such a rule has no AWS grants.
    public var isPostgres: Bool { grants.contains { $0.postgres != nil } }
}

/// How long credentials for this purpose may live, in seconds.
public struct Lifetime: Sendable {
    /// The shortest credential worth issuing; a floor for paths that allow short lifetimes (scoped credentials).
    public var minSeconds: Located<Int>?
    public var defaultSeconds: Located<Int>?
    public var maxSeconds: Located<Int>?
}

/// A rule parameter, filled from the task's tag of the same name (or its default).
public struct Param: Sendable {
    public var name: Located<String>
    /// A `*`/`?` glob the value must match.
    public var match: Located<String>?
    /// The only values allowed.
    public var oneOf: [Located<String>]?
    public var defaultValue: Located<String>?
}

/// Size-fitting steps a rule permits beyond the always-safe ones.
public enum FitOption: String, Sendable, CaseIterable {
    case allowActionWildcards = "allow-action-wildcards"
    case allowResourceCollapse = "allow-resource-collapse"
}

/// One grant: actions on resources, optionally narrowed to the task's targets and conditioned.
public struct Grant: Sendable {
    /// The grant's whole entry in the `grants` list.
    public var span: SourceSpan
    public var sid: Located<String>?
    public var actions: [Located<String>]
    /// `access: {service: [level, ...]}`, expanded through the catalog.
    public var access: [(service: Located<String>, levels: [Located<String>])]
    public var resources: [Template]
    public var narrowToTargets: Bool
    public var conditions: [Condition]

    /// A name for messages: the Sid, or `grant N`.
    public var name: String

    /// A PostgreSQL grant (`postgres:`) instead of an AWS one; then `actions`, `access`, `resources` are empty.
    public var postgres: PostgresGrant? = nil
}

/// `postgres:` in a grant: privileges on schema-qualified tables (or sequences), optionally on some columns only
/// and, with `rows`, only on the rows whose columns equal the task's values (row-level security).
public struct PostgresGrant: Sendable {
    /// The `postgres:` mapping, where errors about the grant as a whole point.
    public var span: SourceSpan
    /// Upper-cased, known and fitting the objects named (checked by the parser).
    public var privileges: [Located<String>]
    /// `schema.table`, exact; may hold slots (filled and checked as identifiers).
    public var tables: [Template]
    /// `schema.sequence`, exact; for `USAGE`.
    public var sequences: [Template]
    /// Column-level privileges on every table of the grant; empty: the whole table.
    public var columns: [Located<String>]
    /// `rows: {column: value}`: the task sees (and writes) only rows whose columns equal these values.
    public var rows: [(column: Located<String>, value: Template)]

    /// The privileges a table can be granted.
    public static let tablePrivileges = ["SELECT", "INSERT", "UPDATE", "DELETE"]
    /// The privileges a sequence can be granted.
    public static let sequencePrivileges = ["USAGE"]
    /// The privileges that can be limited to columns (PostgreSQL has no column-level DELETE).
    public static let columnPrivileges = ["SELECT", "INSERT", "UPDATE"]
}

/// One `operator: {key: values}` entry of a grant's `when`.
public struct Condition: Sendable {
    public var op: Located<String>
    public var key: Located<String>
    public var values: [Template]
}

/// A task as the orchestrator describes it.
public struct Task: Sendable {
    public var file: SourceFile
    public var taskId: Located<String>
    public var purpose: Located<String>
    public var targetResources: [Located<String>]
    /// The `targetResources` key, where an error about the targets as a whole points.
    public var targetsKey: Located<String>?
    public var tags: [(key: Located<String>, value: Located<String>)]
    public var estimatedDuration: Located<Int>?

    public func tag(_ name: String) -> Located<String>? { tags.first { $0.key.value == name }?.value }
}

/// Settings shared by all rules, from `rules/clawc.yaml`.
public struct Settings: Sendable {
    public var file: SourceFile?
    public var values: [String: Located<String>] = [:]
    /// `defaults: {callers: [...]}`: who may ask for a purpose whose rule names no `callers` of its own.
    public var defaultCallers: Callers?

    public static let keys = ["account", "partition", "region", "issuer", "audience", "roleArn"]
    /// Keys of `clawc.yaml` that are not plain strings.
    public static let structuredKeys = ["defaults"]

    public init(file: SourceFile? = nil, values: [String: Located<String>] = [:]) {
        self.file = file
        self.values = values
    }
}
