import ClawcCatalog
import ClawcDiagnostics
import ClawcPolicy
import ClawcSyntax
import Foundation

/// The whole compile: rules folder and task file in, canonical policy JSON (or diagnostics) out.
public enum Compiler {
    /// The STS session-policy limit, in characters.
    public static let defaultMaxChars = 2048

    /// What one compile produced. Exactly one of `json` and an error in `diagnostics` is present.
    public struct Outcome: Sendable {
        /// The policy text with one trailing newline, or nil on error.
        public var json: String?
        public var ir: PolicyIR?
        public var diagnostics: DiagnosticBag
        /// `--explain` lines: what each pass did.
        public var explain: [String]
        public var rule: Rule?
        public var task: Task?
    }

    /// Reads the rules folder and the task file, then compiles.
    public static func compile(
        rulesDirectory: String, rulesDisplay: String? = nil, taskPath: String, taskDisplay: String? = nil,
        catalog: Catalog, maxChars: Int = defaultMaxChars
    ) -> Outcome {
        var bag = DiagnosticBag()
        let (ruleSet, ruleDiagnostics) = RuleSet.load(directory: rulesDirectory, displayPath: rulesDisplay ?? rulesDirectory)
        bag.add(contentsOf: ruleDiagnostics)
        let (task, taskDiagnostics) = readTask(path: taskPath, display: taskDisplay)
        bag.add(contentsOf: taskDiagnostics)
        guard let ruleSet, let task, !bag.hasErrors else {
            return Outcome(json: nil, ir: nil, diagnostics: bag, explain: [], rule: nil, task: task)
        }
        var outcome = compile(ruleSet: ruleSet, task: task, catalog: catalog, maxChars: maxChars)
        outcome.diagnostics.add(contentsOf: bag.items)
        return outcome
    }

    /// A task file (YAML or JSON), or the diagnostics that say why not.
    public static func readTask(path: String, display: String? = nil) -> (Task?, [Diagnostic]) {
        switch YAMLSource.load(path: path, displayPath: display ?? path) {
        case .failure(let diagnostic): return (nil, [diagnostic])
        case .success(let source): return SyntaxReader.task(source)
        }
    }

    /// Reads the rules folder (and its `postgres-schema.json`, when there is one) and the task file, then plans the
    /// task's PostgreSQL role. `values`: placeholders for the printed plan, or an issuance's own.
    public static func planPostgres(
        rulesDirectory: String, taskPath: String, catalog: Catalog, values: PostgresPlanner.Values = .placeholders
    ) -> (PostgresPlan?, Rule?, Task?, DiagnosticBag) {
        var bag = DiagnosticBag()
        let (ruleSet, ruleDiagnostics) = RuleSet.load(directory: rulesDirectory, displayPath: rulesDirectory)
        bag.add(contentsOf: ruleDiagnostics)
        var schema: PostgresSchema?
        switch PostgresSchema.load(rulesDirectory: rulesDirectory, displayPath: rulesDirectory) {
        case .success(let loaded): schema = loaded
        case .failure(let diagnostic): bag.add(diagnostic)
        }
        let (task, taskDiagnostics) = readTask(path: taskPath)
        bag.add(contentsOf: taskDiagnostics)
        guard let ruleSet, let task, !bag.hasErrors else { return (nil, nil, task, bag) }
        guard let rule = ruleSet.rule(for: task.purpose.value) else {
            let outcome = compile(ruleSet: ruleSet, task: task, catalog: catalog)  // the unknown-purpose error, with its suggestion
            bag.add(contentsOf: outcome.diagnostics.items)
            return (nil, nil, task, bag)
        }
        let (plan, found) = PostgresPlanner.plan(rule: rule, task: task, catalog: catalog, schema: schema, values: values)
        bag.add(contentsOf: found)
        return (plan, rule, task, bag)
    }

    /// Compiles a parsed task against parsed rules.
    public static func compile(ruleSet: RuleSet, task: Task, catalog: Catalog, maxChars: Int = defaultMaxChars) -> Outcome {
        var bag = DiagnosticBag()
        guard let rule = ruleSet.rule(for: task.purpose.value) else {
            let known = ruleSet.rules.map(\.purpose.value)
            let guess = Suggestion.closest(to: task.purpose.value, in: known)
            bag.add(.error(
                "unknown-purpose", "no rule has purpose `\(task.purpose.value)`", at: task.purpose.span,
                help: guess.map { "did you mean `\($0)`?" } ?? "known purposes: \(known.map { "`\($0)`" }.joined(separator: ", "))"))
            return Outcome(json: nil, ir: nil, diagnostics: bag, explain: [], rule: nil, task: task)
        }
        let (lowered, lowerDiagnostics) = RuleLowering(catalog: catalog).lower(rule)
        return run(rule: rule, lowered: lowered, lowerDiagnostics: lowerDiagnostics, task: task, catalog: catalog, maxChars: maxChars)
    }

    /// The passes and emission for a rule already checked and lowered.
    static func run(rule: Rule, lowered: [IRStatement], lowerDiagnostics: [Diagnostic], task: Task, catalog: Catalog, maxChars: Int) -> Outcome {
        var bag = DiagnosticBag()
        if rule.isPostgres {
            bag.add(.error(
                "postgres-rule", "rule `\(rule.purpose.value)` grants PostgreSQL access, not AWS access", at: task.purpose.span,
                help: "compile it with `clawc compile --target postgres`, issue it with `clawc issue --to postgres`",
                notes: [.init("the rule is here", at: rule.purpose.span)]))
            return Outcome(json: nil, ir: nil, diagnostics: bag, explain: [], rule: rule, task: task)
        }
        // Lint warnings belong to `clawc check`; a compile reports only what stops it.
        bag.add(contentsOf: lowerDiagnostics.filter { $0.severity == .error })
        if bag.hasErrors { return Outcome(json: nil, ir: nil, diagnostics: bag, explain: [], rule: rule, task: task) }

        var ir = PolicyIR(statements: lowered)
        var context = PassContext(rule: rule, task: task, catalog: catalog, maxChars: maxChars)
        let hooks = Compiler.hooks
        let envelope = Envelope.statements(for: rule, lowered: lowered)
        #if DEBUG
        // Debug builds also prove after every pass that nothing grew: inside the rule's envelope, inside the step
        // before. A failure names the pass.
        var previous: [Statement]?
        let checkEachPass = hooks?.checkEachPass ?? true
        let debugBudget = ProverBudget(units: PassContext.compileBudget)
        #endif
        for pass in Pipeline.passes + (hooks?.extraPasses ?? []) {
            pass.run(&ir, &context)
            if context.diagnostics.contains(where: { $0.severity == .error }) { break }
            #if DEBUG
            guard checkEachPass else { continue }
            let current = ir.policy.statements
            // These checks have a budget of their own; one that runs over proves nothing and stops nothing (the
            // final proof below decides), while a concrete counterexample is a bug in the pass.
            if let outside = grantsWithin(current, envelope, catalog: catalog, values: .outerIsPattern, budget: debugBudget), !outside.overBudget {
                context.diagnostics.append(internalError("pass `\(pass.name)` produced \(outside), outside rule `\(rule.purpose.value)`", rule: rule, task: task))
                break
            }
            if let previous, !pass.mayWidenWithinEnvelope(context),
                let outside = grantsWithin(current, previous, catalog: catalog, values: .exact, budget: debugBudget), !outside.overBudget
            {
                context.diagnostics.append(internalError("pass `\(pass.name)` widened the policy: \(outside) is new", rule: rule, task: task))
                break
            }
            previous = current
            #endif
        }
        bag.add(contentsOf: context.diagnostics)
        if bag.hasErrors { return Outcome(json: nil, ir: nil, diagnostics: bag, explain: context.log, rule: rule, task: task) }
        let text = PolicyJSON.emit(ir.policy)
        // The proof before every output, in every build: the bytes about to be printed, read back, grant nothing
        // outside the rule's envelope. A failure is clawc's own bug; nothing is printed and nothing is issued.
        // The proof has its own budget, so passes that spent theirs cannot starve it.
        let proofBudget = ProverBudget(units: PassContext.compileBudget)
        if let problem = proveEmitted(text, inside: envelope, catalog: catalog, budget: proofBudget) {
            if proofBudget.exhausted {
                bag.add(.error(
                    "proof-over-budget",
                    "clawc could not prove within its work budget that the policy for task `\(task.taskId.value)` lies inside rule `\(rule.purpose.value)`; no policy was printed or issued",
                    at: task.purpose.span,
                    help: "the rule's or the task's patterns make the containment search too large (long runs of `?` after a `*`); write them with fewer wildcards",
                    notes: [.init("rule `\(rule.purpose.value)` is here", at: rule.purpose.span)]))
            } else {
                bag.add(internalError(problem, rule: rule, task: task))
            }
            return Outcome(json: nil, ir: nil, diagnostics: bag, explain: context.log, rule: rule, task: task)
        }
        context.log.append("proof: the emitted policy lies inside rule `\(rule.purpose.value)`'s envelope")
        return Outcome(json: text + "\n", ir: ir, diagnostics: bag, explain: context.log, rule: rule, task: task)
    }

    /// Why `text` is not provably inside `envelope`, or nil when it is. Reads the text back as a policy first, so
    /// what is proved is what is printed.
    public static func proveEmitted(_ text: String, inside envelope: [Statement], catalog: Catalog, budget: ProverBudget) -> String? {
        let policy: Policy
        do { policy = try PolicyParser.parse(Data(text.utf8)) } catch {
            return "the emitted policy does not read back (\(error.description))"
        }
        guard let outside = GrantContainment.firstUncovered(
            policy.statements, in: envelope, values: .outerIsPattern, budget: budget, expand: { expand($0, catalog: catalog) })
        else { return nil }
        return "the compiled policy grants \(outside), outside the rule's envelope"
    }

    /// An error for a proof that failed: clawc's own bug, reported at the task and never printed as a policy.
    static func internalError(_ message: String, rule: Rule, task: Task) -> Diagnostic {
        .error(
            "unproven-policy", "internal error: \(message); no policy was printed or issued", at: task.purpose.span,
            help: "this is a bug in clawc, not in the rule or task; please report it with both files",
            notes: [.init("rule `\(rule.purpose.value)` is here", at: rule.purpose.span)])
    }

    /// Test-only changes to the pipeline, scoped to one task: extra passes after the shipped ones (to show that the
    /// final proof refuses a widening pass) and whether debug builds check each pass.
    package struct Hooks: Sendable {
        package var extraPasses: [any Pass]
        package var checkEachPass: Bool

        package init(extraPasses: [any Pass], checkEachPass: Bool) {
            self.extraPasses = extraPasses
            self.checkEachPass = checkEachPass
        }
    }

    /// The hooks of the current task; nil outside tests.
    @TaskLocal package static var hooks: Hooks?

    /// The first grant of `inner` that `outer` does not cover, expanding action wildcards through the catalog.
    public static func grantsWithin(
        _ inner: [Statement], _ outer: [Statement], catalog: Catalog, values: GrantContainment.ValueMatching,
        budget: ProverBudget = ProverBudget(units: PassContext.compileBudget)
    ) -> GrantContainment.Uncovered? {
        GrantContainment.firstUncovered(inner, in: outer, values: values, budget: budget) { expand($0, catalog: catalog) }
    }

    /// An action with `*`/`?` as the catalog actions it matches; an exact action as itself.
    public static func expand(_ action: String, catalog: Catalog) -> [String] {
        guard Wildcard.hasWildcards(action) else { return [action] }
        let parts = action.split(separator: ":", maxSplits: 1).map(String.init)
        // A wildcard we cannot expand stands for itself, which only an equal or wider pattern covers.
        guard parts.count == 2, let service = try? catalog.service(parts[0]) else { return [action] }
        let glob = Glob(parts[1].lowercased())
        let names = service.actionNames.filter { glob.matches($0.lowercased()) }
        return names.isEmpty ? [action] : names.map { "\(service.prefix):\($0)" }
    }
}

/// Rules parsed and lowered once, for compiling many tasks: what a long-running issuer or a benchmark keeps warm.
public final class PreparedRules: @unchecked Sendable {
    public let ruleSet: RuleSet
    public let catalog: Catalog
    private var lowered: [String: ([IRStatement], [Diagnostic])] = [:]
    private let lock = NSLock()

    public init(ruleSet: RuleSet, catalog: Catalog) {
        self.ruleSet = ruleSet
        self.catalog = catalog
    }

    /// Compiles one task; a rule is checked and lowered the first time a task of its purpose comes.
    public func compile(task: Task, maxChars: Int = Compiler.defaultMaxChars) -> Compiler.Outcome {
        guard let rule = ruleSet.rule(for: task.purpose.value) else {
            return Compiler.compile(ruleSet: ruleSet, task: task, catalog: catalog, maxChars: maxChars)
        }
        lock.lock()
        let cached = lowered[rule.purpose.value]
        lock.unlock()
        let entry = cached ?? RuleLowering(catalog: catalog).lower(rule)
        if cached == nil {
            lock.lock()
            lowered[rule.purpose.value] = entry
            lock.unlock()
        }
        return Compiler.run(rule: rule, lowered: entry.0, lowerDiagnostics: entry.1, task: task, catalog: catalog, maxChars: maxChars)
    }
}
