import ClawcCompiler

/// A pass that widens every statement to every resource: what a buggy pass could do. Tests inject it after the
/// shipped passes to show that the final proof refuses what it produces.
struct WidenToEverything: Pass {
    let name = "widen-to-everything"
    let summary = "test only: a pass with a bug"
    func run(_ ir: inout PolicyIR, _ context: inout PassContext) {
        for index in ir.statements.indices { ir.statements[index].resources = ["*"] }
    }
}
