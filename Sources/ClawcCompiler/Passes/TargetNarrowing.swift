import ClawcDiagnostics
import ClawcPolicy
import ClawcSyntax

/// Replaces the resources of `narrow: targets` grants by the task's targets that lie inside them.
///
/// Containment is decided exactly on `*`/`?` patterns. A target inside no grant of the rule is an error,
/// never dropped; a narrowed grant that no target falls into is left out; an empty policy is an error.
public struct TargetNarrowing: Pass {
    public let name = "target-narrowing"
    public let summary = "narrow `narrow: targets` grants to the task's targets inside their envelope"

    public init() {}

    public func run(_ ir: inout PolicyIR, _ context: inout PassContext) {
        let targets = context.task.targetResources
        let envelopes = ir.statements.map { $0.resources.map(ResourcePattern.init) }
        // Which statements' envelopes hold each target, decided once per (target, statement).
        var inside: [String: [Bool]] = [:]
        for target in targets where inside[target.value] == nil {
            let pattern = ResourcePattern(target.value)
            inside[target.value] = envelopes.map { patterns in patterns.contains { $0.contains(pattern, budget: context.budget) } }
        }
        for target in targets where !(inside[target.value] ?? []).contains(true) {
            let patterns = ir.statements.flatMap(\.resources)
            let shown = patterns.prefix(4).map { "`\($0)`" }.joined(separator: ", ") + (patterns.count > 4 ? ", ..." : "")
            var help = "this task may only reach \(shown)"
            if let field = Self.fieldProblem(ResourcePattern(target.value), envelopes.flatMap { $0 }) { help = field + "; " + help }
            if context.budget.exhausted {
                help = "the containment proof ran over its work budget, so clawc does not claim this target is inside; use fewer or simpler patterns; " + help
            }
            context.diagnostics.append(.error(
                "target-outside-envelope", "target `\(target.value)` is outside every resource rule `\(context.rule.purpose.value)` allows",
                at: target.span, help: help,
                notes: [.init("rule `\(context.rule.purpose.value)` is here", at: context.rule.purpose.span)]))
        }
        var kept: [IRStatement] = []
        for (index, statement) in ir.statements.enumerated() {
            guard statement.narrowToTargets else {
                kept.append(statement)
                continue
            }
            var seen = Set<String>()
            let inside = targets.map(\.value).filter { target in
                (inside[target]?[index] ?? false) && seen.insert(target).inserted
            }
            let grantName = context.rule.grants[statement.grants.first ?? 0].name
            if inside.isEmpty {
                context.note(name, "\(grantName): no target inside, grant left out")
                continue
            }
            var narrowed = statement
            narrowed.resources = inside
            narrowed.narrowToTargets = false
            kept.append(narrowed)
            context.note(name, "\(grantName): \(statement.resources.count) envelope pattern(s) → \(inside.count) target(s)")
        }
        ir.statements = kept
        if kept.isEmpty && !context.diagnostics.contains(where: { $0.severity == .error }) {
            let span = context.task.targetsKey?.span ?? context.task.purpose.span
            context.diagnostics.append(.error(
                "empty-policy", "the policy for task `\(context.task.taskId.value)` would grant nothing", at: span,
                help: "every grant of rule `\(context.rule.purpose.value)` is narrowed to targets and no target falls inside one; list the resources the task needs under `targetResources`"))
        }
    }

    /// Why an ARN target falls outside field by field, when that is the reason: a wildcard in a field the rule
    /// pins, or a non-ARN target against ARN patterns.
    static func fieldProblem(_ target: ResourcePattern, _ envelope: [ResourcePattern]) -> String? {
        let arns = envelope.filter(\.isARN)
        guard !arns.isEmpty else { return nil }
        guard let fields = target.fields else {
            return target.hasWildcards
                ? "a target that is not `arn:` followed by five colon-separated parts cannot be checked field by field, so its wildcards could reach any account"
                : nil
        }
        for (i, field) in fields.enumerated() where field.hasWildcards {
            let pinned = arns.allSatisfy { ($0.fields?[i].text ?? "*") != "*" && $0.fields?[i].text != field.text }
            if pinned {
                return "the target's \(ResourcePattern.fieldNames[i]) `\(field.text)` holds a wildcard where the rule names a \(ResourcePattern.fieldNames[i]); IAM may let such a wildcard reach past the colons into other fields, so a target must name that field exactly"
            }
        }
        return nil
    }
}
