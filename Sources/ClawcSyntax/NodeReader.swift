import ClawcDiagnostics
import Yams

/// Reads a Yams node tree into typed values, reporting unknown keys and wrong types as located diagnostics.
struct NodeReader {
    let file: SourceFile
    var diagnostics: [Diagnostic] = []
    /// Keys that an unknown or refused key in the last `fields` call stood in for; not reported missing again.
    var standIns: Set<String> = []

    init(file: SourceFile) { self.file = file }

    func span(of node: Node) -> SourceSpan {
        let start = node.mark.map { SourceLocation(line: $0.line, column: $0.column) } ?? SourceLocation(line: 1, column: 1)
        var length = 1
        if case .scalar(let scalar) = node {
            length = scalar.string.unicodeScalars.count
            if scalar.style == .singleQuoted || scalar.style == .doubleQuoted { length += 2 }
        }
        return SourceSpan(file: file, start: start, length: length)
    }

    static func kind(of node: Node) -> String {
        switch node {
        case .scalar: node.null != nil ? "null" : "a scalar"
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }

    mutating func wrongType(_ node: Node, expected: String, context: String) {
        diagnostics.append(.error(
            "wrong-type", "\(context) must be \(expected), found \(Self.kind(of: node))", at: span(of: node)))
    }

    /// A string from a non-null scalar.
    mutating func string(_ node: Node, context: String) -> Located<String>? {
        guard case .scalar(let scalar) = node, node.null == nil else {
            wrongType(node, expected: "a string", context: context)
            return nil
        }
        return Located(scalar.string, at: span(of: node))
    }

    /// A list of strings; a single string is read as a list of one.
    mutating func strings(_ node: Node, context: String) -> [Located<String>]? {
        switch node {
        case .scalar:
            return string(node, context: context).map { [$0] }
        case .sequence(let sequence):
            var out: [Located<String>] = []
            for item in sequence {
                if let value = string(item, context: "each item of \(context)") { out.append(value) }
            }
            return out
        default:
            wrongType(node, expected: "a string or a list of strings", context: context)
            return nil
        }
    }

    /// The pairs of a mapping, with string keys, in source order.
    mutating func mapping(_ node: Node, context: String) -> [(key: Located<String>, value: Node)]? {
        guard case .mapping(let mapping) = node else {
            wrongType(node, expected: "a mapping", context: context)
            return nil
        }
        var out: [(key: Located<String>, value: Node)] = []
        for (key, value) in mapping {
            if case .scalar(let scalar) = key, key.null != nil {
                nullKey(scalar, node: key, context: context)
                continue
            }
            guard let name = string(key, context: "a key in \(context)") else { continue }
            out.append((name, value))
        }
        return out
    }

    /// A key YAML read as null: `Null:`, `null:`, `~:` or nothing before the colon. The usual cause is the IAM
    /// operator `Null` written without quotes, which YAML takes for the null value, not the word.
    mutating func nullKey(_ scalar: Node.Scalar, node: Node, context: String) {
        let raw = scalar.string
        let help: String
        if raw.isEmpty {
            help = "give the key a name"
        } else if context == "`when`" {
            help = "write \"Null\" in quotes; unquoted, YAML reads \(raw) as a null value"
        } else {
            help = "write \"\(raw)\" in quotes; unquoted, YAML reads \(raw) as a null value"
        }
        diagnostics.append(.error(
            "wrong-type", "a key in \(context) must be a string, found null", at: span(of: node), help: help))
    }

    /// A mapping whose keys must come from `allowed`; unknown keys are reported with a suggestion.
    mutating func fields(
        _ node: Node, context: String, allowed: [String], refused: [String: String] = [:]
    ) -> [String: (key: Located<String>, value: Node)]? {
        guard let pairs = mapping(node, context: context) else { return nil }
        var out: [String: (key: Located<String>, value: Node)] = [:]
        standIns = []
        for pair in pairs {
            let name = pair.key.value
            if allowed.contains(name) {
                out[name] = pair
            } else if let reason = refused[name] {
                diagnostics.append(.error("refused-key", "`\(name)` is not allowed in \(context)", at: pair.key.span, help: reason))
                if name.lowercased().contains("action") { standIns.insert("actions") }
                if name.lowercased().contains("resource") { standIns.insert("resources") }
            } else {
                let guess = Suggestion.closest(to: name, in: allowed)
                if let guess { standIns.insert(guess) }
                let help = guess.map { "did you mean `\($0)`?" }
                    ?? "\(context) takes: \(allowed.map { "`\($0)`" }.joined(separator: ", "))"
                diagnostics.append(.error("unknown-key", "unknown key `\(name)` in \(context)", at: pair.key.span, help: help))
            }
        }
        return out
    }

    mutating func missing(_ key: String, in node: Node, context: String, help: String? = nil) {
        if standIns.contains(key) { return }
        diagnostics.append(.error("missing-key", "\(context) needs `\(key)`", at: span(of: node), help: help))
    }
}
