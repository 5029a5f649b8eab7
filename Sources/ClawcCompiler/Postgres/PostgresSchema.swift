import ClawcDiagnostics
import ClawcPolicy
import ClawcSyntax
import Foundation

/// A snapshot of one database's catalog, as `clawc emit postgres-schema` writes it and the repository keeps it
/// (`postgres-schema.json` in the rules folder): which tables, columns and sequences exist, and which tables have
/// row-level security on. `clawc check` and `clawc compile --target postgres` refuse grants on objects it does not
/// list, and `rows` on tables without row-level security.
///
/// ```json
/// {"format":1,"database":"shop","tables":{"sales.orders":{"columns":["id","tenant_id","total"],"rowSecurity":true}},
///  "sequences":["sales.orders_id_seq"]}
/// ```
public struct PostgresSchema: Codable, Sendable, Equatable {
    public struct Table: Codable, Sendable, Equatable {
        public var columns: [String]
        public var rowSecurity: Bool

        public init(columns: [String], rowSecurity: Bool) {
            self.columns = columns
            self.rowSecurity = rowSecurity
        }
    }

    public var format: Int
    public var database: String
    /// By `schema.table`.
    public var tables: [String: Table]
    /// `schema.sequence`.
    public var sequences: [String]

    public init(database: String, tables: [String: Table], sequences: [String]) {
        self.format = 1
        self.database = database
        self.tables = tables
        self.sequences = sequences
    }

    /// The snapshot's file name inside a rules folder.
    public static let fileName = "postgres-schema.json"

    /// The snapshot as the repository keeps it: keys sorted, one object per line for readable diffs.
    public func rendered() -> String {
        var lines = ["{", "  \"format\": 1,", "  \"database\": \(PolicyJSON.string(database)),", "  \"tables\": {"]
        let names = tables.keys.sorted()
        for (index, name) in names.enumerated() {
            let table = tables[name]!
            let columns = table.columns.map(PolicyJSON.string).joined(separator: ", ")
            lines.append("    \(PolicyJSON.string(name)): {\"columns\": [\(columns)], \"rowSecurity\": \(table.rowSecurity)}" + (index == names.count - 1 ? "" : ","))
        }
        lines.append("  },")
        lines.append("  \"sequences\": [" + sequences.sorted().map(PolicyJSON.string).joined(separator: ", ") + "]")
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    /// The snapshot in a rules folder, nil when there is none; a file that does not read is an error located in it.
    public static func load(rulesDirectory: String, displayPath: String) -> Result<PostgresSchema?, Diagnostic> {
        let path = (rulesDirectory as NSString).appendingPathComponent(fileName)
        let shown = displayPath.hasSuffix("/") ? displayPath + fileName : displayPath + "/" + fileName
        guard FileManager.default.fileExists(atPath: path) else { return .success(nil) }
        guard let data = FileManager.default.contents(atPath: path), data.count <= 16 * 1024 * 1024 else {
            return .failure(.fileError("unreadable-file", "cannot read `\(shown)` (or it is over 16 MiB)", path: shown))
        }
        do {
            let schema = try JSONDecoder().decode(PostgresSchema.self, from: data)
            guard schema.format == 1 else {
                return .failure(.fileError("postgres-schema-format", "`\(shown)` has format \(schema.format); this clawc reads format 1", path: shown,
                                           help: "write it again with this clawc: `clawc emit postgres-schema --database URL > \(shown)`"))
            }
            return .success(schema)
        } catch {
            return .failure(.fileError("postgres-schema-format", "`\(shown)` is not a schema snapshot: \(HostileText.clipped(String(describing: error), to: 300))",
                                       path: shown, help: "write it with `clawc emit postgres-schema --database URL > \(shown)`"))
        }
    }

    /// Diagnostics for a grant's objects, each located at the name (or column) it is about. `filled` pairs a
    /// template with its text once slots are filled (for a rule alone, only literal names are checked).
    func check(_ grant: PostgresGrant, tables: [(Template, String)], sequences: [(Template, String)]) -> [Diagnostic] {
        var out: [Diagnostic] = []
        let shownDatabase = "database `\(database)` (as of the rules folder's \(Self.fileName))"
        for (template, name) in tables {
            guard let table = self.tables[name] else {
                let guess = Suggestion.closest(to: name, in: self.tables.keys)
                out.append(.error("unknown-table", "\(shownDatabase) has no table `\(HostileText.clipped(name, to: 130))`", at: template.source.span,
                                  help: guess.map { "did you mean `\($0)`?" } ?? "run `clawc emit postgres-schema` again if the table is new"))
                continue
            }
            for column in grant.columns where !table.columns.contains(column.value) {
                let guess = Suggestion.closest(to: column.value, in: table.columns)
                out.append(.error("unknown-column", "table `\(name)` has no column `\(column.value)`", at: column.span,
                                  help: guess.map { "did you mean `\($0)`?" } ?? "its columns: \(table.columns.map { "`\($0)`" }.joined(separator: ", "))"))
            }
            for (column, _) in grant.rows where !table.columns.contains(column.value) {
                let guess = Suggestion.closest(to: column.value, in: table.columns)
                out.append(.error("unknown-column", "table `\(name)` has no column `\(column.value)` to scope rows by", at: column.span,
                                  help: guess.map { "did you mean `\($0)`?" } ?? "its columns: \(table.columns.map { "`\($0)`" }.joined(separator: ", "))"))
            }
            if !grant.rows.isEmpty && !table.rowSecurity {
                out.append(.error(
                    "rows-without-row-security", "table `\(name)` does not have row-level security on, so `rows` would not limit anything",
                    at: template.source.span,
                    help: "run `ALTER TABLE \(name) ENABLE ROW LEVEL SECURITY` (its owner must be the role clawc connects as), then `clawc emit postgres-schema` again"))
            }
        }
        for (template, name) in sequences where !self.sequences.contains(name) {
            let guess = Suggestion.closest(to: name, in: self.sequences)
            out.append(.error("unknown-sequence", "\(shownDatabase) has no sequence `\(HostileText.clipped(name, to: 130))`", at: template.source.span,
                              help: guess.map { "did you mean `\($0)`?" } ?? "run `clawc emit postgres-schema` again if the sequence is new"))
        }
        return out
    }

    /// Lint of a rule's literal names (names with slots are checked when a task fills them).
    public func lint(_ rule: Rule) -> [Diagnostic] {
        rule.grants.compactMap(\.postgres).flatMap { grant in
            check(grant, tables: grant.tables.filter { !$0.hasSlots }.map { ($0, $0.source.value) },
                  sequences: grant.sequences.filter { !$0.hasSlots }.map { ($0, $0.source.value) })
        }
    }
}
