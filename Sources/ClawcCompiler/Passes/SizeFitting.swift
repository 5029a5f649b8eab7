import ClawcCatalog
import ClawcDiagnostics
import ClawcPolicy
import ClawcSyntax

/// Makes the policy fit `--max-chars`: drop Sids, then only where the rule opts in, wildcards that provably
/// add nothing; if it still does not fit, an error naming the statements that cost most.
///
/// - `fit: allow-action-wildcards`: a set of a statement's actions becomes `service:Prefix*` only when every
///   catalog action that wildcard matches is already in the statement.
/// - `fit: allow-resource-collapse`: a statement's resources become one `common-prefix*` pattern only when that
///   pattern lies inside one of the rule's own resource patterns (after slot filling) of every grant the
///   statement carries.
public struct SizeFitting: Pass {
    public let name = "size-fitting"
    public let summary = "fit the policy under the size limit without widening beyond the rule"

    public init() {}

    /// `fit: allow-resource-collapse` replaces targets by a wider pattern inside the rule's own.
    public func mayWidenWithinEnvelope(_ context: PassContext) -> Bool { context.rule.fit.contains(.allowResourceCollapse) }

    public func run(_ ir: inout PolicyIR, _ context: inout PassContext) {
        let text = PolicyJSON.emit(ir.policy)
        var size = text.unicodeScalars.count
        if size <= context.maxChars {
            context.note(name, "\(size) characters, limit \(context.maxChars): fits")
            return
        }
        ir.dropSids = true
        context.note(name, "\(size) characters, over \(context.maxChars): Sids dropped → \(PolicyJSON.size(ir.policy))")
        size = PolicyJSON.size(ir.policy)
        if size > context.maxChars, context.rule.fit.contains(.allowActionWildcards) {
            for index in ir.statements.indices {
                ir.statements[index].actions = Self.actionWildcards(ir.statements[index].actions, catalog: context.catalog)
            }
            size = PolicyJSON.size(ir.policy)
            context.note(name, "action wildcards (rule allows) → \(size)")
        }
        if size > context.maxChars, context.rule.fit.contains(.allowResourceCollapse) {
            for index in ir.statements.indices {
                // A merged statement carries every grant's actions on its resources: the collapsed pattern must
                // lie inside each grant's own patterns, not only inside their union.
                let envelopes = ir.statements[index].grants.map { envelopeResources(grant: $0, context) }
                if let collapsed = Self.collapse(ir.statements[index].resources, insideEach: envelopes, budget: context.budget) {
                    ir.statements[index].resources = [collapsed]
                }
            }
            size = PolicyJSON.size(ir.policy)
            context.note(name, "resource collapse (rule allows) → \(size)")
        }
        guard size > context.maxChars else { return }
        let costs = ir.statements.enumerated().map { (index: $0.offset, cost: PolicyJSON.emit($0.element.statement).count) }
            .sorted { $0.cost > $1.cost }
        let notes: [Diagnostic.Note] = costs.prefix(3).map { entry in
            let statement = ir.statements[entry.index]
            let grant = context.rule.grants[statement.grants.first ?? 0]
            let names = statement.grants.map { context.rule.grants[$0].name }.joined(separator: ", ")
            return .init(
                "\(names) costs \(entry.cost) characters (\(statement.actions.count) action(s), \(statement.resources.count) resource(s))",
                at: grant.span)
        }
        var help = "ask for fewer targets, split the task"
        let missing = [FitOption.allowActionWildcards, .allowResourceCollapse].filter { !context.rule.fit.contains($0) }
        if !missing.isEmpty { help += ", or let the rule permit `fit: \(missing.map(\.rawValue).joined(separator: ", "))`" }
        context.diagnostics.append(.error(
            "policy-too-large", "the policy is \(size) characters, over the limit of \(context.maxChars), and nothing safe makes it fit",
            at: context.task.targetsKey?.span ?? context.task.taskId.span, help: help, notes: notes))
    }

    /// The grant's own resource patterns with this task's slot values, the bound for resource collapse.
    func envelopeResources(grant: Int, _ context: PassContext) -> [String] {
        var scratch = context
        scratch.diagnostics = []
        var reported = Set<String>()
        return context.rule.grants[grant].resources.compactMap { SlotFilling().fill($0, arn: true, &scratch, &reported) }
    }

    /// Replaces runs of actions by `service:Prefix*` where the wildcard matches only actions already in the set.
    public static func actionWildcards(_ actions: [String], catalog: Catalog) -> [String] {
        var byService: [String: [String]] = [:]
        for action in actions {
            let parts = action.split(separator: ":", maxSplits: 1).map(String.init)
            if parts.count == 2 { byService[parts[0], default: []].append(parts[1]) }
        }
        var out: [String] = []
        for (prefix, names) in byService {
            guard let service = try? catalog.service(prefix), names.allSatisfy({ !Wildcard.hasWildcards($0) }) else {
                out += names.map { "\(prefix):\($0)" }
                continue
            }
            // Lowercased once per service, not once per comparison (EC2 has 700 actions, tried for every stem).
            let all = service.actionNames.map { $0.lowercased() }
            let have = Set(names.map { $0.lowercased() })
            var covered = Set<String>()
            for name in names.sorted() where !covered.contains(name.lowercased()) {
                // The shortest prefix whose wildcard stays inside the set covers the most. A stem is used only
                // when `stem*` is shorter than the name; the actions it matches count as covered only then, so
                // no action is left out when the name itself is written.
                var chosen = name
                for length in 1..<max(1, name.count - 1) {
                    let stem = String(name.prefix(length)).lowercased()
                    let matched = all.filter { $0.hasPrefix(stem) }
                    if matched.allSatisfy({ have.contains($0) }) {
                        // Even one action can be shortened to its shortest unique prefix (`ec2:sto*`): the wildcard
                        // still matches nothing the statement does not grant, and `clawc check` re-expands it.
                        chosen = String(name.prefix(length)) + "*"
                        matched.forEach { covered.insert($0) }
                        break
                    }
                }
                covered.insert(name.lowercased())
                out.append("\(prefix):\(chosen)")
            }
        }
        return out.sorted(by: PolicyJSON.scalarOrder)
    }

    /// One `common-prefix*` pattern for several resources, if for every grant in `envelopes` it lies inside one
    /// of that grant's patterns (ARN field by field: a prefix cut inside the region or account is refused).
    public static func collapse(_ resources: [String], insideEach envelopes: [[String]], budget: ProverBudget = ProverBudget()) -> String? {
        guard resources.count > 1, var prefix = resources.first, !envelopes.isEmpty else { return nil }
        for resource in resources.dropFirst() {
            prefix = String(zip(prefix, resource).prefix { $0 == $1 }.map(\.0))
        }
        let candidate = ResourcePattern(prefix + "*")
        let fits = envelopes.allSatisfy { envelope in
            envelope.contains { ResourcePattern($0).contains(candidate, budget: budget) }
        }
        return fits ? candidate.text : nil
    }
}
