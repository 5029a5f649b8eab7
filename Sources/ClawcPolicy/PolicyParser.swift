import ClawcDiagnostics
import ClawcSyntax
import Foundation

/// Reads a policy JSON document (a golden file, `clawc diff` input, a parent's recorded policy) into a `Policy`.
///
/// What clawc compares must mean to clawc what it means to IAM, so anything it cannot judge soundly is refused
/// with its line and column rather than read one plausible way: invalid JSON and duplicate keys (through
/// `StrictJSON`), a `Version` other than `2012-10-17`, policy variables (`${...}`), unknown keys and condition
/// operators, case-insensitively equal condition keys, text not in Unicode NFC, empty lists, and condition values
/// whose text IAM might read differently. Only what clawc emits is read: Allow statements with `Action`,
/// `Resource` and optionally `Condition`; Deny, `NotAction`, `NotResource` and `Principal` are refused.
public enum PolicyParser {
    /// Why a document was refused, and where (1-based line, column in Unicode scalars).
    public struct Failure: Error, CustomStringConvertible, Sendable {
        /// A stable kebab-case code such as `invalid-json`, `duplicate-key` or `policy-variable`.
        public var code: String
        public var message: String
        public var line: Int
        public var column: Int
        /// The span's length in scalars, for the caret line.
        public var length: Int
        public var help: String?
        /// A second place the message refers to, such as the first of two duplicate keys.
        public var related: Related?

        public struct Related: Sendable {
            public var message: String
            public var line: Int
            public var column: Int
            public var length: Int
        }

        public var description: String { message }

        init(_ code: String, _ message: String, at location: SourceLocation, length: Int = 1, help: String? = nil, related: Related? = nil) {
            self.code = code
            self.message = message
            self.line = location.line
            self.column = location.column
            self.length = length
            self.help = help
            self.related = related
        }

        /// The failure as a located diagnostic against `path`, quoting the line from `data` (the bytes that were
        /// parsed) with every character that could disturb a terminal shown as `?`.
        public func diagnostic(path: String, source data: Data) -> Diagnostic {
            let file = SourceFile(path: path, text: PolicyParser.displayText(data))
            let span = SourceSpan(file: file, start: SourceLocation(line: line, column: column), length: length)
            let notes = related.map { [Diagnostic.Note($0.message, at: SourceSpan(file: file, start: SourceLocation(line: $0.line, column: $0.column), length: $0.length))] } ?? []
            return .error(code, message, at: span, help: help, notes: notes)
        }
    }

    /// The only policy language version clawc judges. In `2008-10-17` (IAM's default when `Version` is absent)
    /// `${...}` is plain text, so the same strings mean something else.
    public static let version = "2012-10-17"

    /// Parses a policy; any document clawc cannot judge soundly throws a located `Failure`.
    public static func parse(_ data: Data) throws(Failure) -> Policy {
        let root: StrictJSON.Node
        do { root = try StrictJSON.parse(data) } catch {
            throw Failure(error.code, error.message, at: error.location, length: error.length, help: error.help,
                          related: error.related.map { Failure.Related(message: $0.message, line: $0.location.line, column: $0.location.column, length: $0.length) })
        }
        return try Walker().policy(root)
    }

    /// Parses a policy read from `path`; a refusal comes back as a diagnostic ready for `DiagnosticRenderer`.
    public static func read(_ data: Data, path: String) -> Result<Policy, Diagnostic> {
        do { return .success(try parse(data)) } catch { return .failure(error.diagnostic(path: path, source: data)) }
    }

    /// The text of `data` for quoting in a diagnostic: invalid UTF-8 as U+FFFD, and C1 controls, bidirectional
    /// controls and invisible format characters as `?`, one scalar for one so columns still line up. (The
    /// renderer already shows C0 controls and DEL as `?`.)
    static func displayText(_ data: Data) -> String {
        let text = String(decoding: data, as: UTF8.self)
        guard text.unicodeScalars.contains(where: { $0.value >= 0x80 && StrictJSON.isUnsafeToPrint($0) }) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            out.append(scalar.value >= 0x80 && StrictJSON.isUnsafeToPrint(scalar) ? "?" : scalar)
        }
        return String(out)
    }
}

/// Walks the parsed tree and builds the `Policy`, refusing at the first thing it cannot judge.
private struct Walker {
    typealias Node = StrictJSON.Node
    typealias Member = StrictJSON.Member
    typealias Failure = PolicyParser.Failure

    static let policyKeys = ["Version", "Id", "Statement"]
    static let statementKeys = ["Sid", "Effect", "Action", "Resource", "Condition"]
    /// Statement elements IAM knows that clawc does not judge: it never emits them.
    static let refusedKeys = ["NotAction", "NotResource", "Principal", "NotPrincipal"]

    func shown(_ text: String) -> String { StrictJSON.shown(text) }

    func policy(_ root: Node) throws(Failure) -> Policy {
        guard case .object(let members) = root.value else {
            throw Failure("invalid-policy", "a policy must be a JSON object, not \(root.kind)", at: root.start, help: "a policy looks like `{\"Version\": \"2012-10-17\", \"Statement\": [...]}`")
        }
        var version: Member?
        var statement: Member?
        for member in members {
            switch member.key {
            case "Version": version = member
            case "Statement": statement = member
            case "Id":
                guard case .string = member.value.value else {
                    throw Failure("invalid-policy", "`Id` must be a string, not \(member.value.kind)", at: member.value.start, length: member.value.length)
                }
            default:
                throw unknownKey(member, in: "the policy", allowed: Self.policyKeys)
            }
        }
        try checkVersion(version, root: root)
        guard let statement else {
            throw Failure("invalid-policy", "the policy has no `Statement`", at: root.start, help: "add `\"Statement\": [...]` with the policy's Allow statements")
        }
        let items: [Node]
        switch statement.value.value {
        case .array(let list): items = list
        case .object: items = [statement.value]
        default:
            throw Failure("invalid-policy", "`Statement` must be a list of statements or one statement object, not \(statement.value.kind)",
                          at: statement.value.start, length: statement.value.length)
        }
        var statements: [Statement] = []
        for (index, item) in items.enumerated() { statements.append(try self.statement(item, number: index + 1)) }
        return Policy(statements: statements)
    }

    func checkVersion(_ version: Member?, root: Node) throws(Failure) {
        guard let version else {
            throw Failure("unsupported-version", "the policy has no `Version`, so IAM reads it as version `2008-10-17`, which clawc does not judge",
                          at: root.start,
                          help: "add `\"Version\": \"2012-10-17\"`; without it IAM reads `${...}` as plain text, so the same policy means something else")
        }
        let node = version.value
        guard case .string(let text) = node.value else {
            throw Failure("unsupported-version", "`Version` must be the string `\(PolicyParser.version)`, not \(node.kind)", at: node.start, length: node.length,
                          help: "write `\"Version\": \"2012-10-17\"`")
        }
        if text == PolicyParser.version { return }
        if text == "2008-10-17" {
            throw Failure("unsupported-version", "`Version` is `2008-10-17`; clawc judges only version `2012-10-17` policies", at: node.start, length: node.length,
                          help: "version 2008-10-17 reads `${...}` as plain text, not as policy variables; rewrite the policy for `2012-10-17` and check every value that holds `${`")
        }
        throw Failure("unsupported-version", "`Version` `\(shown(text))` is not an IAM policy language version; clawc judges `2012-10-17` policies",
                      at: node.start, length: node.length, help: "write `\"Version\": \"2012-10-17\"`")
    }

    func unknownKey(_ member: Member, in place: String, allowed: [String]) -> Failure {
        let guess = Suggestion.closest(to: member.key, in: allowed).map { "did you mean `\($0)`? keys are case-sensitive; " } ?? ""
        let list = allowed.map { "`\($0)`" }.joined(separator: ", ")
        return Failure("unknown-key", "unknown key `\(shown(member.key))` in \(place)", at: member.keyStart, length: member.keyLength,
                       help: guess + "\(place) may hold only \(list)")
    }

    func statement(_ node: Node, number: Int) throws(Failure) -> Statement {
        let label = "statement \(number)"
        guard case .object(let members) = node.value else {
            throw Failure("invalid-policy", "\(label) is \(node.kind), not an object", at: node.start, length: node.length)
        }
        var fields: [String: Member] = [:]
        for member in members {
            if Self.statementKeys.contains(member.key) {
                fields[member.key] = member
            } else if Self.refusedKeys.contains(member.key) {
                throw Failure("unsupported-element", "\(label) uses `\(member.key)`, which clawc does not read", at: member.keyStart, length: member.keyLength,
                              help: "clawc judges what it compiles: Allow statements with `Action` and `Resource`; it does not guess what this one grants")
            } else {
                throw unknownKey(member, in: label, allowed: Self.statementKeys)
            }
        }
        guard let effect = fields["Effect"] else {
            throw Failure("invalid-policy", "\(label) has no `Effect`", at: node.start, help: "add `\"Effect\": \"Allow\"`")
        }
        guard case .string(let effectText) = effect.value.value else {
            throw Failure("invalid-policy", "`Effect` in \(label) must be the string `Allow`, not \(effect.value.kind)", at: effect.value.start, length: effect.value.length)
        }
        if effectText == "Deny" {
            throw Failure("unsupported-effect", "\(label) is a Deny; clawc reads Allow-only session policies", at: effect.value.start, length: effect.value.length,
                          help: "a session policy clawc compiles holds Allow statements only; compare Deny statements by hand")
        }
        guard effectText == "Allow" else {
            throw Failure("invalid-policy", "`Effect` in \(label) is `\(shown(effectText))`; IAM knows only `Allow` and `Deny`, spelled so",
                          at: effect.value.start, length: effect.value.length)
        }
        var sid: String?
        if let member = fields["Sid"] {
            guard case .string(let text) = member.value.value else {
                throw Failure("invalid-policy", "`Sid` in \(label) must be a string, not \(member.value.kind)", at: member.value.start, length: member.value.length)
            }
            sid = text
        }
        let actions = try elementStrings(fields["Action"], "Action", label, node)
        for (text, at) in actions {
            try checkText(text, at, what: "`Action` value")
            if let bad = text.unicodeScalars.first(where: { $0.value < 0x21 || $0.value > 0x7E }) {
                throw Failure("invalid-policy", "`Action` value `\(shown(text))` holds `\(shown(String(bad)))` (U+\(hex4(bad.value))), which no AWS action name has",
                              at: at.start, length: at.length, help: "an action is `service:ActionName` in ASCII letters and digits, `*` and `?`")
            }
        }
        let resources = try elementStrings(fields["Resource"], "Resource", label, node)
        for (text, at) in resources { try checkText(text, at, what: "`Resource` value") }
        var conditions = ConditionBlock()
        if let member = fields["Condition"] { conditions = try conditionBlock(member, label) }
        return Statement(sid: sid, actions: actions.map(\.0), resources: resources.map(\.0), conditions: conditions)
    }

    /// Where a string came from: the start and length of its token (a value, or an object key).
    typealias Place = (start: SourceLocation, length: Int)

    /// `Action` or `Resource`: one string, or a non-empty list of strings.
    func elementStrings(_ member: Member?, _ name: String, _ label: String, _ statement: Node) throws(Failure) -> [(String, Place)] {
        guard let member else {
            throw Failure("invalid-policy", "\(label) has no `\(name)`", at: statement.start,
                          help: "clawc reads statements with both `Action` and `Resource`")
        }
        let node = member.value
        switch node.value {
        case .string(let text): return [(text, (node.start, node.length))]
        case .array(let items):
            guard !items.isEmpty else {
                throw Failure("invalid-policy", "`\(name)` in \(label) is an empty list", at: node.start,
                              help: "list at least one \(name == "Action" ? "action" : "resource"), or remove the statement")
            }
            var out: [(String, Place)] = []
            for item in items {
                guard case .string(let text) = item.value else {
                    throw Failure("invalid-policy", "`\(name)` in \(label) holds \(item.kind) where a string is needed", at: item.start, length: item.length,
                                  help: "write every \(name == "Action" ? "action" : "resource") as a JSON string in double quotes")
                }
                out.append((text, (item.start, item.length)))
            }
            return out
        default:
            throw Failure("invalid-policy", "`\(name)` in \(label) must be a string or a list of strings, not \(node.kind)", at: node.start, length: node.length)
        }
    }

    /// Refuses text clawc cannot compare soundly: policy variables, and text not in Unicode NFC.
    func checkText(_ text: String, _ place: Place, what: String) throws(Failure) {
        let scalars = Array(text.unicodeScalars)
        // Where inside the token a scalar offset lands: exact when the token has no escapes (its length is the
        // text's plus two quotes); otherwise the whole token.
        func at(_ offset: Int, _ length: Int) -> (SourceLocation, Int) {
            guard place.length == scalars.count + 2 else { return (place.start, place.length) }
            return (SourceLocation(line: place.start.line, column: place.start.column + 1 + offset), max(1, length))
        }
        if let dollar = scalars.indices.first(where: { $0 + 1 < scalars.count && scalars[$0] == "$" && scalars[$0 + 1] == "{" }) {
            let close = scalars[dollar...].firstIndex(of: "}") ?? scalars.count - 1
            let variable = String(String.UnicodeScalarView(scalars[dollar...close]))
            let (start, length) = at(dollar, close - dollar + 1)
            let help = "write the value out without `${...}`; policies clawc compiles never hold policy variables"
            if ["${*}", "${?}", "${$}"].contains(variable) {
                let literal = String(variable.dropFirst(2).dropLast())
                throw Failure("policy-variable", "\(what) `\(shown(text))` holds `\(variable)`, which IAM reads as a literal `\(literal)`; clawc cannot judge it",
                              at: start, length: length, help: help)
            }
            throw Failure("policy-variable", "\(what) `\(shown(text))` holds the policy variable `\(shown(variable))`, which IAM fills in per request; clawc cannot judge what it matches",
                          at: start, length: length, help: help)
        }
        if !text.utf8.allSatisfy({ $0 < 0x80 }), !text.precomposedStringWithCanonicalMapping.unicodeScalars.elementsEqual(text.unicodeScalars) {
            throw Failure("unnormalized-text", "\(what) `\(StrictJSON.shown(text, asciiOnly: true))` is not in Unicode composed form (NFC); clawc would take it for its composed spelling, which IAM may not",
                          at: place.start, length: place.length,
                          help: "rewrite it in NFC: `é` as the one character U+00E9, not `e` followed by U+0301")
        }
    }

    func conditionBlock(_ member: Member, _ label: String) throws(Failure) -> ConditionBlock {
        guard case .object(let operators) = member.value.value else {
            throw Failure("invalid-policy", "`Condition` in \(label) must be an object of condition operators, not \(member.value.kind)",
                          at: member.value.start, length: member.value.length)
        }
        guard !operators.isEmpty else {
            throw Failure("invalid-policy", "`Condition` in \(label) is empty", at: member.value.start, help: "remove it, or add the conditions meant to be there")
        }
        // Built directly rather than through `ConditionBlock.add`, whose de-duplication is quadratic in the number
        // of values; the result is the same (each key's values unique and sorted).
        var entries: [String: [String: [String]]] = [:]
        for op in operators {
            guard ConditionOperator.isKnown(op.key) else {
                let guess = Suggestion.closest(to: ConditionOperator.base(op.key), in: ConditionOperator.baseNames).map { "did you mean `\($0)`? " } ?? ""
                throw Failure("unknown-operator", "unknown condition operator `\(shown(op.key))` in \(label)", at: op.keyStart, length: op.keyLength,
                              help: guess + "IAM refuses a policy with an unknown operator, so it grants nothing")
            }
            guard case .object(let keys) = op.value.value else {
                throw Failure("invalid-policy", "`\(op.key)` in \(label) must be an object of condition keys, not \(op.value.kind)", at: op.value.start, length: op.value.length)
            }
            guard !keys.isEmpty else {
                throw Failure("invalid-policy", "`\(op.key)` in \(label) holds no condition keys", at: op.value.start, help: "remove it, or add the keys meant to be there")
            }
            // IAM matches condition keys without regard to case, so `aws:SourceIp` and `aws:sourceip` are one key.
            var seen: [String: Member] = [:]
            for key in keys {
                try checkText(key.key, (key.keyStart, key.keyLength), what: "condition key")
                let folded = key.key.lowercased()
                if let first = seen[folded] {
                    throw Failure("duplicate-key", "condition key `\(shown(key.key))` appears twice under `\(op.key)` in \(label): IAM condition keys ignore case, and `\(shown(first.key))` is on line \(first.keyStart.line), column \(first.keyStart.column)",
                                  at: key.keyStart, length: key.keyLength, help: "keep one of them and merge their values",
                                  related: .init(message: "the first is here", line: first.keyStart.line, column: first.keyStart.column, length: first.keyLength))
                }
                seen[folded] = key
                entries[op.key, default: [:]][key.key] = Array(Set(try conditionValues(key, op.key, label))).sorted()
            }
        }
        return ConditionBlock(entries)
    }

    /// A condition key's values: strings, and JSON numbers and booleans only where their text is certain.
    func conditionValues(_ key: Member, _ op: String, _ label: String) throws(Failure) -> [String] {
        let context = "`\(shown(key.key))` under `\(op)` in \(label)"
        func one(_ node: Node) throws(Failure) -> String {
            let text: String
            switch node.value {
            case .string(let value): text = value
            case .bool(let value): text = value ? "true" : "false"
            case .number(let written):
                // IAM compares a JSON number by some text of it. A whole number of up to 18 digits has one such
                // text whatever the reader; `1.50`, `1e2` or `-0` may be read back as `1.5`, `100.0` or `0`.
                let digits = written.hasPrefix("-") ? written.dropFirst() : Substring(written)
                guard written != "-0", !digits.isEmpty, digits.count <= 18, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                    throw Failure("unsupported-value", "the condition value `\(written)` of \(context) is a number whose text IAM may read differently; clawc cannot judge it",
                                  at: node.start, length: node.length, help: "write it as a string: `\"\(written)\"`")
                }
                text = written
            default:
                throw Failure("invalid-policy", "the value of \(context) is \(node.kind); IAM condition values are strings (or lists of them)",
                              at: node.start, length: node.length)
            }
            try checkText(text, (node.start, node.length), what: "condition value")
            return text
        }
        let node = key.value
        guard case .array(let items) = node.value else { return [try one(node)] }
        guard !items.isEmpty else {
            throw Failure("invalid-policy", "the values of \(context) are an empty list", at: node.start,
                          help: "list at least one value, or remove the key")
        }
        var values: [String] = []
        for item in items {
            if case .array = item.value {
                throw Failure("invalid-policy", "a value of \(context) is a list inside a list", at: item.start, help: "list the values in one flat list")
            }
            values.append(try one(item))
        }
        return values
    }
}
