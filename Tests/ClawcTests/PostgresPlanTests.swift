import ClawcCompiler
import ClawcDiagnostics
import ClawcRuntime
import ClawcSyntax
import Foundation
import Testing

/// `postgres:` grants, the quoting helper, the SCRAM verifier and the plan, without a database.
struct PostgresPlanTests {
    static let rule = """
        purpose: order-report
        summary: Read one tenant's orders.
        lifetime: {default: 15m, max: 1h}
        params:
          tenant: {match: "t-*"}
        callers: [{sub: "system:serviceaccount:agents:*"}]
        grants:
          - sid: ReadOrders
            postgres:
              privileges: [SELECT]
              tables: [sales.orders]
              columns: [id, tenant_id, total]
              rows: {tenant_id: "{tenant}"}

        """

    static func parse(_ text: String) -> (Rule?, [Diagnostic]) {
        guard case .success(let source) = YAMLSource.parse(data: Data(text.utf8), displayPath: "rule.yaml") else { return (nil, []) }
        return SyntaxReader.rule(source)
    }

    static func codes(_ text: String) -> [String] {
        parse(text).1.filter { $0.severity == .error }.map(\.code)
    }

    @Test func theExampleRuleParses() {
        let (rule, diagnostics) = Self.parse(Self.rule)
        #expect(diagnostics.filter { $0.severity == .error }.isEmpty, "\(diagnostics.map(\.message))")
        #expect(rule?.isPostgres == true)
        #expect(rule?.grants.first?.postgres?.privileges.map(\.value) == ["SELECT"])
    }

    @Test(arguments: [
        ("privileges: [SELECT]", "privileges: [SELEKT]", "unknown-privilege"),
        ("privileges: [SELECT]", "privileges: [USAGE]", "privilege-does-not-apply"),
        ("privileges: [SELECT]", "privileges: [SELECT, DELETE]", "privilege-does-not-apply"),  // DELETE with columns
        ("privileges: [SELECT]", "privileges: []", "empty-privileges"),
        ("tables: [sales.orders]", "tables: [orders]", "unqualified-name"),
        ("tables: [sales.orders]", "tables: [Sales.Orders]", "invalid-name"),
        ("tables: [sales.orders]", "tables: [\"sales.orders; DROP TABLE x\"]", "invalid-name"),
        ("tables: [sales.orders]", "tables: [a.b.c]", "invalid-name"),
        ("tables: [sales.orders]", "tables: [\"sales.\\\"orders\\\"\"]", "invalid-name"),
        ("tables: [sales.orders]", "tables: [sales.orders, sales.orders]", "duplicate-name"),
        ("tables: [sales.orders]", "tables: [clawc_scope.task_scope]", "invalid-name"),
        ("tables: [sales.orders]", "tables: [pg_catalog.pg_authid]", "invalid-name"),
        ("columns: [id, tenant_id, total]", "columns: [id, \"total; --\"]", "invalid-name"),
        ("rows: {tenant_id: \"{tenant}\"}", "rows: {tenant_id: \"{tenants}\"}", "unknown-slot"),
        ("rows: {tenant_id: \"{tenant}\"}", "rows: {tenant_id: \"a'b\"}", "invalid-character"),
        ("rows: {tenant_id: \"{tenant}\"}", "rows: {\"Tenant\": \"{tenant}\"}", "invalid-name"),
        ("      rows: {tenant_id: \"{tenant}\"}", "      rows: {tenant_id: \"{tenant}\"}\n    actions: [s3:GetObject]", "mixed-grant"),
    ])
    func badGrantsAreLocatedErrors(original: String, replacement: String, code: String) {
        let text = Self.rule.replacingOccurrences(of: original, with: replacement)
        #expect(text != Self.rule)
        #expect(Self.codes(text).contains(code), "\(Self.codes(text))")
    }

    @Test func aRuleCannotMixAWSAndPostgresGrants() {
        let text = Self.rule + """
              - sid: ReadObjects
                actions: [s3:GetObject]
                resources: ["arn:aws:s3:::bucket/*"]

            """
        #expect(Self.codes(text) == ["mixed-rule"], "\(Self.codes(text))")
    }

    @Test func quotingRefusesWhatItCannotWriteSafely() throws {
        #expect(try PostgresQuote.identifier("clawc-t-1") == "\"clawc-t-1\"")
        #expect(try PostgresQuote.identifier("a\"b") == "\"a\"\"b\"")
        #expect(try PostgresQuote.literal("it's") == "'it''s'")
        #expect(try PostgresQuote.literal("\"; DROP TABLE x; --") == "'\"; DROP TABLE x; --'")
        #expect(throws: PostgresQuote.Refusal.self) { try PostgresQuote.identifier("") }
        #expect(throws: PostgresQuote.Refusal.self) { try PostgresQuote.identifier(String(repeating: "a", count: 64)) }
        #expect(throws: PostgresQuote.Refusal.self) { try PostgresQuote.identifier("a\u{0}b") }
        #expect(throws: PostgresQuote.Refusal.self) { try PostgresQuote.identifier("a\nb") }
        #expect(throws: PostgresQuote.Refusal.self) { try PostgresQuote.literal("a\u{0}b") }
        #expect(throws: PostgresQuote.Refusal.self) { try PostgresQuote.literal("a\\b") }
        // 63 bytes, not 63 characters: a name PostgreSQL would truncate is refused, multibyte or not.
        #expect(throws: PostgresQuote.Refusal.self) { try PostgresQuote.identifier(String(repeating: "é", count: 32)) }
        #expect(try PostgresQuote.identifier(String(repeating: "é", count: 31)).utf8.count == 64)
    }

    @Test func roleNamesKeepTheTaskAndFitPostgres() {
        #expect(PostgresPlanner.roleName(taskID: "t-42") == "clawc-t-42")
        let long = String(repeating: "a", count: 64)
        let name = PostgresPlanner.roleName(taskID: long)
        #expect(name.utf8.count <= 63 && name.contains("~"))
        #expect(PostgresPlanner.roleName(taskID: long + "b".prefix(0)) == name)
        #expect(PostgresPlanner.roleName(taskID: String(repeating: "a", count: 63) + "b") != name, "two long IDs, two names")
    }

    /// The verifier against an independent implementation (Python's hashlib and hmac, RFC 5802's definitions).
    @Test func theSCRAMVerifierMatchesAReference() async throws {
        let salt: [UInt8] = Array("0123456789abcdef".utf8)
        let password = "correct-horse_battery-staple"
        let ours = SCRAM.verifier(password: password, salt: salt, iterations: 4096)
        let script = """
            import base64, hashlib, hmac, sys
            password, salt = sys.argv[1].encode(), sys.argv[2].encode()
            salted = hashlib.pbkdf2_hmac("sha256", password, salt, 4096)
            client = hmac.new(salted, b"Client Key", "sha256").digest()
            server = hmac.new(salted, b"Server Key", "sha256").digest()
            b = lambda x: base64.b64encode(x).decode()
            print(f"SCRAM-SHA-256$4096:{b(salt)}${b(hashlib.sha256(client).digest())}:{b(server)}")
            """
        // A child process is waited for off Swift's cooperative pool, so no async test beside this one stalls.
        let reference = try await offPool { try runProgram(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", script, password, "0123456789abcdef"]) }
        #expect(ours == reference.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "\(ours) vs \(reference.stdout) \(reference.stderr)")
        let fresh = SCRAM.newPassword()
        #expect(fresh.count == 43 && fresh.unicodeScalars.allSatisfy { $0.isASCIILetter || $0.isASCIIDigit || $0 == "-" || $0 == "_" })
        #expect(SCRAM.newPassword() != fresh)
    }

    @Test func thePlanIsDeterministicAndQuotesEveryName() throws {
        let (rule, _) = Self.parse(Self.rule)
        let task = try #require(Self.task("taskId: t-1\npurpose: order-report\ntags: {tenant: t-acme}\n"))
        let first = PostgresPlanner.plan(rule: try #require(rule), task: task, catalog: Repo.catalog, schema: nil, database: "shop", values: .placeholders)
        let second = PostgresPlanner.plan(rule: try #require(rule), task: task, catalog: Repo.catalog, schema: nil, database: "shop", values: .placeholders)
        let plan = try #require(first.0)
        #expect(plan.text == second.0?.text)
        #expect(plan.text.contains("PASSWORD :'password_verifier' VALID UNTIL :'valid_until' IN ROLE \"\(plan.grantSetRole)\""))
        #expect(plan.text.contains("GRANT SELECT (\"id\", \"tenant_id\", \"total\") ON TABLE \"sales\".\"orders\" TO \"\(plan.grantSetRole)\";"))
        #expect(plan.text.contains("AS RESTRICTIVE FOR ALL"))
        // Another database, another grant-set role: roles are the server's, grants the database's.
        let other = PostgresPlanner.plan(rule: try #require(rule), task: task, catalog: Repo.catalog, schema: nil, database: "other", values: .placeholders)
        #expect(other.0?.grantSetRole != plan.grantSetRole)
        // With values: the same hash, the verifier and expiry as quoted literals.
        let filled = PostgresPlanner.plan(rule: try #require(rule), task: task, catalog: Repo.catalog, schema: nil, database: "shop",
                                          values: .actual(verifier: "SCRAM-SHA-256$4096:c2FsdA==$a:b", validUntil: Date(timeIntervalSince1970: 1_796_000_000)))
        #expect(filled.0?.sha256 == plan.sha256)
        #expect(filled.0?.text.contains("PASSWORD 'SCRAM-SHA-256$4096:c2FsdA==$a:b' VALID UNTIL '2026-11-30 ") == true)
    }

    @Test func aSlotCannotWidenOrBreakAName() throws {
        let text = Self.rule.replacingOccurrences(of: "tables: [sales.orders]", with: "tables: [\"sales.orders_{tenant}\"]")
        let (rule, problems) = Self.parse(text)
        #expect(problems.filter { $0.severity == .error }.isEmpty, "\(problems.map(\.message))")
        for tenant in ["t-acme", "t-a.b"] {  // `-` and `.` are fine in a slot value, not in an identifier
            let task = try #require(Self.task("taskId: t-1\npurpose: order-report\ntags: {tenant: \(tenant)}\n"))
            let (plan, diagnostics) = PostgresPlanner.plan(rule: try #require(rule), task: task, catalog: Repo.catalog, schema: nil, values: .placeholders)
            #expect(plan == nil && diagnostics.contains { $0.code == "slot-injection" }, "\(diagnostics.map(\.message))")
        }
    }

    @Test func theSnapshotRefusesUnknownObjectsAndRowsWithoutRowSecurity() throws {
        let schema = PostgresSchema(database: "shop", tables: [
            "sales.orders": .init(columns: ["id", "tenant_id", "total"], rowSecurity: false),
        ], sequences: [])
        let (rule, _) = Self.parse(Self.rule.replacingOccurrences(of: "columns: [id, tenant_id, total]", with: "columns: [id, tenant, total]"))
        let codes = schema.lint(try #require(rule)).map(\.code)
        #expect(codes.contains("unknown-column") && codes.contains("rows-without-row-security"), "\(codes)")
        let (other, _) = Self.parse(Self.rule.replacingOccurrences(of: "tables: [sales.orders]", with: "tables: [sales.order]"))
        let found = schema.lint(try #require(other))
        #expect(found.first?.code == "unknown-table" && found.first?.help?.contains("sales.orders") == true, "\(found.map(\.message))")
    }

    static func task(_ text: String) -> Task? {
        guard case .success(let source) = YAMLSource.parse(data: Data(text.utf8), displayPath: "task.yaml") else { return nil }
        return SyntaxReader.task(source).0
    }
}
