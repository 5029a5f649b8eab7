import ClawcCatalog
import ClawcDiagnostics
import ClawcSyntax

/// What a pass may read and report: the rule, the task, the catalog, the size limit, and an explain log.
public struct PassContext {
    public let rule: Rule
    public let task: Task
    public let catalog: Catalog
    public let maxChars: Int
    public var diagnostics: [Diagnostic] = []
    /// What each pass did, for `--explain`. Never holds secrets.
    public var log: [String] = []

    public init(rule: Rule, task: Task, catalog: Catalog, maxChars: Int) {
        self.rule = rule
        self.task = task
        self.catalog = catalog
        self.maxChars = maxChars
    }

    mutating func note(_ pass: String, _ text: String) { log.append("\(pass): \(text)") }
}

/// One step of the pipeline over the IR, with one job.
public protocol Pass: Sendable {
    /// A stable kebab-case name, shown by `--explain`.
    var name: String { get }
    /// One line saying what the pass does.
    var summary: String { get }
    func run(_ ir: inout PolicyIR, _ context: inout PassContext)
}

/// The passes, in the order they run. The order is part of the design, not an accident of file names:
/// - slot filling first: every later pass works on concrete strings;
/// - target narrowing needs filled envelopes to test the task's targets against;
/// - action canonicalization and resource subsumption before merging, so equal sets compare equal;
/// - statement merging before size fitting, which only drops Sids or widens (opt-in) when merging was not enough.
public enum Pipeline {
    public static let passes: [any Pass] = [
        SlotFilling(),
        TargetNarrowing(),
        ActionCanonicalization(),
        ResourceSubsumption(),
        StatementMerging(),
        SizeFitting(),
    ]
}
