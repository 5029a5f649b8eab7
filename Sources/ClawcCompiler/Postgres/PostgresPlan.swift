import ClawcCatalog
import ClawcDiagnostics
import ClawcSyntax
import Foundation

/// What clawc runs in one transaction to give a task its PostgreSQL login, in order. `clawc compile --target
/// postgres` prints it with placeholders where the password verifier and the expiry go; `clawc issue --to postgres`
/// runs the same statements with the values filled in.
public struct PostgresPlan: Sendable {
    public var taskID: String
    public var purpose: String
    /// The task's login role, unquoted.
    public var roleName: String
    /// The shared NOLOGIN role holding the grants, named by the grant set's hash, unquoted.
    public var grantSetRole: String
    /// The statements between BEGIN and COMMIT, each whole (a `DO` block is one statement over several lines).
    public var statements: [String]
    /// SHA-256 of the plan with its placeholders: the same for every issuance of the same grants to the same task,
    /// recorded in the ledger and in the role's comment.
    public var sha256: String

    /// The plan as printed: a header, BEGIN, the statements, COMMIT; one trailing newline.
    public var text: String {
        var lines = [
            "-- clawc plan for task `\(taskID)` (purpose `\(purpose)`): login role \(Self.shown(roleName)), grant set \(Self.shown(grantSetRole))",
            "-- plan sha256 \(sha256); clawc fills :'password_verifier' (a SCRAM-SHA-256 verifier, never the password) and :'valid_until'",
            "BEGIN;",
        ]
        lines += statements
        lines.append("COMMIT;")
        return lines.joined(separator: "\n") + "\n"
    }

    static func shown(_ name: String) -> String { (try? PostgresQuote.identifier(name)) ?? name }
}

/// Rules and a task in, a `PostgresPlan` out; located diagnostics otherwise. Nothing here touches a database.
public enum PostgresPlanner {
    /// What goes where the password verifier and the expiry stand.
    public enum Values: Sendable {
        /// psql variables, for the printed plan: `:'password_verifier'`, `:'valid_until'`.
        case placeholders
        /// The values of one issuance.
        case actual(verifier: String, validUntil: Date)
    }

    /// Connections a task's role may hold at once (approximate, as PostgreSQL counts them).
    public static let connectionLimit = 4
    /// Per-role settings applied at login.
    public static let statementTimeout = "300s"
    public static let idleInTransactionTimeout = "60s"
    /// The schema holding the row-scope table and the function policies read it through.
    public static let scopeSchema = "clawc_scope"
    /// One lock for every change to shared objects (grant-set roles, their grants and policies, the scope schema):
    /// concurrent GRANTs on one table fail with "tuple concurrently updated", so they take turns.
    public static let sharedObjectsLock: Int64 = 0x636c_6177_635f_7067  // "clawc_pg"

    /// The login role's name for a task: `clawc-<task ID>`, or, past 63 bytes, a prefix, `~` and a hash of the
    /// whole ID (`~` is not allowed in task IDs, so a short ID can never be spelled like a shortened long one).
    public static func roleName(taskID: String) -> String {
        let whole = "clawc-" + taskID
        if whole.utf8.count <= 63 { return whole }
        let hash = Hex.sha256(taskID).prefix(16)
        return "clawc-" + String(taskID.prefix(63 - 6 - 17)) + "~" + hash
    }

    /// `database`: the database the role's grants are made in. Roles are shared by the whole server while grants
    /// and policies live in one database, so the grant set's role is named for both (a printed plan uses the
    /// snapshot's database name).
    public static func plan(rule: Rule, task: Task, catalog: Catalog, schema: PostgresSchema?, database: String? = nil,
                            values: Values) -> (PostgresPlan?, [Diagnostic]) {
        var context = PassContext(rule: rule, task: task, catalog: catalog, maxChars: Int.max)
        var reported = Set<String>()
        var diagnostics: [Diagnostic] = []
        guard rule.isPostgres else {
            return (nil, [.error("not-a-postgres-rule", "rule `\(rule.purpose.value)` grants AWS access, not PostgreSQL access", at: task.purpose.span,
                                 help: "compile it without `--target postgres`, or issue it without `--to postgres`",
                                 notes: [.init("the rule is here", at: rule.purpose.span)])])
        }

        // 1. Fill every slot, then check the filled names as strictly as literal ones.
        struct Filled {
            var grant: PostgresGrant
            var tables: [(Template, String)]
            var sequences: [(Template, String)]
            var rows: [(column: Located<String>, value: String)]
        }
        var filled: [Filled] = []
        for grant in rule.grants.compactMap(\.postgres) {
            func names(_ templates: [Template]) -> [(Template, String)] {
                templates.compactMap { template in
                    guard let text = SlotFilling().fillText(template, &context, &reported) else { return nil }
                    if template.hasSlots, let problem = SyntaxReader.qualifiedNameProblem(text) {
                        diagnostics.append(.error(
                            "slot-injection", "with the task's values, `\(template.source.value)` becomes \(problem)", at: template.source.span,
                            help: "a slot in a PostgreSQL name must fill it with lowercase letters, digits and `_` only; constrain the param with `match:`"))
                        return nil
                    }
                    return (template, text)
                }
            }
            let rows: [(column: Located<String>, value: String)] = grant.rows.compactMap { row in
                SlotFilling().fillText(row.value, &context, &reported).map { (row.column, $0) }
            }
            filled.append(Filled(grant: grant, tables: names(grant.tables), sequences: names(grant.sequences), rows: rows))
        }
        diagnostics += context.diagnostics
        if let schema {
            for item in filled { diagnostics += schema.check(item.grant, tables: item.tables, sequences: item.sequences) }
        }
        // One value per scoped column: the policy reads it by the column's name.
        var scope: [String: (value: String, span: SourceSpan)] = [:]
        for item in filled {
            for row in item.rows {
                if let earlier = scope[row.column.value], earlier.value != row.value {
                    diagnostics.append(.error(
                        "conflicting-rows", "`rows.\(row.column.value)` is `\(row.value)` here and `\(earlier.value)` in another grant", at: row.column.span,
                        help: "a task is scoped to one value per column; give every grant the same value", notes: [.init("the other value", at: earlier.span)]))
                }
                scope[row.column.value] = (row.value, row.column.span)
            }
        }
        if diagnostics.contains(where: { $0.severity == .error }) { return (nil, diagnostics) }

        // 2. The grant set, canonical: what the shared role holds. Row-scope columns are part of it; their values are not.
        let database = database ?? schema?.database ?? ""
        var canonical = ["clawc-grant-set-v1", "database " + database]
        for item in filled {
            canonical.append([
                "privileges " + item.grant.privileges.map(\.value).sorted().joined(separator: ","),
                "tables " + item.tables.map(\.1).sorted().joined(separator: ","),
                "sequences " + item.sequences.map(\.1).sorted().joined(separator: ","),
                "columns " + item.grant.columns.map(\.value).sorted().joined(separator: ","),
                "rows " + item.rows.map(\.column.value).sorted().joined(separator: ","),
            ].joined(separator: "; "))
        }
        let grantSetRole = "clawc_gs_" + Hex.sha256(canonical.joined(separator: "\n")).prefix(16)
        let roleName = roleName(taskID: task.taskId.value)
        let grants = filled.map { ($0.grant, $0.tables.map(\.1), $0.sequences.map(\.1)) }
        let scopeValues = scope.map { ($0.key, $0.value.value) }.sorted { $0.0 < $1.0 }
        func render(_ values: Values, hash: String?) throws(PostgresQuote.Refusal) -> [String] {
            try statements(filled: grants, scope: scopeValues, grantSetRole: grantSetRole, roleName: roleName, task: task, purpose: rule.purpose.value,
                           database: database, values: values, hash: hash)
        }

        do {
            // The hash is of the plan with its placeholders, so every issuance of the same plan records the same one.
            let hash = Hex.sha256(try render(.placeholders, hash: nil).joined(separator: "\n"))
            let plan = PostgresPlan(taskID: task.taskId.value, purpose: rule.purpose.value, roleName: roleName, grantSetRole: grantSetRole,
                                    statements: try render(values, hash: hash), sha256: hash)
            return (plan, diagnostics)
        } catch {
            // Every name and value was checked before; a refusal here is clawc's own bug, never a quiet pass.
            diagnostics.append(.error("unquotable", "internal error: \(error.description); no plan was printed or run", at: task.taskId.span,
                                      help: "this is a bug in clawc, not in the rule or task; please report it with both files"))
            return (nil, diagnostics)
        }
    }

    /// The statements, quoted by `PostgresQuote` alone. `hash` nil: the plan before its hash is known (the role's
    /// comment is left out of what is hashed).
    static func statements(filled: [(PostgresGrant, [String], [String])], scope: [(String, String)], grantSetRole: String, roleName: String,
                           task: Task, purpose: String, database: String, values: Values, hash: String?) throws(PostgresQuote.Refusal) -> [String]
    {
        let q = PostgresQuote.self
        let gs = try q.identifier(grantSetRole)
        let role = try q.identifier(roleName)
        let scopeSchema = try q.identifier(scopeSchema)
        // A lock another session holds (the shared-objects lock, a table's lock for CREATE POLICY) makes the plan
        // fail within seconds instead of waiting: the caller sees `database-refused` and nothing was made.
        var out = [
            "SET LOCAL standard_conforming_strings = on;",
            "SET LOCAL search_path = pg_catalog, pg_temp;",
            "SET LOCAL lock_timeout = '10s';",
            // Nobody may be able to create objects a task role could then own: DROP OWNED would have to drop them.
            "DO $clawc$ BEGIN\n  IF EXISTS (SELECT FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a WHERE a.grantee = 0 AND a.privilege_type = 'CREATE') THEN\n"
                + "    RAISE EXCEPTION 'clawc: PUBLIC may CREATE in a schema of this database, so a task role could own objects; REVOKE CREATE ON SCHEMA ... FROM PUBLIC first';\n"
                + "  END IF;\nEND $clawc$;",
        ]
        if !scope.isEmpty {
            // The row-scope table, readable only through a SECURITY DEFINER function that returns the calling login's
            // own values: no task can read another task's scope. Made once, under the shared-objects lock (taken only
            // while something is missing, so no session holding that lock can stall issuances once all exists), and
            // refused if anyone but the administrative role owns what it relies on.
            out.append("DO $clawc$ BEGIN\n  IF pg_catalog.to_regprocedure('\(Self.scopeSchema).value(text)') IS NULL THEN\n"
                + "    PERFORM pg_catalog.pg_advisory_xact_lock(\(sharedObjectsLock));\n"
                + "    CREATE SCHEMA IF NOT EXISTS \(scopeSchema);\n"
                + "    REVOKE ALL ON SCHEMA \(scopeSchema) FROM PUBLIC;\n"
                + "    CREATE TABLE IF NOT EXISTS \(scopeSchema).task_scope (role_name text NOT NULL, key text NOT NULL, value text NOT NULL, PRIMARY KEY (role_name, key));\n"
                + "    REVOKE ALL ON TABLE \(scopeSchema).task_scope FROM PUBLIC;\n"
                + "    IF pg_catalog.to_regprocedure('\(Self.scopeSchema).value(text)') IS NULL THEN\n"
                + "      CREATE FUNCTION \(scopeSchema).value(key text) RETURNS text LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp "
                + "AS $value$ SELECT value FROM \(scopeSchema).task_scope WHERE role_name = session_user AND key = $1 $value$;\n"
                + "      REVOKE ALL ON FUNCTION \(scopeSchema).value(text) FROM PUBLIC;\n    END IF;\n  END IF;\n"
                + "  IF (SELECT nspowner FROM pg_catalog.pg_namespace WHERE nspname = '\(Self.scopeSchema)') <> (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)\n"
                + "     OR (SELECT relowner FROM pg_catalog.pg_class WHERE oid = '\(Self.scopeSchema).task_scope'::regclass) <> (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)\n"
                + "     OR (SELECT proowner FROM pg_catalog.pg_proc WHERE oid = '\(Self.scopeSchema).value(text)'::regprocedure) <> (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN\n"
                + "    RAISE EXCEPTION 'clawc: the \(Self.scopeSchema) schema, its table or its function is owned by another role; the row scope cannot be trusted';\n"
                + "  END IF;\nEND $clawc$;")
        }
        // The grant set's role, its grants and policies: made once, by the first task that needs them.
        var shared: [String] = ["CREATE ROLE \(gs) NOLOGIN;", "COMMENT ON ROLE \(gs) IS \(try q.literal("clawc grant set, database \(database), purpose \(purpose)"));"]
        var schemas = Set<String>()
        for (_, tables, sequences) in filled {
            for name in tables + sequences { schemas.insert(String(name.split(separator: ".")[0])) }
        }
        for schema in schemas.sorted() { shared.append("GRANT USAGE ON SCHEMA \(try q.identifier(schema)) TO \(gs);") }
        var scopedTables: [String: [String]] = [:]
        for (grant, tables, sequences) in filled {
            let tablePrivileges = grant.privileges.map(\.value).filter { PostgresGrant.tablePrivileges.contains($0) }.sorted()
            let sequencePrivileges = grant.privileges.map(\.value).filter { PostgresGrant.sequencePrivileges.contains($0) }.sorted()
            let columns = try grant.columns.map { (column) throws(PostgresQuote.Refusal) in try q.identifier(column.value) }
            for table in tables.sorted() where !tablePrivileges.isEmpty {
                let privileges = columns.isEmpty ? tablePrivileges.joined(separator: ", ")
                    : tablePrivileges.map { "\($0) (\(columns.joined(separator: ", ")))" }.joined(separator: ", ")
                shared.append("GRANT \(privileges) ON TABLE \(try q.qualified(table)) TO \(gs);")
                if !grant.rows.isEmpty { scopedTables[table, default: []] += grant.rows.map(\.column.value) }
            }
            for sequence in sequences.sorted() where !sequencePrivileges.isEmpty {
                shared.append("GRANT \(sequencePrivileges.joined(separator: ", ")) ON SEQUENCE \(try q.qualified(sequence)) TO \(gs);")
            }
        }
        if !scopedTables.isEmpty {
            shared.append("GRANT USAGE ON SCHEMA \(scopeSchema) TO \(gs);")
            shared.append("GRANT EXECUTE ON FUNCTION \(scopeSchema).value(text) TO \(gs);")
        }
        for (table, columns) in scopedTables.sorted(by: { $0.key < $1.key }) {
            let condition = try Set(columns).sorted().map { (column) throws(PostgresQuote.Refusal) in
                "\(try q.identifier(column))::text = \(scopeSchema).value(\(try q.literal(column)))"
            }.joined(separator: " AND ")
            // A restrictive policy is ANDed with every permissive one, so no other policy on the table can widen the
            // rows this role sees; the permissive one beside it is what lets the role see rows at all.
            shared.append("CREATE POLICY \(try q.identifier(grantSetRole)) ON \(try q.qualified(table)) AS PERMISSIVE FOR ALL TO \(gs) USING (true) WITH CHECK (true);")
            shared.append("CREATE POLICY \(try q.identifier(grantSetRole + "_rows")) ON \(try q.qualified(table)) AS RESTRICTIVE FOR ALL TO \(gs) "
                + "USING (\(condition)) WITH CHECK (\(condition));")
        }
        let exists = "EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = \(try q.literal(grantSetRole)))"
        out.append("DO $clawc$ BEGIN\n  IF NOT \(exists) THEN\n    PERFORM pg_catalog.pg_advisory_xact_lock(\(sharedObjectsLock));\n"
            + "  END IF;\n  IF NOT \(exists) THEN\n"
            + shared.map { "    " + $0 }.joined(separator: "\n") + "\n  END IF;\nEND $clawc$;")
        // Row-level security must be on where `rows` scopes a table, checked in the database itself at every
        // issuance (the snapshot may be stale or absent): with it off, the policies would limit nothing.
        for table in scopedTables.keys.sorted() {
            out.append("DO $clawc$ BEGIN\n  IF NOT (SELECT relrowsecurity FROM pg_catalog.pg_class WHERE oid = \(try q.literal(try q.qualified(table)))::regclass) THEN\n"
                + "    RAISE EXCEPTION \(try q.literal("clawc: row-level security is off for \(table), so `rows` would limit nothing"));\n  END IF;\nEND $clawc$;")
        }

        // The task's login role: no powers of its own, a member of the grant set's role.
        let verifier: String, validUntil: String
        switch values {
        case .placeholders:
            verifier = ":'password_verifier'"
            validUntil = ":'valid_until'"
        case .actual(let scram, let date):
            verifier = try q.literal(scram)
            validUntil = try q.literal(Self.timestamp(date))
        }
        out.append("CREATE ROLE \(role) WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOREPLICATION NOBYPASSRLS "
            + "CONNECTION LIMIT \(connectionLimit) PASSWORD \(verifier) VALID UNTIL \(validUntil) IN ROLE \(gs);")
        out.append("ALTER ROLE \(role) SET statement_timeout = \(try q.literal(statementTimeout));")
        out.append("ALTER ROLE \(role) SET idle_in_transaction_session_timeout = \(try q.literal(idleInTransactionTimeout));")
        for (column, value) in scope {
            out.append("INSERT INTO \(scopeSchema).task_scope (role_name, key, value) VALUES (\(try q.literal(roleName)), \(try q.literal(column)), \(try q.literal(value)));")
        }
        if let hash {
            out.append("COMMENT ON ROLE \(role) IS \(try q.literal("clawc task \(task.taskId.value), purpose \(purpose), database \(database), plan sha256 \(hash)"));")
        }
        return out
    }

    /// `2026-12-06 19:30:00+00`: the form `VALID UNTIL` reads whatever the server's DateStyle.
    public static func timestamp(_ date: Date) -> String {
        var time = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&time, &parts)
        return String(format: "%04d-%02d-%02d %02d:%02d:%02d+00", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
                      Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
    }
}

