import ClawcDiagnostics
import Yams

extension SyntaxReader {
    /// The most targets a task may list: far more than a 2,048-character policy holds, few enough that every
    /// pairwise containment decision of a compile stays cheap.
    public static let maxTargets = 256

    /// Parses a task file (YAML or JSON) with the orchestrator's field names.
    public static func task(_ source: YAMLSource) -> (Task?, [Diagnostic]) {
        var reader = NodeReader(file: source.file)
        guard let fields = reader.fields(source.root, context: "a task", allowed: taskKeys) else {
            return (nil, reader.diagnostics)
        }
        var taskId: Located<String>?
        if let node = fields["taskId"]?.value, let value = reader.string(node, context: "`taskId`") {
            if isTaskID(value.value) {
                taskId = value
            } else {
                reader.diagnostics.append(.error(
                    "invalid-task-id", value.value.isEmpty ? "task ID is empty" : "task ID `\(printable(value.value))` is not valid", at: value.span,
                    help: "a task ID is 1 to 64 of letters, digits and `_ . @ = + , -`"))
            }
        } else if fields["taskId"] == nil {
            reader.missing("taskId", in: source.root, context: "a task")
        }
        var purpose: Located<String>?
        if let node = fields["purpose"]?.value {
            purpose = reader.string(node, context: "`purpose`")
        } else {
            reader.missing("purpose", in: source.root, context: "a task")
        }
        var targets: [Located<String>] = []
        let targetsKey = fields["targetResources"]?.key
        if let node = fields["targetResources"]?.value, let values = reader.strings(node, context: "`targetResources`") {
            if values.count > Self.maxTargets {
                reader.diagnostics.append(.error(
                    "too-many-targets", "the task lists \(values.count) targets, more than the \(Self.maxTargets) clawc accepts",
                    at: targetsKey?.span ?? reader.span(of: node),
                    help: "a session policy holds at most 2,048 characters, a few dozen ARNs; name the resources by a pattern the rule allows, or split the task"))
            }
            for value in values.prefix(Self.maxTargets) {
                if let bad = firstBadTargetScalar(value.value) {
                    reader.diagnostics.append(.error(
                        "invalid-target", "target holds \(SlotValue.describe(bad.scalar))", at: value.span(ofScalarsAt: bad.offset, count: 1),
                        help: bad.scalar == "$" ? "policy variables such as `${aws:username}` are not accepted from a task" : nil))
                } else if value.value != "*" && !value.value.hasPrefix("arn:") {
                    reader.diagnostics.append(.error(
                        "invalid-target", "target `\(value.value)` is not an ARN", at: value.span,
                        help: "targets are ARNs or ARN patterns, such as `arn:aws:s3:::acme-logs-123/*`"))
                } else {
                    targets.append(value)
                }
            }
        }
        var tags: [(key: Located<String>, value: Located<String>)] = []
        if let node = fields["tags"]?.value, let pairs = reader.mapping(node, context: "`tags`") {
            for (key, valueNode) in pairs {
                if let value = reader.string(valueNode, context: "tag `\(key.value)`") { tags.append((key, value)) }
            }
        }
        let estimated = fields["estimatedDuration"].flatMap { duration($0.value, context: "`estimatedDuration`", limit: .estimate, &reader) }
        guard let taskId, let purpose, !reader.diagnostics.contains(where: { $0.severity == .error }) else {
            return (nil, reader.diagnostics)
        }
        return (Task(file: source.file, taskId: taskId, purpose: purpose, targetResources: targets, targetsKey: targetsKey, tags: tags, estimatedDuration: estimated),
                reader.diagnostics)
    }

    /// `[A-Za-z0-9_.@=+,-]{1,64}`, the task ID shape the contract fixes.
    public static func isTaskID(_ text: String) -> Bool {
        let scalars = text.unicodeScalars
        return (1...64).contains(scalars.count)
            && scalars.allSatisfy { $0.isASCIILetter || $0.isASCIIDigit || "_.@=+,-".unicodeScalars.contains($0) }
    }

    /// Targets may hold `*` and `?` (their containment is checked), but nothing that breaks or escapes a policy.
    static func firstBadTargetScalar(_ text: String) -> (offset: Int, scalar: Unicode.Scalar)? {
        for (offset, scalar) in text.unicodeScalars.enumerated() {
            let bad = scalar.value < 0x21 || scalar.value > 0x7E || "\"'`\\${}".unicodeScalars.contains(scalar)
            if bad { return (offset, scalar) }
        }
        return nil
    }

    /// User text safe to echo in one line of a message: control characters shown as `?`, long text cut.
    static func printable(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars.prefix(80) {
            out.unicodeScalars.append(scalar.value < 0x20 || scalar.value == 0x7F ? "?" : scalar)
        }
        return text.unicodeScalars.count > 80 ? out + "…" : out
    }

    /// Parses `rules/clawc.yaml`, the settings shared by all rules.
    public static func settings(_ source: YAMLSource) -> (Settings?, [Diagnostic]) {
        var reader = NodeReader(file: source.file)
        guard let fields = reader.fields(source.root, context: "`clawc.yaml`", allowed: Settings.keys + Settings.structuredKeys) else {
            return (nil, reader.diagnostics)
        }
        var settings = Settings(file: source.file)
        for (name, pair) in fields {
            if name == "defaults" {
                guard let defaults = reader.fields(pair.value, context: "`defaults`", allowed: ["callers"]) else { continue }
                settings.defaultCallers = defaults["callers"].flatMap { parseCallers($0.value, fromDefaults: true, &reader) }
                continue
            }
            if let value = reader.string(pair.value, context: "`\(name)`") { settings.values[name] = value }
        }
        return reader.diagnostics.isEmpty ? (settings, []) : (nil, reader.diagnostics)
    }
}
