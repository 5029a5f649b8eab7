import ClawcDiagnostics
import ClawcPolicy
import ClawcSyntax

/// Fills `{param}`, `{task.id}` and `{task.tags.NAME}` slots with checked task values.
///
/// A value must be safe (letters, digits, `_ . @ = + , - : /`) and meet its param's `match` or `oneOf`;
/// anything else is an injection attempt or a mistake, and an error.
public struct SlotFilling: Pass {
    public let name = "slot-filling"
    public let summary = "fill slots with task values checked against their params"

    public init() {}

    public func run(_ ir: inout PolicyIR, _ context: inout PassContext) {
        var reported = Set<String>()
        for index in ir.statements.indices {
            guard let grantIndex = ir.statements[index].grants.first else { continue }
            let grant = context.rule.grants[grantIndex]
            ir.statements[index].resources = grant.resources.compactMap { fill($0, arn: true, &context, &reported) }
            var conditions = ConditionBlock()
            for condition in grant.conditions {
                let arn = ConditionOperator.base(condition.op.value).hasPrefix("Arn")
                conditions.add(condition.op.value, condition.key.value, condition.values.compactMap { fill($0, arn: arn, &context, &reported) })
            }
            ir.statements[index].conditions = conditions
        }
        let filled = ir.statements.map { $0.resources.count }.reduce(0, +)
        context.note(name, "\(filled) resource patterns filled for task `\(context.task.taskId.value)`")
    }

    /// The template with every slot replaced, or nil (with a diagnostic) when a value is missing or unsafe.
    ///
    /// In an ARN position (a resource, or the value of an `Arn…` condition operator, which IAM compares field by
    /// field) the filled text must also lie inside the template's own patterns field by field: a value can't move
    /// the partition, service, region or account, wherever in the template its slot stands.
    func fill(_ template: Template, arn: Bool = false, _ context: inout PassContext, _ reported: inout Set<String>) -> String? {
        guard let filled = fillText(template, &context, &reported) else { return nil }
        guard arn, template.pieces.contains(where: { if case .slot = $0 { true } else { false } }) else { return filled }
        let envelope = Envelope.patterns(for: template, in: context.rule).map(ResourcePattern.init)
        let value = ResourcePattern(filled)
        guard envelope.contains(where: \.isARN), !envelope.contains(where: { $0.contains(value, budget: context.budget) }) else { return filled }
        if reported.insert("\(template.source.value)\u{0}fields").inserted {
            let slots = template.pieces.compactMap { piece -> String? in
                if case .slot(let slot, _, _) = piece { return "`{\(slot.text)}`" } else { return nil }
            }
            context.diagnostics.append(.error(
                "slot-injection",
                "with the task's value for \(slots.joined(separator: ", ")), `\(template.source.value)` becomes `\(filled)`, which lies outside the rule's pattern field by field",
                at: template.source.span,
                help: "a slot value may not change an ARN's partition, service, region or account; IAM compares ARNs field by field",
                notes: envelope.first.map { [.init("the rule allows `\($0.text)`", at: nil)] } ?? []))
        }
        return nil
    }

    func fillText(_ template: Template, _ context: inout PassContext, _ reported: inout Set<String>) -> String? {
        var out = ""
        var failed = false
        for piece in template.pieces {
            switch piece {
            case .literal(let text):
                out += text
            case .slot(let slot, let offset, let length):
                let slotSpan = template.source.span(ofScalarsAt: offset, count: length)
                guard let value = value(for: slot, slotSpan: slotSpan, &context, &reported) else {
                    failed = true
                    continue
                }
                if let field = Self.arnField(before: out), value.contains(":") {
                    if reported.insert("\(slot.text)\u{0}colon").inserted {
                        context.diagnostics.append(.error(
                            "slot-injection",
                            "value for `{\(slot.text)}` holds `:`, which would move the ARN's fields: it fills the \(ResourcePattern.fieldNames[field]) of `\(template.source.value)`",
                            at: valueSpan(for: slot, context.task) ?? slotSpan,
                            help: "a slot in an ARN's partition, service, region or account may not hold `:`; give the \(ResourcePattern.fieldNames[field]) alone",
                            notes: [.init("the rule uses it here", at: slotSpan)]))
                    }
                    failed = true
                    continue
                }
                out += value
            }
        }
        return failed ? nil : out
    }

    func value(for slot: Template.SlotName, slotSpan: SourceSpan, _ context: inout PassContext, _ reported: inout Set<String>) -> String? {
        let task = context.task
        let firstReport = reported.insert(slot.text).inserted
        let usedHere = Diagnostic.Note("the rule uses it here", at: slotSpan)
        switch slot {
        case .taskID:
            return task.taskId.value
        case .taskTag(let tag):
            guard let value = task.tag(tag) else {
                if firstReport {
                    context.diagnostics.append(.error(
                        "missing-tag", "the task has no tag `\(tag)`, which the rule needs", at: tagsSpan(task),
                        help: "add `\(tag)` under the task's `tags`", notes: [usedHere]))
                }
                return nil
            }
            return checked(value, param: nil, slot: slot, usedHere, firstReport, &context)
        case .param(let name):
            let param = context.rule.param(named: name)
            guard let value = task.tag(name) ?? param?.defaultValue else {
                if firstReport {
                    context.diagnostics.append(.error(
                        "missing-param", "the task gives no value for param `\(name)`", at: tagsSpan(task),
                        help: "add `\(name)` under the task's `tags`\(param?.match.map { ", matching `\($0.value)`" } ?? "")",
                        notes: [usedHere]))
                }
                return nil
            }
            return checked(value, param: param, slot: slot, usedHere, firstReport, &context)
        }
    }

    func checked(_ value: Located<String>, param: Param?, slot: Template.SlotName, _ usedHere: Diagnostic.Note, _ firstReport: Bool, _ context: inout PassContext) -> String? {
        guard let problem = SlotValue.check(value.value, against: param) else { return value.value }
        if firstReport {
            let unsafe = SlotValue.firstUnsafe(in: value.value, allowWildcards: false) != nil
            context.diagnostics.append(.error(
                unsafe ? "slot-injection" : "param-mismatch", "value for `{\(slot.text)}` \(problem)", at: value.span,
                help: unsafe ? "slot values may hold only letters, digits and `_ . @ = + , - : /`; a task cannot widen or rewrite the rule's patterns" : nil,
                notes: [usedHere]))
        }
        return nil
    }

    func tagsSpan(_ task: Task) -> SourceSpan {
        task.tags.first?.key.span ?? task.taskId.span
    }

    /// The ARN field (0 partition … 3 account) a slot fills when `prefix` is the text before it, or nil when the
    /// slot is not inside the first five fields of an `arn:` pattern.
    static func arnField(before prefix: String) -> Int? {
        guard prefix.hasPrefix("arn:") else { return nil }
        let colons = prefix.utf8.reduce(0) { $0 + ($1 == UInt8(ascii: ":") ? 1 : 0) }
        return colons <= 4 ? colons - 1 : nil
    }

    /// Where the task gives a slot's value, for pointing at it.
    func valueSpan(for slot: Template.SlotName, _ task: Task) -> SourceSpan? {
        switch slot {
        case .taskID: return task.taskId.span
        case .taskTag(let name), .param(let name): return task.tag(name)?.span
        }
    }
}
