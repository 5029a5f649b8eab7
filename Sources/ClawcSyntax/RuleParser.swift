import ClawcDiagnostics
import Yams

/// Reads rule files, task files and `clawc.yaml` into their syntax trees: source text to AST.
public enum SyntaxReader {
    static let ruleKeys = ["purpose", "summary", "lifetime", "params", "fit", "grants", "callers"]
    static let grantKeys = ["sid", "actions", "access", "resources", "narrow", "when", "postgres"]
    static let refusedGrantKeys = [
        "notActions": "clawc refuses Allow with NotAction: it grants every action not listed, including ones AWS adds later",
        "NotAction": "clawc refuses Allow with NotAction: it grants every action not listed, including ones AWS adds later",
        "notResources": "clawc refuses Allow with NotResource: it grants every resource not listed",
        "NotResource": "clawc refuses Allow with NotResource: it grants every resource not listed",
        "effect": "every grant is an Allow; a session policy can only narrow what the role already has",
        "Effect": "every grant is an Allow; a session policy can only narrow what the role already has",
    ]
    static let paramKeys = ["match", "oneOf", "default"]
    static let taskKeys = ["taskId", "purpose", "targetResources", "tags", "estimatedDuration"]

    /// The most STS allows for a role session: 12 hours.
    public static let maxLifetimeSeconds = 43_200

    /// The longest task estimate accepted: 36 hours (129,600 s), the longest credential any STS path issues
    /// (GetScopedCredentials; a web-identity session stops at 12 hours). A longer estimate could only be capped,
    /// and a number that large is more likely a unit mistake than a task (milliseconds sent as seconds: `600000`
    /// for ten minutes reads as a week), so it is refused where it is read, with its line and column.
    public static let maxEstimateSeconds = 129_600

    /// Parses one rule file. Returns the rule when it has no errors, and every diagnostic found.
    public static func rule(_ source: YAMLSource) -> (Rule?, [Diagnostic]) {
        var reader = NodeReader(file: source.file)
        guard let fields = reader.fields(source.root, context: "a rule", allowed: ruleKeys) else {
            return (nil, reader.diagnostics)
        }
        let rootStandIns = reader.standIns
        var purpose: Located<String>?
        if let node = fields["purpose"]?.value, let value = reader.string(node, context: "`purpose`") {
            if isName(value.value) {
                purpose = value
            } else {
                reader.diagnostics.append(.error(
                    "invalid-purpose", "purpose `\(value.value)` is not a valid name", at: value.span,
                    help: "use lowercase letters, digits and `-`, such as `log-analysis`"))
            }
        } else if fields["purpose"] == nil {
            reader.missing("purpose", in: source.root, context: "a rule", help: "name the task purpose this rule is for, such as `purpose: log-analysis`")
        }
        let summary = fields["summary"].flatMap { reader.string($0.value, context: "`summary`") }
        let lifetime = fields["lifetime"].map { parseLifetime($0.value, &reader) } ?? Lifetime()
        let params = fields["params"].map { parseParams($0.value, &reader) } ?? []
        // When `params` itself is malformed, slots can't be checked against it without misleading follow-on errors.
        let paramsKnown = !reader.diagnostics.contains { $0.severity == .error }
        let fit = fields["fit"].map { parseFit($0.value, &reader) } ?? []
        let callers = fields["callers"].flatMap { parseCallers($0.value, fromDefaults: false, &reader) }
        var grants: [Grant] = []
        if let node = fields["grants"]?.value {
            grants = parseGrants(node, params: paramsKnown ? params : nil, &reader)
        } else {
            reader.standIns = rootStandIns
            reader.missing("grants", in: source.root, context: "a rule", help: "list what this purpose may do under `grants:`")
        }
        guard let purpose, !reader.diagnostics.contains(where: { $0.severity == .error }) else {
            return (nil, reader.diagnostics)
        }
        var rule = Rule(file: source.file, purpose: purpose, summary: summary, lifetime: lifetime, params: params, fit: fit, grants: grants)
        rule.callers = callers
        return (rule, reader.diagnostics)
    }

    static func isName(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, first.isASCIILetter || first.isASCIIDigit, text.unicodeScalars.count <= 64 else { return false }
        return text.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || $0.isASCIIDigit || $0 == "-" }
    }

    /// The most a duration field may say, and what to report past it.
    struct DurationLimit {
        var seconds: Int
        var code: String
        var help: String

        static let lifetime = DurationLimit(
            seconds: SyntaxReader.maxLifetimeSeconds, code: "invalid-lifetime", help: "STS issues role sessions for at most 12 hours")
        static let estimate = DurationLimit(
            seconds: SyntaxReader.maxEstimateSeconds, code: "invalid-duration",
            help: "an estimate is at most 36h (129600s), the longest credential STS issues; a plain number is seconds, so check the unit")
    }

    /// A duration field, in range: every value is checked here, where it is read, so no later arithmetic
    /// (a lifetime margin, an expiry date) sees a number it could overflow on.
    static func duration(_ node: Node, context: String, limit: DurationLimit, _ reader: inout NodeReader) -> Located<Int>? {
        guard let text = reader.string(node, context: context) else { return nil }
        let shown = HostileText.clipped(text.value, to: 40)
        switch DurationText.parse(text.value) {
        case .failure(.notADuration):
            reader.diagnostics.append(.error(
                "invalid-duration", "\(context) `\(shown)` is not a duration", at: text.span,
                help: "write seconds or a number with a unit: `90s`, `10m`, `1h`"))
            return nil
        case .success(let seconds) where seconds <= limit.seconds:
            return Located(seconds, at: text.span)
        case .success, .failure(.overflow):
            reader.diagnostics.append(.error(
                limit.code, "\(context) `\(shown)` is longer than \(DurationText.describe(limit.seconds))", at: text.span,
                help: limit.help))
            return nil
        }
    }

    static func parseLifetime(_ node: Node, _ reader: inout NodeReader) -> Lifetime {
        guard let fields = reader.fields(node, context: "`lifetime`", allowed: ["min", "default", "max"]) else { return Lifetime() }
        var lifetime = Lifetime()
        lifetime.minSeconds = fields["min"].flatMap { duration($0.value, context: "`lifetime.min`", limit: .lifetime, &reader) }
        lifetime.defaultSeconds = fields["default"].flatMap { duration($0.value, context: "`lifetime.default`", limit: .lifetime, &reader) }
        lifetime.maxSeconds = fields["max"].flatMap { duration($0.value, context: "`lifetime.max`", limit: .lifetime, &reader) }
        for value in [lifetime.minSeconds, lifetime.defaultSeconds, lifetime.maxSeconds].compactMap({ $0 }) where value.value < 1 || value.value > maxLifetimeSeconds {
            reader.diagnostics.append(.error(
                "invalid-lifetime", "lifetime \(DurationText.describe(value.value)) is outside 1s..12h", at: value.span,
                help: "STS issues role sessions for at most 12 hours"))
        }
        if let low = lifetime.minSeconds, let high = lifetime.maxSeconds ?? lifetime.defaultSeconds, low.value > high.value {
            reader.diagnostics.append(.error(
                "invalid-lifetime", "`lifetime.min` (\(DurationText.describe(low.value))) is longer than the rule allows (\(DurationText.describe(high.value)))",
                at: low.span))
        }
        if let d = lifetime.defaultSeconds, let m = lifetime.maxSeconds, d.value > m.value {
            reader.diagnostics.append(.error(
                "invalid-lifetime", "`lifetime.default` (\(DurationText.describe(d.value))) is longer than `lifetime.max` (\(DurationText.describe(m.value)))",
                at: d.span))
        }
        return lifetime
    }

    static func parseParams(_ node: Node, _ reader: inout NodeReader) -> [Param] {
        guard let pairs = reader.mapping(node, context: "`params`") else { return [] }
        var params: [Param] = []
        for (key, value) in pairs {
            guard Template.isIdentifier(key.value, extra: "-"), key.value != "task" else {
                reader.diagnostics.append(.error(
                    "invalid-param", "`\(key.value)` is not a usable param name", at: key.span,
                    help: "start with a letter; use letters, digits, `_` and `-`; `task` is reserved"))
                continue
            }
            guard let fields = reader.fields(value, context: "param `\(key.value)`", allowed: paramKeys) else { continue }
            var param = Param(name: key)
            if let node = fields["match"]?.value, let glob = reader.string(node, context: "`match`") {
                if let bad = SlotValue.firstUnsafe(in: glob.value, allowWildcards: true) {
                    reader.diagnostics.append(.error(
                        "invalid-pattern", "`match` pattern holds \(bad.phrase), which a param value may never contain",
                        at: glob.span(ofScalarsAt: bad.offset, count: 1)))
                } else {
                    param.match = glob
                }
            }
            if let node = fields["oneOf"]?.value, let values = reader.strings(node, context: "`oneOf`") {
                if values.isEmpty {
                    reader.diagnostics.append(.error("invalid-param", "`oneOf` is empty: no value could ever be given", at: reader.span(of: node)))
                }
                for value in values {
                    if let bad = SlotValue.firstUnsafe(in: value.value, allowWildcards: false) {
                        reader.diagnostics.append(.error(
                            "invalid-pattern", "`oneOf` value holds \(bad.phrase), which a param value may never contain",
                            at: value.span(ofScalarsAt: bad.offset, count: 1)))
                    }
                }
                param.oneOf = values
            }
            if let node = fields["default"]?.value, let value = reader.string(node, context: "`default`") {
                param.defaultValue = value
                if let problem = SlotValue.check(value.value, against: param) {
                    reader.diagnostics.append(.error("invalid-param", "default `\(value.value)` \(problem)", at: value.span))
                }
            }
            params.append(param)
        }
        return params
    }

    static func parseFit(_ node: Node, _ reader: inout NodeReader) -> Set<FitOption> {
        guard let values = reader.strings(node, context: "`fit`") else { return [] }
        var out: Set<FitOption> = []
        for value in values {
            if let option = FitOption(rawValue: value.value) {
                out.insert(option)
            } else {
                let all = FitOption.allCases.map(\.rawValue)
                reader.diagnostics.append(.error(
                    "unknown-fit-option", "unknown fit option `\(value.value)`", at: value.span,
                    help: Suggestion.closest(to: value.value, in: all).map { "did you mean `\($0)`?" }
                        ?? "fit options: \(all.map { "`\($0)`" }.joined(separator: ", "))"))
            }
        }
        return out
    }

    static func parseGrants(_ node: Node, params: [Param]?, _ reader: inout NodeReader) -> [Grant] {
        guard case .sequence(let items) = node else {
            reader.wrongType(node, expected: "a list of grants", context: "`grants`")
            return []
        }
        if items.isEmpty {
            reader.diagnostics.append(.error("missing-key", "`grants` is empty: this rule grants nothing", at: reader.span(of: node)))
        }
        var grants: [Grant] = []
        var sids: [String: SourceSpan] = [:]
        for (index, item) in items.enumerated() {
            guard let fields = reader.fields(item, context: "a grant", allowed: grantKeys, refused: refusedGrantKeys) else { continue }
            let span = reader.span(of: item)
            var sid: Located<String>?
            if let node = fields["sid"]?.value, let value = reader.string(node, context: "`sid`") {
                if value.value.isEmpty || value.value.count > 128 || !value.value.unicodeScalars.allSatisfy({ $0.isASCIILetter || $0.isASCIIDigit }) {
                    reader.diagnostics.append(.error("invalid-sid", "sid `\(value.value)` is not valid", at: value.span, help: "IAM allows only letters and digits in a Sid"))
                } else if let first = sids[value.value] {
                    reader.diagnostics.append(.error("duplicate-sid", "sid `\(value.value)` is used twice", at: value.span, notes: [.init("first used here", at: first)]))
                } else {
                    sids[value.value] = value.span
                    sid = value
                }
            }
            if let postgres = fields["postgres"] {
                // A PostgreSQL grant names no AWS action or resource: one grant, one kind of access.
                for key in ["actions", "access", "resources", "narrow", "when"] {
                    if let other = fields[key] {
                        reader.diagnostics.append(.error(
                            "mixed-grant", "a grant with `postgres` cannot also have `\(key)`", at: other.key.span,
                            help: "put AWS access and PostgreSQL access in rules of their own"))
                    }
                }
                if let parsed = parsePostgresGrant(postgres.value, params: params, &reader) {
                    var grant = Grant(span: span, sid: sid, actions: [], access: [], resources: [], narrowToTargets: false, conditions: [],
                                      name: sid.map { "`\($0.value)`" } ?? "grant \(index + 1)")
                    grant.postgres = parsed
                    grants.append(grant)
                }
                continue
            }
            let actions = fields["actions"].flatMap { reader.strings($0.value, context: "`actions`") } ?? []
            for action in actions { checkActionSyntax(action, &reader) }
            // An empty list would reach the policy as `"Action":[]`, which STS refuses (or, beside `access:`,
            // says nothing): either way the rule does not say what it meant.
            if let node = fields["actions"]?.value, case .sequence(let items) = node, items.isEmpty {
                reader.diagnostics.append(.error(
                    "empty-actions", "`actions` is empty", at: reader.span(of: node),
                    help: "list the actions this grant allows, such as `[s3:GetObject]`, or remove `actions` and give `access:` levels"))
            }
            var access: [(service: Located<String>, levels: [Located<String>])] = []
            if let node = fields["access"]?.value, let pairs = reader.mapping(node, context: "`access`") {
                if pairs.isEmpty {
                    reader.diagnostics.append(.error(
                        "empty-actions", "`access` names no service", at: reader.span(of: node),
                        help: "give levels by service, such as `access: {s3: [read]}`, or list `actions:` instead"))
                }
                for (service, levelsNode) in pairs {
                    guard let levels = reader.strings(levelsNode, context: "`access.\(service.value)`") else { continue }
                    if levels.isEmpty {
                        reader.diagnostics.append(.error(
                            "empty-actions", "`access.\(service.value)` lists no access level", at: reader.span(of: levelsNode),
                            help: "list levels such as `[read]`; levels: `list`, `read`, `write`, `tagging`, `permissions-management`"))
                    }
                    access.append((service, levels))
                }
            }
            if fields["actions"] == nil && fields["access"] == nil {
                reader.missing("actions", in: item, context: "a grant", help: "list `actions:` or give `access:` levels by service")
            }
            var resources: [Template] = []
            if let node = fields["resources"]?.value, let values = reader.strings(node, context: "`resources`") {
                if values.isEmpty {
                    reader.diagnostics.append(.error(
                        "missing-key", "`resources` is empty", at: reader.span(of: node),
                        help: "list the ARN patterns this grant may reach, such as `[\"arn:aws:s3:::bucket/*\"]`, or `[\"*\"]` for actions that take no resource"))
                }
                for value in values {
                    if let template = template(value, params: params, isResource: true, &reader) { resources.append(template) }
                }
            } else if fields["resources"] == nil {
                reader.missing("resources", in: item, context: "a grant", help: "list the ARN patterns this grant may reach; the task can only narrow them")
            }
            var narrow = false
            if let node = fields["narrow"]?.value, let value = reader.string(node, context: "`narrow`") {
                if value.value == "targets" { narrow = true } else {
                    reader.diagnostics.append(.error("invalid-narrow", "`narrow` can only be `targets`, not `\(value.value)`", at: value.span))
                }
            }
            var conditions: [Condition] = []
            if let node = fields["when"]?.value, let operators = reader.mapping(node, context: "`when`") {
                for (op, keysNode) in operators {
                    if !ConditionOperator.isKnown(op.value) {
                        let guess = Suggestion.closest(to: op.value, in: ConditionOperator.baseNames)
                        reader.diagnostics.append(.error(
                            "unknown-condition-operator", "unknown condition operator `\(op.value)`", at: op.span,
                            help: guess.map { "did you mean `\($0)`?" } ?? "see the IAM condition operators, such as `StringEquals` or `ArnLike`"))
                        continue
                    }
                    guard let keys = reader.mapping(keysNode, context: "`\(op.value)`") else { continue }
                    if keys.isEmpty {
                        reader.diagnostics.append(.error(
                            "invalid-condition", "`\(op.value)` names no condition key, so it restricts nothing", at: reader.span(of: keysNode),
                            help: "write `\(op.value): {KEY: VALUE}`, or remove the operator"))
                    }
                    for (key, valuesNode) in keys {
                        if let problem = ConditionCheck.keyProblem(key.value) {
                            reader.diagnostics.append(.error(
                                "invalid-condition-key", problem.message,
                                at: problem.offset.map { key.span(ofScalarsAt: $0, count: 1) } ?? key.span, help: problem.help))
                            continue
                        }
                        guard let values = reader.strings(valuesNode, context: "`\(key.value)`") else { continue }
                        if values.isEmpty {
                            reader.diagnostics.append(.error(
                                "invalid-condition", "condition `\(key.value)` has no values", at: reader.span(of: valuesNode),
                                help: "give at least one value; an empty list matches no request, so the grant would allow nothing"))
                        }
                        let templates = values.compactMap { template($0, params: params, isResource: false, &reader) }
                        checkValueTypes(templates, op: op, &reader)
                        conditions.append(Condition(op: op, key: key, values: templates))
                    }
                }
            }
            grants.append(Grant(
                span: span, sid: sid, actions: actions, access: access, resources: resources, narrowToTargets: narrow,
                conditions: conditions, name: sid.map { "`\($0.value)`" } ?? "grant \(index + 1)"))
        }
        // A rule issues one kind of credential: an AWS session or a PostgreSQL role, never both.
        if let firstPostgres = grants.first(where: { $0.postgres != nil }), let firstAWS = grants.first(where: { $0.postgres == nil }) {
            reader.diagnostics.append(.error(
                "mixed-rule", "this rule mixes AWS grants and PostgreSQL grants", at: firstAWS.span,
                help: "a rule issues one kind of credential; move the AWS grants or the `postgres` grants into a rule of their own",
                notes: [.init("the first PostgreSQL grant is here", at: firstPostgres.span)]))
        }
        return grants
    }

    /// Values of typed operators (Numeric, Date, Bool, IpAddress, Binary, Null) against their type.
    ///
    /// A slot's value is known only when a task fills it, and slot filling checks that it is safe text, not
    /// that it is a number, a date or an address; so a typed operator takes literal values only. (A `{param}`
    /// whose `oneOf` values are all checked here could be allowed, but the containment prover reads several
    /// values as "any of these" only for `StringEquals`-like String and ARN operators: such a grant would be
    /// reported outside its envelope by `clawc check`, and trips the debug build's check after slot filling.)
    static func checkValueTypes(_ templates: [Template], op: Located<String>, _ reader: inout NodeReader) {
        guard let type = ConditionCheck.valueType(ofOperator: op.value) else { return }
        for value in templates {
            if value.hasSlots {
                reader.diagnostics.append(.error(
                    "condition-value-type", "`\(op.value)` compares \(type.name), and `\(value.source.value)` is only known when a task fills it",
                    at: value.source.span,
                    help: "write the value into the rule (a grant per value if there are several); slots are checked as safe text, not as \(type.name)"))
            } else if let problem = ConditionCheck.valueProblem(value.source.value, type: type) {
                reader.diagnostics.append(.error(
                    "condition-value-type", "`\(op.value)` compares \(type.name), and `\(value.source.value)` \(problem)", at: value.source.span,
                    help: type.help))
            }
        }
    }

    static func checkActionSyntax(_ action: Located<String>, _ reader: inout NodeReader) {
        let parts = action.value.split(separator: ":", omittingEmptySubsequences: false)
        let ok = parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty
            && parts[0].unicodeScalars.allSatisfy { $0.isASCIILetter || $0.isASCIIDigit || $0 == "-" }
            && parts[1].unicodeScalars.allSatisfy { $0.isASCIILetter || $0.isASCIIDigit || $0 == "*" || $0 == "?" }
        if action.value == "*" {
            reader.diagnostics.append(.error(
                "wildcard-action", "`*` would allow every action of every service", at: action.span,
                help: "name the actions, or use `access:` levels"))
        } else if !ok {
            reader.diagnostics.append(.error(
                "invalid-action", "`\(action.value)` is not an action", at: action.span,
                help: "write actions as `service:Action`, such as `s3:GetObject`"))
        }
    }

    /// A resource or condition value: printable ASCII, no policy variables, slots that name declared params.
    static func template(_ value: Located<String>, params: [Param]?, isResource: Bool, _ reader: inout NodeReader) -> Template? {
        for (offset, scalar) in value.value.unicodeScalars.enumerated() {
            let bad = scalar.value < 0x21 || scalar.value > 0x7E || scalar == "\"" || scalar == "\\" || scalar == "$"
            if bad {
                let help = scalar == "$" ? "policy variables such as `${aws:username}` are not supported; use a slot such as `{task.id}`" : nil
                reader.diagnostics.append(.error(
                    "invalid-character", "\(isResource ? "resource" : "condition value") holds \(SlotValue.describe(scalar))",
                    at: value.span(ofScalarsAt: offset, count: 1), help: help))
                return nil
            }
        }
        if isResource, value.value != "*", !value.value.hasPrefix("arn:") {
            reader.diagnostics.append(.error(
                "invalid-resource", "resource `\(value.value)` is not an ARN pattern", at: value.span,
                help: "resources start with `arn:`, such as `arn:aws:s3:::bucket/*`"))
            return nil
        }
        return parseTemplate(value, params: params, &reader)
    }

    /// A template whose `{param}` slots each name a param of the rule (unchecked when `params` is nil: the rule's
    /// own `params` did not read).
    static func parseTemplate(_ value: Located<String>, params: [Param]?, _ reader: inout NodeReader) -> Template? {
        switch Template.parse(value) {
        case .failure(let diagnostic):
            reader.diagnostics.append(diagnostic)
            return nil
        case .success(let template):
            guard let params else { return template }
            for case .slot(.param(let name), let offset, let length) in template.pieces where !params.contains(where: { $0.name.value == name }) {
                let guess = Suggestion.closest(to: name, in: params.map(\.name.value))
                reader.diagnostics.append(.error(
                    "unknown-slot", "slot `{\(name)}` names no param of this rule", at: value.span(ofScalarsAt: offset, count: length),
                    help: guess.map { "did you mean `{\($0)}`?" } ?? "declare it under `params:`, or use `{task.id}` or `{task.tags.NAME}`"))
                return nil
            }
            return template
        }
    }
}
