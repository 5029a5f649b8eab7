import ClawcDiagnostics
import Yams

/// `postgres:` grants: privileges on schema-qualified tables and sequences, columns, and a row scope. Names are
/// checked strictly here (lowercase SQL identifiers, `schema.name`), so every name that reaches SQL is one clawc
/// can quote without surprise; a slot's value is checked the same way once a task fills it.
extension SyntaxReader {
    static let postgresKeys = ["privileges", "tables", "sequences", "columns", "rows"]

    /// The longest identifier PostgreSQL keeps (NAMEDATALEN - 1 bytes); a longer one is silently truncated by the
    /// server, so two different names could reach the same object.
    public static let maxIdentifierBytes = 63

    /// A lowercase SQL identifier clawc accepts for schemas, tables, sequences and columns: `[a-z_][a-z0-9_]*`, at
    /// most 63 bytes. Anything else (capitals, quotes, `$`, unicode look-alikes) is refused rather than quoted.
    public static func isSQLIdentifier(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, ("a"..."z").contains(first) || first == "_",
            text.utf8.count <= maxIdentifierBytes
        else { return false }
        return text.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || $0.isASCIIDigit || $0 == "_" }
    }

    /// Schemas no grant may reach: the system's, and clawc's own (the ledger, the row scope).
    public static let reservedSchemas: Set<String> = ["pg_catalog", "information_schema", "clawc", "clawc_scope"]

    /// Why `name` is not `schema.object`, or nil when it is.
    public static func qualifiedNameProblem(_ name: String) -> String? {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if parts.count == 1 { return "`\(HostileText.clipped(name, to: 80))` is not schema-qualified" }
        if parts.count != 2 { return "`\(HostileText.clipped(name, to: 80))` is not `schema.name`" }
        for part in parts where !isSQLIdentifier(part) {
            return "`\(HostileText.clipped(part, to: 80))` in `\(HostileText.clipped(name, to: 80))` is not a lowercase SQL identifier"
        }
        if reservedSchemas.contains(parts[0]) || parts[0].hasPrefix("pg_") {
            return "`\(parts[0])` is a schema of PostgreSQL's or clawc's own, never granted"
        }
        return nil
    }

    static func parsePostgresGrant(_ node: Node, params: [Param]?, _ reader: inout NodeReader) -> PostgresGrant? {
        let span = reader.span(of: node)
        guard let fields = reader.fields(node, context: "`postgres`", allowed: postgresKeys) else { return nil }
        let errorsBefore = reader.diagnostics.count { $0.severity == .error }
        let privileges = fields["privileges"].flatMap { reader.strings($0.value, context: "`privileges`") } ?? []
        if fields["privileges"] == nil {
            reader.missing("privileges", in: node, context: "a `postgres` grant", help: "list them, such as `privileges: [SELECT]`")
        } else if privileges.isEmpty, let node = fields["privileges"]?.value {
            reader.diagnostics.append(.error("empty-privileges", "`privileges` is empty", at: reader.span(of: node),
                                             help: "list what the task may do: SELECT, INSERT, UPDATE, DELETE on tables; USAGE on sequences"))
        }
        let tables = names(fields["tables"]?.value, key: "tables", params: params, &reader)
        let sequences = names(fields["sequences"]?.value, key: "sequences", params: params, &reader)
        if fields["tables"] == nil && fields["sequences"] == nil {
            reader.missing("tables", in: node, context: "a `postgres` grant", help: "list schema-qualified tables, such as `tables: [sales.orders]`")
        }
        let known = PostgresGrant.tablePrivileges + PostgresGrant.sequencePrivileges
        for privilege in privileges {
            let upper = privilege.value.uppercased()
            guard known.contains(upper) else {
                let guess = Suggestion.closest(to: upper, in: known)
                reader.diagnostics.append(.error(
                    "unknown-privilege", "unknown privilege `\(HostileText.clipped(privilege.value, to: 40))`", at: privilege.span,
                    help: guess.map { "did you mean `\($0)`?" } ?? "clawc grants SELECT, INSERT, UPDATE, DELETE on tables and USAGE on sequences"))
                continue
            }
            if PostgresGrant.tablePrivileges.contains(upper), fields["tables"] == nil {
                reader.diagnostics.append(.error(
                    "privilege-does-not-apply", "`\(upper)` applies to tables, and this grant names none", at: privilege.span,
                    help: "list the tables under `tables:`; on sequences clawc grants only USAGE"))
            }
            if PostgresGrant.sequencePrivileges.contains(upper), fields["sequences"] == nil {
                reader.diagnostics.append(.error(
                    "privilege-does-not-apply", "`\(upper)` applies to sequences, and this grant names none", at: privilege.span,
                    help: "list the sequences under `sequences:`; on tables grant SELECT, INSERT, UPDATE or DELETE"))
            }
        }
        if let duplicate = firstDuplicate(privileges.map { Located($0.value.uppercased(), at: $0.span) }) {
            reader.diagnostics.append(.error("duplicate-privilege", "`\(duplicate.value)` is listed twice", at: duplicate.span))
        }
        var columns: [Located<String>] = []
        if let node = fields["columns"]?.value, let values = reader.strings(node, context: "`columns`") {
            if values.isEmpty {
                reader.diagnostics.append(.error("empty-columns", "`columns` is empty: the grant would reach no column", at: reader.span(of: node),
                                                 help: "list the columns, or remove `columns` to grant on whole tables"))
            }
            if fields["tables"] == nil {
                reader.diagnostics.append(.error("columns-without-tables", "`columns` needs `tables`", at: reader.span(of: node)))
            }
            for column in values {
                if isSQLIdentifier(column.value) { columns.append(column) } else {
                    reader.diagnostics.append(.error(
                        "invalid-name", "column `\(HostileText.clipped(column.value, to: 80))` is not a lowercase SQL identifier", at: column.span,
                        help: "use `[a-z_][a-z0-9_]*`, at most 63 bytes; clawc does not quote mixed-case or unusual names"))
                }
            }
            if let duplicate = firstDuplicate(columns) {
                reader.diagnostics.append(.error("duplicate-column", "column `\(duplicate.value)` is listed twice", at: duplicate.span))
            }
            for privilege in privileges where privilege.value.uppercased() == "DELETE" {
                reader.diagnostics.append(.error(
                    "privilege-does-not-apply", "`DELETE` cannot be limited to columns", at: privilege.span,
                    help: "PostgreSQL grants DELETE on whole tables; put it in a grant without `columns`"))
            }
        }
        var rows: [(column: Located<String>, value: Template)] = []
        if let node = fields["rows"]?.value, let pairs = reader.mapping(node, context: "`rows`") {
            if pairs.isEmpty {
                reader.diagnostics.append(.error("empty-rows", "`rows` names no column, so it limits nothing", at: reader.span(of: node),
                                                 help: "write `rows: {tenant_id: \"{tenant}\"}`, or remove `rows`"))
            }
            if fields["tables"] == nil {
                reader.diagnostics.append(.error("rows-without-tables", "`rows` needs `tables`", at: reader.span(of: node)))
            }
            for (column, valueNode) in pairs {
                guard isSQLIdentifier(column.value) else {
                    reader.diagnostics.append(.error(
                        "invalid-name", "column `\(HostileText.clipped(column.value, to: 80))` is not a lowercase SQL identifier", at: column.span,
                        help: "use `[a-z_][a-z0-9_]*`, at most 63 bytes"))
                    continue
                }
                guard let value = reader.string(valueNode, context: "`rows.\(column.value)`") else { continue }
                guard let template = rowValue(value, params: params, &reader) else { continue }
                rows.append((column, template))
            }
        }
        guard reader.diagnostics.count(where: { $0.severity == .error }) == errorsBefore else { return nil }
        return PostgresGrant(span: span, privileges: privileges.map { Located($0.value.uppercased(), at: $0.span) }, tables: tables,
                             sequences: sequences, columns: columns, rows: rows)
    }

    /// `tables:` or `sequences:`: schema-qualified names, checked now where they are literal and again once filled.
    static func names(_ node: Node?, key: String, params: [Param]?, _ reader: inout NodeReader) -> [Template] {
        guard let node, let values = reader.strings(node, context: "`\(key)`") else { return [] }
        if values.isEmpty {
            reader.diagnostics.append(.error("empty-\(key)", "`\(key)` is empty", at: reader.span(of: node),
                                             help: "list schema-qualified names, such as `[sales.orders]`"))
        }
        var out: [Template] = []
        for value in values {
            guard let template = parseTemplate(value, params: params, &reader) else { continue }
            // Literal pieces may hold only identifier characters and the one dot; a slot's value is checked when filled.
            if !template.hasSlots, let problem = qualifiedNameProblem(value.value) {
                reader.diagnostics.append(.error(
                    value.value.contains(".") ? "invalid-name" : "unqualified-name", problem, at: value.span,
                    help: "write `schema.name` in lowercase, such as `sales.orders`; clawc never relies on search_path"))
                continue
            }
            for case .literal(let text) in template.pieces
            where !text.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || $0.isASCIIDigit || $0 == "_" || $0 == "." }) {
                reader.diagnostics.append(.error(
                    "invalid-name", "`\(HostileText.clipped(value.value, to: 80))` holds characters that are not part of a lowercase SQL identifier",
                    at: value.span, help: "write `schema.name` in lowercase, such as `sales.orders`"))
                break
            }
            if let duplicate = out.first(where: { $0.source.value == value.value }) {
                reader.diagnostics.append(.error("duplicate-name", "`\(value.value)` is listed twice", at: value.span,
                                                 notes: [.init("first listed here", at: duplicate.source.span)]))
                continue
            }
            out.append(template)
        }
        return out
    }

    /// A row-scope value: a literal or slots, no quotes, backslashes or control characters.
    static func rowValue(_ value: Located<String>, params: [Param]?, _ reader: inout NodeReader) -> Template? {
        for (offset, scalar) in value.value.unicodeScalars.enumerated() where scalar.value < 0x20 || scalar.value == 0x7F || scalar == "'" || scalar == "\\" {
            reader.diagnostics.append(.error(
                "invalid-character", "row value holds \(SlotValue.describe(scalar))", at: value.span(ofScalarsAt: offset, count: 1)))
            return nil
        }
        if value.value.isEmpty {
            reader.diagnostics.append(.error("invalid-row-value", "a row value is empty", at: value.span, help: "give a value or a slot such as `{tenant}`"))
            return nil
        }
        return parseTemplate(value, params: params, &reader)
    }

    static func firstDuplicate(_ values: [Located<String>]) -> Located<String>? {
        var seen = Set<String>()
        for value in values {
            if !seen.insert(value.value).inserted { return value }
        }
        return nil
    }
}
