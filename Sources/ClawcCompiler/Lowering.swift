import ClawcCatalog
import ClawcDiagnostics
import ClawcPolicy
import ClawcSyntax

/// Checks a rule against the catalog and lowers its grants to IR statements: AST to IR.
///
/// Actions come out exact and canonical: `s3:get*` becomes the list of matching `s3` actions, `access:` levels
/// become the actions of that level that apply to the grant's resources. Resources and condition values still
/// hold their slots; the slot-filling pass replaces them.
public struct RuleLowering {
    public let catalog: Catalog
    /// Resource types by (service, pattern): the same few patterns are asked about for every action of a grant.
    private let typeCache = TypeCache()

    public init(catalog: Catalog) { self.catalog = catalog }

    final class TypeCache: @unchecked Sendable {
        var entries: [String: Set<String>] = [:]
    }

    /// `resourceTypes(of:in:)`, remembered for this lowering.
    func cachedResourceTypes(of pattern: String, in service: Service) -> Set<String> {
        let key = service.prefix + "\u{0}" + pattern
        if let hit = typeCache.entries[key] { return hit }
        let types = Self.resourceTypes(of: pattern, in: service)
        typeCache.entries[key] = types
        return types
    }

    /// Access levels as written in rules, and as the catalog names them.
    static let accessLevels = ["list": "List", "read": "Read", "write": "Write", "tagging": "Tagging", "permissions-management": "Permissions management"]

    /// The lowered statements (one per grant, in order) and the diagnostics found.
    public func lower(_ rule: Rule) -> ([IRStatement], [Diagnostic]) {
        // A PostgreSQL rule has no IAM statements; `PostgresPlanner` is its compiler.
        if rule.isPostgres { return ([], []) }
        var diagnostics: [Diagnostic] = []
        var statements: [IRStatement] = []
        // Per action: the resource types the rule's grants name for it, and where it was first written.
        var namedTypes: [String: (types: Set<String>, info: Action, span: SourceSpan)] = [:]
        for (index, grant) in rule.grants.enumerated() {
            // Resource-type decisions use each pattern as written, with slots at a typical value.
            let envelopes = grant.resources.map { [Envelope.sample(for: $0, in: rule)] }
            var actions: [(name: String, info: Action, span: SourceSpan?)] = []
            for action in grant.actions {
                for resolved in resolve(action, &diagnostics) {
                    actions.append((resolved.0, resolved.1, action.span))
                    let types = typesNamed(by: envelopes.flatMap { $0 }, service: serviceName(resolved.0))
                    var known = namedTypes[resolved.0] ?? (types: [], info: resolved.1, span: action.span)
                    known.types.formUnion(types)
                    namedTypes[resolved.0] = known
                }
            }
            for (service, levels) in grant.access {
                actions += expandAccess(service: service, levels: levels, resources: envelopes.flatMap { $0 }, &diagnostics)
                    .map { ($0.0, $0.1, nil) }
            }
            // Every named action must fit at least one resource; every resource must serve some action.
            var resourceUsed = [Bool](repeating: false, count: grant.resources.count)
            for action in actions {
                let fits = envelopes.map { patterns in patterns.contains { fitsResource(action.info, $0, service: serviceName(action.name)) } }
                for (i, fit) in fits.enumerated() where fit { resourceUsed[i] = true }
                if !fits.contains(true), let span = action.span {
                    diagnostics.append(resourceMismatch(action: action.name, info: action.info, at: span, grant: grant))
                }
            }
            for (i, used) in resourceUsed.enumerated() where !used && !actions.isEmpty {
                diagnostics.append(.error(
                    "resource-type-mismatch", "no action of this grant can use `\(grant.resources[i].source.value)`",
                    at: grant.resources[i].source.span,
                    help: "check the ARN format against the actions' resource types, or move it to a grant whose actions use it"))
            }
            checkConditions(grant, actions: actions.map { ($0.name, $0.info) }, envelopes: envelopes.flatMap { $0 }, &diagnostics)
            for template in grant.resources { checkFieldWildcards(template, grant: grant, rule: rule, &diagnostics) }
            if !grant.access.isEmpty && actions.isEmpty && !diagnostics.contains(where: { $0.severity == .error }) {
                diagnostics.append(.error(
                    "empty-grant", "\(grant.name) expands to no action that applies to its resources", at: grant.span,
                    help: "check the access levels against the resources' types"))
            }
            var seen = Set<String>()
            let names = actions.map(\.name).filter { seen.insert($0.lowercased()).inserted }
            var conditions = ConditionBlock()
            for condition in grant.conditions {
                conditions.add(condition.op.value, condition.key.value, condition.values.map(\.source.value))
            }
            statements.append(IRStatement(
                grants: [index], sids: grant.sid.map { [$0.value] } ?? [], actions: names,
                resources: grant.resources.map(\.source.value), conditions: conditions, narrowToTargets: grant.narrowToTargets))
        }
        // An action authorizes every resource it touches: if a required type is named by no grant, AWS refuses
        // every request for it, whatever the grants say about the others (`ec2:RunInstances` needs its image,
        // subnet, security group, ... as well as the instance).
        for (name, known) in namedTypes.sorted(by: { $0.key < $1.key }) {
            let required = Set(known.info.resources.filter(\.required).map(\.type))
            let missing = required.subtracting(known.types).sorted()
            guard !missing.isEmpty, !diagnostics.contains(where: { $0.severity == .error && $0.span?.start == known.span.start }) else { continue }
            diagnostics.append(.error(
                "required-resource-missing",
                "`\(name)` also needs \(missing.map { "`\($0)`" }.joined(separator: ", ")), which no grant of this rule names, so AWS refuses every request for it",
                at: known.span, help: "add a grant with `\(name)` on the ARN patterns of those resource types (or `*`)"))
        }
        return (statements, diagnostics)
    }

    func serviceName(_ action: String) -> String { String(action.prefix { $0 != ":" }) }

    /// Exact, canonical actions for one written action (a wildcard expands to every match).
    func resolve(_ action: Located<String>, _ diagnostics: inout [Diagnostic]) -> [(String, Action)] {
        let parts = action.value.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return [] }
        guard let service = lookup(Located(parts[0], at: action.span(ofScalarsAt: 0, count: parts[0].count)), &diagnostics) else { return [] }
        let nameSpan = action.span(ofScalarsAt: parts[0].count + 1, count: parts[1].count)
        if Wildcard.hasWildcards(parts[1]) {
            let glob = Glob(parts[1].lowercased())
            let matches = service.actionNames.filter { glob.matches($0.lowercased()) }
            if matches.isEmpty {
                diagnostics.append(.error(
                    "unknown-action", "`\(action.value)` matches no action of `\(service.prefix)`", at: action.span))
            } else {
                diagnostics.append(Diagnostic(
                    .warning, code: "wildcard-action",
                    "`\(action.value)` grants the \(matches.count) action(s) it matches in this catalog, not ones AWS adds later",
                    at: action.span, help: "list the actions to make the grant explicit; `clawc check` shows any change a catalog update brings"))
            }
            return matches.compactMap { name in service.actions[name].map { ("\(service.prefix):\(name)", $0) } }
        }
        guard let canonical = service.canonicalName(parts[1]), let info = service.actions[canonical] else {
            let guess = Suggestion.closest(to: parts[1], in: service.actionNames)
            diagnostics.append(.error(
                "unknown-action", "`\(service.prefix)` has no action `\(parts[1])`", at: nameSpan,
                help: guess.map { "did you mean `\(service.prefix):\($0)`?" }))
            return []
        }
        return [("\(service.prefix):\(canonical)", info)]
    }

    func lookup(_ prefix: Located<String>, _ diagnostics: inout [Diagnostic]) -> Service? {
        do {
            if let service = try catalog.service(prefix.value) { return service }
        } catch {
            diagnostics.append(.error("catalog-error", String(describing: error), at: prefix.span))
            return nil
        }
        let guess = Suggestion.closest(to: prefix.value, in: catalog.servicePrefixes)
        diagnostics.append(.error(
            "unknown-service", "no AWS service has the prefix `\(prefix.value)`", at: prefix.span,
            help: guess.map { "did you mean `\($0)`?" }))
        return nil
    }

    func expandAccess(service: Located<String>, levels: [Located<String>], resources: [String], _ diagnostics: inout [Diagnostic]) -> [(String, Action)] {
        guard let info = lookup(service, &diagnostics) else { return [] }
        var wanted = Set<String>()
        for level in levels {
            if let name = Self.accessLevels[level.value.lowercased()] {
                wanted.insert(name)
            } else {
                let guess = Suggestion.closest(to: level.value, in: Self.accessLevels.keys.sorted())
                diagnostics.append(.error(
                    "unknown-access-level", "unknown access level `\(level.value)`", at: level.span,
                    help: guess.map { "did you mean `\($0)`?" } ?? "levels: `list`, `read`, `write`, `tagging`, `permissions-management`"))
            }
        }
        let named = typesNamed(by: resources, service: info.prefix)
        return info.actionNames.compactMap { name in
            guard let action = info.actions[name], wanted.contains(action.access) else { return nil }
            guard resources.contains(where: { fitsResource(action, $0, service: info.prefix) }) else { return nil }
            // Leave out actions that also need resource types the grant does not name: they could never succeed.
            guard action.resources.filter(\.required).allSatisfy({ named.contains($0.type) }) else { return nil }
            return ("\(info.prefix):\(name)", action)
        }
    }

    /// Whether a resource pattern can name a resource of one of the action's types (or is `*`).
    func fitsResource(_ action: Action, _ pattern: String, service: String) -> Bool {
        if pattern == "*" { return true }
        guard !action.resources.isEmpty, let info = try? catalog.service(service) else { return false }
        let types = cachedResourceTypes(of: pattern, in: info)
        return action.resources.contains { types.contains($0.type) }
    }

    /// A warning for a resource pattern whose wildcard in the partition, service or region sits before a literal
    /// account: IAM documents that a `*` ending a segment may reach past the colons after it, so under that
    /// reading a request in another account whose resource part repeats the rest of the pattern would match.
    /// clawc cannot rule that reading out; a condition on `aws:ResourceAccount` pins the account whatever IAM does.
    func checkFieldWildcards(_ template: Template, grant: Grant, rule: Rule, _ diagnostics: inout [Diagnostic]) {
        for pattern in Envelope.patterns(for: template, in: rule).map(ResourcePattern.init) {
            guard let fields = pattern.fields, let first = pattern.reachesPastField, first < 3, !fields[3].hasWildcards, !fields[3].text.isEmpty
            else { continue }
            // Pinned only by the rule's own literal: exactly this account, no slot a task could fill.
            let pinned = grant.conditions.contains { condition in
                ["StringEquals", "StringEqualsIgnoreCase"].contains(condition.op.value) && condition.key.value.lowercased() == "aws:resourceaccount"
                    && condition.values.count == 1 && condition.values[0].source.value == fields[3].text
                    && !condition.values[0].pieces.contains { if case .slot = $0 { true } else { false } }
            }
            if pinned { continue }
            diagnostics.append(Diagnostic(
                .warning, code: "wildcard-may-cross-fields",
                "the wildcard in the \(ResourcePattern.fieldNames[first]) of `\(template.source.value)` may reach past the colons after it, as IAM documents for a `*` that ends a segment, so this grant could also match resources in other accounts than `\(fields[3].text)`",
                at: template.source.span,
                help: "name the \(ResourcePattern.fieldNames[first]) (one pattern per value), or add `StringEquals: {aws:ResourceAccount: \"\(fields[3].text)\"}` under `when` where the grant's actions support that key"))
            return
        }
    }

    /// Every resource type of `service` that one of `patterns` names (all of them for `*`).
    func typesNamed(by patterns: [String], service: String) -> Set<String> {
        guard let info = try? catalog.service(service) else { return [] }
        var out = Set<String>()
        for pattern in patterns {
            if pattern == "*" { return Set(info.resourceTypes.keys) }
            out.formUnion(cachedResourceTypes(of: pattern, in: info))
        }
        return out
    }

    /// The resource types of a service that a pattern names.
    ///
    /// ARN formats are compared as patterns (every `${Variable}` a `*`), which makes a general format such as
    /// the bucket's `arn:*:s3:::*` also match object ARNs. So a type is dropped when the pattern lies entirely
    /// inside the format of a more specific type: `arn:aws:s3:::b/*` names objects, not buckets, while
    /// `arn:aws:s3:::*` can name both.
    ///
    /// ARNs are compared field by field (partition, service, region, account, then the resource part), the way
    /// AWS documents its formats, so a `*` in one field does not stand in for the colons of another.
    static func resourceTypes(of pattern: String, in service: Service) -> Set<String> {
        guard let fields = ArnFields(pattern) else { return [] }
        var overlapping: [String: ArnFields] = [:]
        for (name, type) in service.resourceTypes {
            guard let format = ArnFields(type.arnPattern), format.overlaps(fields) else { continue }
            overlapping[name] = format
        }
        let names = overlapping.keys.filter { name in
            guard let format = overlapping[name] else { return false }
            return !overlapping.contains { other, otherFormat in
                other != name && format.resource.contains(otherFormat.resource) && !otherFormat.resource.contains(format.resource)
                    && otherFormat.resource.contains(fields.resource)
            }
        }
        return Set(names)
    }

    func resourceMismatch(action: String, info: Action, at span: SourceSpan, grant: Grant) -> Diagnostic {
        let help: String
        if info.resources.isEmpty {
            help = "`\(action)` cannot be scoped to a resource: AWS only honours `Resource: \"*\"` for it; give it its own grant with `resources: [\"*\"]`"
        } else {
            let service = try? catalog.service(serviceName(action))
            let formats = info.resources.compactMap { ref in service?.resourceTypes[ref.type].map { "`\($0.arn)`" } }
            help = "`\(action)` works on \(formats.joined(separator: " or "))"
        }
        return .error(
            "resource-type-mismatch", "no resource of \(grant.name) is one `\(action)` can act on, so it would grant nothing",
            at: span, help: help)
    }

    /// Condition checks: keys the requests never carry, `ForAllValues` that is always true, and operator types.
    func checkConditions(_ grant: Grant, actions: [(String, Action)], envelopes: [String], _ diagnostics: inout [Diagnostic]) {
        for condition in grant.conditions {
            let op = condition.op.value
            let base = ConditionOperator.base(op)
            var keyType: String?
            var missing: [(String, Action)] = []
            for (name, action) in actions {
                if let type = keyTypeIfSupported(condition.key.value, action: action, service: serviceName(name), resources: envelopes) {
                    keyType = keyType ?? type
                } else {
                    missing.append((name, action))
                }
            }
            // A key absent from the request: positive operators fail (the grant allows nothing for that action);
            // `...IfExists`, negated operators and `ForAllValues:` pass (the condition restricts nothing).
            let passesWhenAbsent = op.hasSuffix("IfExists") || op.hasPrefix("ForAllValues:") || ConditionOperator.isNegated(base)
            if base == "Null" {
                // `Null` tests presence itself.
            } else if passesWhenAbsent {
                // `IfExists` says so on purpose: flag it only when no action carries the key. A negated operator or
                // `ForAllValues:` that passes for some actions only because their requests lack the key is a trap.
                let flagged = op.hasSuffix("IfExists") ? (missing.count == actions.count ? missing : []) : missing
                if !flagged.isEmpty {
                    let names = flagged.map { "`\($0.0)`" }
                    let shown = names.count > 3 ? names.prefix(3).joined(separator: ", ") + " and \(names.count - 3) more" : names.joined(separator: ", ")
                    let scope = flagged.count == actions.count ? "restricts nothing" : "restricts nothing for \(flagged.count == 1 ? "it" : "them")"
                    diagnostics.append(.error(
                        "condition-always-true", "`\(condition.key.value)` is never in a \(shown) request, so `\(op)` is always true and \(scope)",
                        at: condition.key.span,
                        help: "use a key the grant's actions carry, or move those actions to their own grant\(op.hasPrefix("ForAllValues:") ? ", or use `ForAnyValue:`" : "")"))
                }
            } else if let (name, action) = missing.first {
                let names = missing.map { "`\($0.0)`" }
                let shown = names.count > 3 ? names.prefix(3).joined(separator: ", ") + " and \(names.count - 3) more" : names.joined(separator: ", ")
                let consequence = missing.count == actions.count ? "this grant allows nothing" : "this grant allows nothing for \(missing.count == 1 ? "it" : "them")"
                diagnostics.append(.error(
                    "condition-never-matches",
                    "`\(condition.key.value)` is never in a \(shown) request, so \(consequence)",
                    at: condition.key.span, help: alternativeHelp(for: condition.key.value, action: name, info: action, resources: envelopes)))
            }
            // The operator's type is checked even when some actions lack the key: that is a second, separate mistake.
            if keyType == nil, let first = actions.first {
                keyType = (try? catalog.service(serviceName(first.0)))?.flatMap { $0.keyType(condition.key.value) } ?? catalog.globalKeyType(condition.key.value)
            }
            if let keyType, let opType = ConditionOperator.types[base], !Self.compatible(operator: opType, key: keyType, name: condition.key.value) {
                diagnostics.append(.error(
                    "condition-type-mismatch", "`\(op)` compares \(opType) values, but `\(condition.key.value)` holds \(keyType) values",
                    at: condition.op.span, help: Self.operatorHint(for: keyType).map { "use \($0)" }))
            }
        }
    }

    /// The key's type when a request for this action can carry it; nil when it never can.
    func keyTypeIfSupported(_ key: String, action: Action, service: String, resources: [String]) -> String? {
        let info = try? catalog.service(service)
        let lowered = key.lowercased()
        let tagFamilies = ["aws:requesttag/", "aws:resourcetag/", "aws:tagkeys"]
        if !tagFamilies.contains(where: { lowered.hasPrefix($0) }), let type = catalog.globalKeyType(key) { return type }
        var supported = action.conditionKeys
        let named = info.map { service in resources.map { $0 == "*" ? Set(service.resourceTypes.keys) : cachedResourceTypes(of: $0, in: service) } } ?? []
        for ref in action.resources {
            guard let type = info?.resourceTypes[ref.type] else { continue }
            if !named.contains(where: { $0.contains(ref.type) }) { continue }
            supported += ref.conditionKeys ?? []
            supported += type.conditionKeys
        }
        guard supported.contains(where: { ConditionKeyName.matches(template: $0, key) }) else { return nil }
        return info?.keyType(key) ?? catalog.globalKeyType(key) ?? "String"
    }

    func alternativeHelp(for key: String, action: String, info: Action, resources: [String]) -> String? {
        var keys = info.conditionKeys
        let service = try? catalog.service(serviceName(action))
        for ref in info.resources {
            keys += ref.conditionKeys ?? []
            keys += service?.resourceTypes[ref.type]?.conditionKeys ?? []
        }
        let shown = { (template: String) in template.replacingOccurrences(of: "${TagKey}", with: "<key>") }
        if key.lowercased().hasPrefix("aws:requesttag/") || key.lowercased().hasPrefix("aws:resourcetag/") {
            let tagKeys = keys.filter { $0.contains("Tag/") && !ConditionKeyName.matches(template: $0, key) }
            if let best = tagKeys.sorted().first(where: { $0.contains("ExistingObjectTag") }) ?? tagKeys.sorted().first {
                return "`\(action)` supports `\(shown(best))`; a request that reads a resource carries no request tags"
            }
        }
        if let guess = Suggestion.closest(to: key, in: keys) { return "did you mean `\(shown(guess))`?" }
        return keys.isEmpty ? "`\(action)` supports only global condition keys" : "`\(action)` supports: \(Set(keys).sorted().map { "`\(shown($0))`" }.joined(separator: ", "))"
    }

    static func compatible(operator op: String, key: String, name: String) -> Bool {
        let scalar = key.hasPrefix("ArrayOf") ? String(key.dropFirst("ArrayOf".count)) : key
        switch op {
        case "Null": return true
        // String operators work on ARN values too; ARN operators only on ARN keys.
        case "String": return ["String", "ARN"].contains(scalar)
        case "ARN": return scalar == "ARN"
        // `aws:EpochTime` is documented as both Date and Numeric.
        case "Numeric": return ["Numeric", "Long", "Integer"].contains(scalar) || name.lowercased() == "aws:epochtime"
        case "Date": return scalar == "Date"
        case "Bool": return ["Bool", "Boolean"].contains(scalar)
        case "IPAddress": return ["IPAddress", "IpAddress"].contains(scalar)
        case "Binary": return ["Binary"].contains(scalar)
        default: return false
        }
    }

    static func operatorHint(for keyType: String) -> String? {
        let scalar = keyType.hasPrefix("ArrayOf") ? String(keyType.dropFirst("ArrayOf".count)) : keyType
        switch scalar {
        case "String": return "a String operator such as `StringEquals` or `StringLike`"
        case "ARN": return "an ARN operator such as `ArnLike`"
        case "Numeric": return "a Numeric operator such as `NumericLessThan`"
        case "Date": return "a Date operator such as `DateGreaterThan`"
        case "Bool": return "`Bool`"
        case "IPAddress": return "`IpAddress` or `NotIpAddress`"
        default: return nil
        }
    }
}

/// An ARN pattern split into its five fields and resource part, for resource-type decisions.
struct ArnFields {
    var fields: [Glob]
    var resource: Glob

    /// Splits at the first five colons; a shorter pattern ending in `*` leaves the missing fields as `*`.
    init?(_ pattern: String) {
        let parts = pattern.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false).map(String.init)
        guard parts.first == "arn" || parts.first == "*" else { return nil }
        if parts.count == 6 {
            fields = parts[1..<5].map(Glob.init)
            resource = Glob(parts[5])
        } else if let last = parts.last, last.hasSuffix("*") {
            let padded = Array(parts.dropFirst()) + Array(repeating: "*", count: 6 - parts.count)
            fields = padded[0..<4].map(Glob.init)
            resource = Glob(padded[4])
        } else {
            return nil
        }
    }

    func overlaps(_ other: ArnFields) -> Bool {
        zip(fields, other.fields).allSatisfy { $0.overlaps($1) } && resource.overlaps(other.resource)
    }
}
