import ClawcPolicy

/// Merges statements that differ only in actions, or only in resources.
///
/// Exact: two Allow statements with the same resources and conditions allow the same requests as one with the
/// union of their actions; the same holds for resources when actions and conditions agree.
public struct StatementMerging: Pass {
    public let name = "statement-merging"
    public let summary = "merge statements with equal resources or equal actions under equal conditions"

    public init() {}

    public func run(_ ir: inout PolicyIR, _ context: inout PassContext) {
        let before = ir.statements.count
        var statements = ir.statements
        var changed = true
        while changed {
            changed = false
            outer: for i in statements.indices {
                for j in statements.indices where j > i && statements[i].conditions == statements[j].conditions {
                    let sameResources = Set(statements[i].resources) == Set(statements[j].resources)
                    let sameActions = Set(statements[i].actions) == Set(statements[j].actions)
                    guard sameResources || sameActions else { continue }
                    var merged = statements[i]
                    merged.grants += statements[j].grants
                    merged.sids += statements[j].sids
                    merged.actions = Array(Set(merged.actions + statements[j].actions)).sorted(by: PolicyJSON.scalarOrder)
                    merged.resources = ResourceSubsumption.minimal(merged.resources + statements[j].resources, budget: context.budget)
                    statements[i] = merged
                    statements.remove(at: j)
                    changed = true
                    break outer
                }
            }
        }
        ir.statements = statements
        context.note(name, before == statements.count ? "nothing to merge (\(before) statement(s))" : "\(before) statements → \(statements.count)")
    }
}
