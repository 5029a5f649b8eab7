import ClawcCatalog
import ClawcDiagnostics
import ClawcPolicy
import ClawcSyntax

/// What a pass may read and report: the rule, the task, the catalog, the size limit, and an explain log.
public struct PassContext {
    public let rule: Rule
    public let task: Task
    public let catalog: Catalog
    public let maxChars: Int
    public var diagnostics: [Diagnostic] = []
    /// The prover's work budget for this compile, shared by every containment decision of every pass and the
    /// final proof, so that no rule or task can make a compile take more than about a second.
    public let budget: ProverBudget
    /// What each pass did, for `--explain`. Never holds secrets.
    public var log: [String] = []

    public init(rule: Rule, task: Task, catalog: Catalog, maxChars: Int, budget: ProverBudget = ProverBudget(units: PassContext.compileBudget)) {
        self.budget = budget
        self.rule = rule
        self.task = task
        self.catalog = catalog
        self.maxChars = maxChars
    }

    /// The work budget of one compile: the passes and the final proof together.
    public static let compileBudget = 2 * ProverBudget.defaultUnits

    mutating func note(_ pass: String, _ text: String) { log.append("\(pass): \(text)") }
}

/// One step of the pipeline over the IR, with one job.
public protocol Pass: Sendable {
    /// A stable kebab-case name, shown by `--explain`.
    var name: String { get }
    /// One line saying what the pass does.
    var summary: String { get }
    func run(_ ir: inout PolicyIR, _ context: inout PassContext)
    /// Whether the rule lets this pass grant more than the step before, within the rule's envelope (size
    /// fitting's opt-in resource collapse). Debug builds then check the pass against the envelope only.
    func mayWidenWithinEnvelope(_ context: PassContext) -> Bool
}

extension Pass {
    public func mayWidenWithinEnvelope(_ context: PassContext) -> Bool { false }
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
