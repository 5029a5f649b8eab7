import ClawcCatalog
import ClawcCompiler
import ClawcPolicy
import Foundation
import Testing

/// Rules checked against the AWS catalog.
@Suite struct CatalogCheckTests {
    static let task = "taskId: t-1\npurpose: log-analysis\n"

    /// The orchestrator's prototype rule: a request tag on `s3:GetObject` makes the grant allow nothing.
    static let prototype = """
        purpose: log-analysis
        grants:
          - actions: [s3:GetObject, logs:FilterLogEvents]
            resources: ["arn:aws:s3:::acme-logs-*/*", "arn:aws:logs:*:123456789012:log-group:/acme/*"]
            when:
              StringEquals: {aws:RequestTag/ManagedBy: clawc}
              StringLike: {aws:ResourceTag/TaskID: "{task.id}"}
        """

    @Test func prototypeRuleFailsAtTheKey() throws {
        let outcome = try compile(rules: ["log-analysis.yaml": Self.prototype], task: Self.task)
        #expect(outcome.codes == ["condition-never-matches"])
        let diagnostic = try #require(outcome.diagnostics.sorted.first)
        #expect(diagnostic.span?.start.line == 6 && diagnostic.span?.start.column == 22)
        #expect(diagnostic.span?.length == "aws:RequestTag/ManagedBy".count)
        #expect(diagnostic.help?.contains("s3:ExistingObjectTag/<key>") == true)
    }

    @Test func correctedPrototypeCompiles() throws {
        let corrected = Self.prototype.replacingOccurrences(of: "StringEquals: {aws:RequestTag/ManagedBy: clawc}", with: "StringEquals: {s3:ExistingObjectTag/ManagedBy: clawc}")
            .replacingOccurrences(of: "actions: [s3:GetObject, logs:FilterLogEvents]", with: "actions: [s3:GetObject]")
            .replacingOccurrences(of: ", \"arn:aws:logs:*:123456789012:log-group:/acme/*\"", with: "")
        let outcome = try compile(rules: ["log-analysis.yaml": corrected], task: Self.task)
        #expect(outcome.json == #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::acme-logs-*/*","Condition":{"StringEquals":{"s3:ExistingObjectTag/ManagedBy":"clawc"},"StringLike":{"aws:ResourceTag/TaskID":"t-1"}}}]}"# + "\n", "\(outcome.rendered)")
    }

    static func rule(_ grant: String) -> [String: String] {
        ["r.yaml": "purpose: log-analysis\ngrants:\n" + grant]
    }

    @Test(arguments: [
        ("  - actions: [s3:GetObjct]\n    resources: [\"arn:aws:s3:::b/*\"]\n", "unknown-action", "did you mean `s3:GetObject`?"),
        ("  - actions: [s4:GetObject]\n    resources: [\"arn:aws:s3:::b/*\"]\n", "unknown-service", "did you mean `s3`?"),
        ("  - actions: [s3:GetObject]\n    resources: [\"arn:aws:s3:::bucket\"]\n", "resource-type-mismatch", "works on"),
        ("  - actions: [s3:ListBucket]\n    resources: [\"arn:aws:s3:::b\"]\n    when: {DateGreaterThan: {s3:prefix: \"2020-01-01\"}}\n", "condition-type-mismatch", "String operator"),
        ("  - actions: [s3:GetObject]\n    resources: [\"arn:aws:s3:::b/*\"]\n    when: {StringEquals: {s3:prefix: logs/}}\n", "condition-never-matches", "supports"),
        ("  - actions: [s3:ListBucket]\n    resources: [\"arn:aws:s3:::b/*\"]\n", "resource-type-mismatch", "works on"),
        ("  - actions: [ec2:DescribeInstances]\n    resources: [\"arn:aws:ec2:*:*:instance/*\"]\n", "resource-type-mismatch", "only honours"),
        ("  - actions: [s3:GetObject]\n    resources: [\"arn:aws:s3:::b/*\"]\n    when: {ForAllValues:StringEquals: {aws:TagKeys: [a]}}\n", "condition-always-true", "ForAnyValue"),
        ("  - actions: [s3:GetObject]\n    resources: [\"arn:aws:s3:::b/*\"]\n    when: {StringEqualsIfExists: {aws:RequestTag/x: y}}\n", "condition-always-true", "restricts nothing"),
        ("  - actions: [ec2:RunInstances]\n    resources: [\"arn:aws:ec2:*:*:instance/*\"]\n", "required-resource-missing", "add a grant"),
        ("  - access: {s3: [reed]}\n    resources: [\"arn:aws:s3:::b/*\"]\n", "unknown-access-level", "did you mean `read`?"),
    ])
    func findings(grant: String, code: String, help: String) throws {
        let outcome = try compile(rules: Self.rule(grant), task: Self.task)
        #expect(outcome.codes.first == code, "\(outcome.rendered)")
        #expect(outcome.rendered.contains(help), "\(outcome.rendered)")
    }

    @Test func conditionKeysThatApplyPass() throws {
        let grant = """
              - actions: [s3:GetObject]
                resources: ["arn:aws:s3:::b/*"]
                when:
                  StringEquals: {s3:ExistingObjectTag/team: a, aws:ResourceTag/team: a, aws:PrincipalTag/team: a}
                  IpAddress: {aws:SourceIp: 10.0.0.0/8}
                  Bool: {aws:SecureTransport: "true"}
                  StringEqualsIfExists: {s3:ExistingObjectTag/x: y}
            """
        let outcome = try compile(rules: Self.rule(grant + "\n"), task: Self.task)
        #expect(outcome.json != nil, "\(outcome.rendered)")
    }

    @Test func accessLevelsExpandToActionsThatFitTheResources() throws {
        let outcome = try compile(rules: Self.rule("  - access: {s3: [read]}\n    resources: [\"arn:aws:s3:::b/*\"]\n"), task: Self.task)
        let actions = try #require(outcome.ir?.statements.first?.actions)
        #expect(actions.contains("s3:GetObject") && actions.contains("s3:GetObjectTagging"))
        #expect(!actions.contains("s3:ListBucket"), "ListBucket is a List action")
        #expect(!actions.contains("s3:GetBucketPolicy"), "a bucket-level read does not fit an object ARN")
        let s3 = try #require(try Repo.catalog.service("s3"))
        for action in actions {
            #expect(s3.actions[String(action.dropFirst(3))]?.access == "Read")
        }
    }

    @Test func wildcardActionsExpandToExactActions() throws {
        let outcome = try compile(rules: Self.rule("  - actions: [\"s3:GetObjectT*\"]\n    resources: [\"arn:aws:s3:::b/*\"]\n"), task: Self.task)
        let actions = try #require(outcome.ir?.statements.first?.actions)
        #expect(actions == ["s3:GetObjectTagging", "s3:GetObjectTorrent"])
    }

    /// A wildcard from `fit: allow-action-wildcards` only ever stands for actions the rule grants. When a newer
    /// catalog adds an action under that prefix, `clawc check` fails instead of silently granting it.
    @Test func checkFailsWhenANewCatalogWidensAWildcard() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let s3 = try #require(try Repo.catalog.service("s3"))
        let family = s3.actionNames.filter { $0.hasPrefix("GetObject") }
        let rules = dir.appendingPathComponent("rules"), golden = dir.appendingPathComponent("golden")
        try FileManager.default.createDirectory(at: rules, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: golden, withIntermediateDirectories: true)
        try """
            purpose: read-objects
            fit: allow-action-wildcards
            grants:
              - actions: [\(family.map { "s3:\($0)" }.joined(separator: ", "))]
                resources: ["arn:aws:s3:::b/*"]
            """.write(to: rules.appendingPathComponent("read-objects.yaml"), atomically: true, encoding: .utf8)
        try "taskId: t-1\npurpose: read-objects\n".write(to: golden.appendingPathComponent("c.task.yaml"), atomically: true, encoding: .utf8)

        // A limit small enough that the explicit list does not fit, so the fit pass must use a wildcard.
        let explicit = try compile(rules: ["r.yaml": try String(contentsOf: rules.appendingPathComponent("read-objects.yaml"), encoding: .utf8)],
                                   task: "taskId: t-1\npurpose: read-objects\n", maxChars: 150)
        let json = try #require(explicit.json, "\(explicit.rendered)")
        #expect(json.contains("s3:GetO*"), "\(json)")
        try json.write(to: golden.appendingPathComponent("c.policy.json"), atomically: true, encoding: .utf8)

        // The same reviewed policy, checked against a catalog where AWS added `s3:GetObjectSecrets`.
        let catalogCopy = dir.appendingPathComponent("catalog")
        try FileManager.default.copyItem(at: CatalogPackTests.jsonFolder, to: catalogCopy)
        let s3File = catalogCopy.appendingPathComponent("s3.json")
        var s3JSON = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: s3File)) as? [String: Any])
        var actions = try #require(s3JSON["actions"] as? [String: Any])
        actions["GetObjectSecrets"] = ["access": "Read", "resources": [["type": "object", "required": true]]]
        s3JSON["actions"] = actions
        try JSONSerialization.data(withJSONObject: s3JSON).write(to: s3File)
        let newer = try Catalog(directory: catalogCopy)
        let policy = try PolicyParser.parse(Data(json.utf8))
        let envelope = [Statement(actions: family.map { "s3:\($0)" }, resources: ["arn:aws:s3:::b/*"])]
        #expect(Compiler.grantsWithin(policy.statements, envelope, catalog: Repo.catalog, values: .exact) == nil)
        let widened = Compiler.grantsWithin(policy.statements, envelope, catalog: newer, values: .exact)
        #expect(widened?.action == "s3:GetObjectSecrets", "the wildcard now covers s3:GetObjectSecrets and must be caught")

        let report = GoldenCheck.run(rulesDirectory: rules.path, goldenDirectory: golden.path, update: false, catalog: newer)
        #expect(report.diagnostics.items.contains { $0.code == "exceeds-envelope" && $0.message.contains("s3:GetObjectSecrets") },
                "\(report.diagnostics.items.map(\.message))")
    }
}
