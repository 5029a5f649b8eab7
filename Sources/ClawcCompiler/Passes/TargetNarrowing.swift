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
        let globs = ir.statements.map { $0.resources.map(Glob.init) }
        for target in targets {
            let glob = Glob(target.value)
            if globs.contains(where: { $0.contains { $0.contains(glob) } }) { continue }
            let patterns = ir.statements.flatMap(\.resources)
            let shown = patterns.prefix(4).map { "`\($0)`" }.joined(separator: ", ") + (patterns.count > 4 ? ", ..." : "")
            context.diagnostics.append(.error(
                "target-outside-envelope", "target `\(target.value)` is outside every resource rule `\(context.rule.purpose.value)` allows",
                at: target.span, help: "this task may only reach \(shown)",
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
                let glob = Glob(target)
                return globs[index].contains { $0.contains(glob) } && seen.insert(target).inserted
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
}
