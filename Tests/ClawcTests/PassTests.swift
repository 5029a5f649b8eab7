import ClawcCompiler
import ClawcPolicy
import ClawcSyntax
import Foundation
import Testing

/// Each pass alone, on a small IR built by hand, with a context from a tiny rule and task.
@Suite struct PassTests {
    static let rule = """
        purpose: demo
        params:
          bucket: {match: "acme-logs-*"}
        fit: [allow-action-wildcards, allow-resource-collapse]
        grants:
          - sid: Read
            actions: [s3:GetObject]
            resources: ["arn:aws:s3:::{bucket}/*"]
          - sid: Logs
            actions: [logs:FilterLogEvents]
            resources: ["arn:aws:logs:*:123456789012:log-group:/acme/*"]
            narrow: targets
            when:
              StringEquals: {aws:ResourceTag/TaskID: "{task.id}"}
        """

    static func context(task: String, maxChars: Int = 2048) throws -> (PassContext, [IRStatement]) {
        let ruleSource = try YAMLSource.parse(data: Data(rule.utf8), displayPath: "rules/demo.yaml").get()
        let parsedRule = try #require(SyntaxReader.rule(ruleSource).0)
        let taskSource = try YAMLSource.parse(data: Data(task.utf8), displayPath: "task.yaml").get()
        let parsedTask = try #require(SyntaxReader.task(taskSource).0)
        let (lowered, diagnostics) = RuleLowering(catalog: Repo.catalog).lower(parsedRule)
        // The rule's region `*` before a literal account draws the lint warning and nothing else.
        #expect(diagnostics.map(\.code).allSatisfy { $0 == "wildcard-may-cross-fields" }, "\(diagnostics.map(\.message))")
        return (PassContext(rule: parsedRule, task: parsedTask, catalog: Repo.catalog, maxChars: maxChars), lowered)
    }

    static let task = """
        taskId: t-1
        purpose: demo
        tags: {bucket: acme-logs-7}
        targetResources: ["arn:aws:logs:us-east-1:123456789012:log-group:/acme/app:*"]
        """

    @Test func slotFillingSubstitutesCheckedValues() throws {
        var (context, statements) = try Self.context(task: Self.task)
        var ir = PolicyIR(statements: statements)
        SlotFilling().run(&ir, &context)
        #expect(context.diagnostics.isEmpty)
        #expect(ir.statements[0].resources == ["arn:aws:s3:::acme-logs-7/*"])
        #expect(ir.statements[1].conditions.entries["StringEquals"]?["aws:ResourceTag/TaskID"] == ["t-1"])
    }

    @Test(arguments: ["acme-logs-*", "acme-logs-1/*", "${aws:username}", "acme logs", "other-bucket"])
    func slotFillingRefusesBadValues(value: String) throws {
        let task = Self.task.replacingOccurrences(of: "acme-logs-7", with: "'\(value)'")
        var (context, statements) = try Self.context(task: task)
        var ir = PolicyIR(statements: statements)
        SlotFilling().run(&ir, &context)
        let codes = context.diagnostics.map(\.code)
        #expect(codes == ["slot-injection"] || codes == ["param-mismatch"], "\(value): \(codes)")
    }

    @Test func narrowingKeepsTargetsInsideAndDropsEmptyGrants() throws {
        var (context, statements) = try Self.context(task: Self.task)
        var ir = PolicyIR(statements: statements)
        SlotFilling().run(&ir, &context)
        TargetNarrowing().run(&ir, &context)
        #expect(context.diagnostics.isEmpty)
        #expect(ir.statements.count == 2)
        #expect(ir.statements[1].resources == ["arn:aws:logs:us-east-1:123456789012:log-group:/acme/app:*"])

        let noTargets = Self.task.replacingOccurrences(of: "targetResources: [\"arn:aws:logs:us-east-1:123456789012:log-group:/acme/app:*\"]", with: "")
        var (context2, statements2) = try Self.context(task: noTargets)
        var ir2 = PolicyIR(statements: statements2)
        SlotFilling().run(&ir2, &context2)
        TargetNarrowing().run(&ir2, &context2)
        #expect(ir2.statements.count == 1, "the narrowed grant with no target is left out")
    }

    @Test func narrowingRefusesATargetOutsideTheEnvelope() throws {
        let task = Self.task.replacingOccurrences(of: "log-group:/acme/app:*", with: "log-group:/other/app:*")
        var (context, statements) = try Self.context(task: task)
        var ir = PolicyIR(statements: statements)
        SlotFilling().run(&ir, &context)
        TargetNarrowing().run(&ir, &context)
        #expect(context.diagnostics.map(\.code) == ["target-outside-envelope"])
    }

    @Test func canonicalizationDedupsCaseInsensitively() throws {
        var (context, statements) = try Self.context(task: Self.task)
        statements[0].actions = ["S3:getobject", "s3:GetObject", "s3:GETOBJECT"]
        var ir = PolicyIR(statements: statements)
        ActionCanonicalization().run(&ir, &context)
        #expect(ir.statements[0].actions == ["s3:GetObject"])
    }

    @Test func subsumptionDropsCoveredPatterns() {
        #expect(ResourceSubsumption.minimal(["arn:aws:s3:::a/x", "arn:aws:s3:::a/*", "arn:aws:s3:::b"]) == ["arn:aws:s3:::a/*", "arn:aws:s3:::b"])
        #expect(ResourceSubsumption.minimal(["a**", "a*"]).count == 1, "equal languages keep one")
    }

    @Test func mergingJoinsEqualResourcesAndEqualActions() throws {
        var (context, statements) = try Self.context(task: Self.task)
        statements = [statements[0], statements[0], statements[0]]
        statements[1].actions = ["s3:GetObjectAcl"]
        statements[2].resources = ["arn:aws:s3:::other/*"]
        var ir = PolicyIR(statements: statements)
        func pairs(_ statements: [IRStatement]) -> Set<[String]> {
            Set(statements.flatMap { s in s.actions.flatMap { a in s.resources.map { [a, $0] } } })
        }
        let before = pairs(ir.statements)
        StatementMerging().run(&ir, &context)
        #expect(ir.statements.count == 2, "one of the two merges applies; the rest no longer share actions or resources")
        #expect(pairs(ir.statements) == before, "merging neither adds nor loses an (action, resource) pair")
    }

    @Test func mergingKeepsDifferentConditionsApart() throws {
        var (context, statements) = try Self.context(task: Self.task)
        var other = statements[0]
        other.conditions.add("StringEquals", "aws:ResourceTag/x", ["y"])
        statements = [statements[0], other]
        var ir = PolicyIR(statements: statements)
        StatementMerging().run(&ir, &context)
        #expect(ir.statements.count == 2)
    }

    @Test func sizeFittingDropsSidsThenFails() throws {
        var (context, statements) = try Self.context(task: Self.task, maxChars: 150)
        var ir = PolicyIR(statements: statements)
        SlotFilling().run(&ir, &context)
        TargetNarrowing().run(&ir, &context)
        SizeFitting().run(&ir, &context)
        #expect(ir.dropSids)
        #expect(context.diagnostics.map(\.code) == ["policy-too-large"])
    }

    @Test func actionWildcardsStayInsideTheSet() throws {
        let service = try #require(try Repo.catalog.service("s3"))
        let getObjectFamily = service.actionNames.filter { $0.hasPrefix("GetObject") }.map { "s3:\($0)" }
        let fitted = SizeFitting.actionWildcards(getObjectFamily + ["s3:ListBucket"], catalog: Repo.catalog)
        #expect(fitted.contains { $0.hasSuffix("*") } && fitted.count == 2, "\(fitted)")
        #expect(fitted.contains("s3:ListBucket"))
        for action in fitted {
            for expanded in Compiler.expand(action, catalog: Repo.catalog) {
                #expect((getObjectFamily + ["s3:ListBucket"]).contains(expanded), "\(action) widened to \(expanded)")
            }
        }
    }

    @Test func resourceCollapseStaysInsideTheEnvelope() {
        #expect(SizeFitting.collapse(["arn:aws:s3:::acme-logs-1/a", "arn:aws:s3:::acme-logs-1/b"], insideEach: [["arn:aws:s3:::acme-logs-1/*"]])
            == "arn:aws:s3:::acme-logs-1/*")
        #expect(SizeFitting.collapse(["arn:aws:s3:::acme-logs-1/a", "arn:aws:s3:::acme-other/b"], insideEach: [["arn:aws:s3:::acme-logs-*/*"]]) == nil)
    }
}
