import ClawcPolicy

/// Writes every action as `service:Action` in the catalog's casing and keeps each once.
///
/// IAM compares service prefixes and action names case-insensitively, so `S3:getobject` and
/// `s3:GetObject` are one action.
public struct ActionCanonicalization: Pass {
    public let name = "action-canonicalization"
    public let summary = "canonical action names, each once"

    public init() {}

    public func run(_ ir: inout PolicyIR, _ context: inout PassContext) {
        var removed = 0
        for index in ir.statements.indices {
            var seen = Set<String>()
            var actions: [String] = []
            for action in ir.statements[index].actions {
                let canonical = Self.canonical(action, context)
                if seen.insert(canonical.lowercased()).inserted { actions.append(canonical) } else { removed += 1 }
            }
            ir.statements[index].actions = actions.sorted(by: PolicyJSON.scalarOrder)
        }
        context.note(name, removed == 0 ? "no duplicate actions" : "\(removed) duplicate action(s) removed")
    }

    static func canonical(_ action: String, _ context: PassContext) -> String {
        let parts = action.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return action }
        let prefix = parts[0].lowercased()
        if let service = try? context.catalog.service(prefix) {
            if service.actions[parts[1]] != nil && prefix == parts[0] { return action }
            if let name = service.canonicalName(parts[1]) { return "\(prefix):\(name)" }
        }
        return "\(prefix):\(parts[1])"
    }
}
