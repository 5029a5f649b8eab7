import ClawcPolicy

/// Drops a resource pattern that another pattern of the same statement already covers.
///
/// Exact: a statement allows its actions on the union of its resources, so a covered pattern adds nothing.
public struct ResourceSubsumption: Pass {
    public let name = "resource-subsumption"
    public let summary = "drop resource patterns another pattern of the statement covers"

    public init() {}

    public func run(_ ir: inout PolicyIR, _ context: inout PassContext) {
        var removed = 0
        for index in ir.statements.indices {
            let before = ir.statements[index].resources.count
            ir.statements[index].resources = Self.minimal(ir.statements[index].resources, budget: context.budget)
            removed += before - ir.statements[index].resources.count
        }
        context.note(name, removed == 0 ? "no covered resources" : "\(removed) covered resource pattern(s) removed")
    }

    /// The patterns no other pattern covers, sorted; of patterns with equal languages the first in order stays.
    ///
    /// Coverage is `ResourcePattern.contains` (ARN field by field, safe under both readings of IAM's wildcard
    /// rule); a decision over budget keeps both patterns.
    public static func minimal(_ resources: [String], budget: ProverBudget = ProverBudget()) -> [String] {
        let unique = Array(Set(resources)).sorted(by: PolicyJSON.scalarOrder)
        if unique.count < 2 { return unique }
        let patterns = unique.map(ResourcePattern.init)
        return unique.indices.filter { i in
            !patterns.indices.contains { j in
                guard j != i, patterns[j].contains(patterns[i], budget: budget) else { return false }
                // Equal languages: keep the earlier one only.
                return !patterns[i].contains(patterns[j], budget: budget) || j < i
            }
        }.map { unique[$0] }
    }
}
