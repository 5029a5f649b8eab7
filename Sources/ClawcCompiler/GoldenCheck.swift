import ClawcCatalog
import ClawcDiagnostics
import ClawcPolicy
import ClawcSyntax
import Foundation

/// `clawc check`: lint every rule, compile every golden case, compare with the reviewed policy, and prove that
/// each policy (compiled and reviewed) grants nothing outside its rule's envelope.
public enum GoldenCheck {
    public struct Report: Sendable {
        public var diagnostics = DiagnosticBag()
        /// Golden files written by `--update`.
        public var updated: [String] = []
        public var cases = 0
        public var rules = 0
    }

    public static func run(rulesDirectory: String, goldenDirectory: String, update: Bool, catalog: Catalog) -> Report {
        var report = Report()
        let (ruleSet, found) = RuleSet.load(directory: rulesDirectory, displayPath: rulesDirectory)
        report.diagnostics.add(contentsOf: found)
        guard let ruleSet else { return report }
        report.rules = ruleSet.rules.count
        for rule in ruleSet.rules where rule.callers == nil {
            report.diagnostics.add(Diagnostic(
                .warning, code: "no-callers", "rule `\(rule.purpose.value)` names no `callers`: any valid token may ask for it, and `clawc serve` refuses to start",
                at: rule.purpose.span,
                help: "list who may ask, such as `callers: [{sub: \"system:serviceaccount:agents:*\"}]`, here or under `defaults:` in clawc.yaml"))
        }
        var schema: PostgresSchema?
        switch PostgresSchema.load(rulesDirectory: rulesDirectory, displayPath: rulesDirectory) {
        case .success(let loaded): schema = loaded
        case .failure(let diagnostic): report.diagnostics.add(diagnostic)
        }
        for rule in ruleSet.rules where rule.isPostgres {
            if let schema {
                report.diagnostics.add(contentsOf: schema.lint(rule))
            } else {
                report.diagnostics.add(Diagnostic(
                    .warning, code: "no-postgres-schema",
                    "rule `\(rule.purpose.value)` grants on PostgreSQL tables, and the rules folder has no `\(PostgresSchema.fileName)` to check them against",
                    at: rule.purpose.span,
                    help: "write one with `clawc emit postgres-schema --database URL > \(rulesDirectory)/\(PostgresSchema.fileName)` and commit it"))
            }
        }
        // Each rule is lowered once, here, and every case of it is compiled from that lowering.
        var lowered: [String: (statements: [IRStatement], problems: [Diagnostic])] = [:]
        for rule in ruleSet.rules {
            let (statements, problems) = RuleLowering(catalog: catalog).lower(rule)
            report.diagnostics.add(contentsOf: problems)
            lowered[rule.purpose.value] = (statements, problems)
        }
        if report.diagnostics.hasErrors { return report }

        for taskFile in taskFiles(in: goldenDirectory) {
            report.cases += 1
            let taskPath = (goldenDirectory as NSString).appendingPathComponent(taskFile)
            // `taskFiles` returns only names with one of the task endings.
            let ending = taskEndings.first { taskFile.hasSuffix($0) } ?? ""
            let base = String(taskFile.dropLast(ending.count))
            let policyPath = (goldenDirectory as NSString).appendingPathComponent(base + ".policy.json")
            var task: Task?
            switch YAMLSource.load(path: taskPath, displayPath: taskPath) {
            case .failure(let diagnostic): report.diagnostics.add(diagnostic)
            case .success(let source):
                let (parsed, problems) = SyntaxReader.task(source)
                report.diagnostics.add(contentsOf: problems)
                task = parsed
            }
            guard let task else { continue }
            if let rule = ruleSet.rule(for: task.purpose.value), rule.isPostgres {
                checkPlan(rule: rule, task: task, taskPath: taskPath, planPath: (goldenDirectory as NSString).appendingPathComponent(base + ".plan.sql"),
                          schema: schema, update: update, catalog: catalog, &report)
                continue
            }
            let outcome: Compiler.Outcome
            if let rule = ruleSet.rule(for: task.purpose.value), let lowering = lowered[rule.purpose.value] {
                outcome = Compiler.run(rule: rule, lowered: lowering.statements, lowerDiagnostics: lowering.problems, task: task,
                                       catalog: catalog, maxChars: Compiler.defaultMaxChars)
            } else {
                outcome = Compiler.compile(ruleSet: ruleSet, task: task, catalog: catalog)  // the unknown-purpose error
            }
            report.diagnostics.add(contentsOf: outcome.diagnostics.items)
            guard let json = outcome.json, let ir = outcome.ir, let rule = outcome.rule else { continue }
            let envelope = Envelope.statements(for: rule, lowered: lowered[rule.purpose.value]?.statements ?? [])
            // A policy that fails its proof is never written, not even by `--update`.
            guard prove(ir.policy, inside: envelope, rule: rule, what: "the compiled policy for `\(taskPath)`", at: task.taskId.span, catalog: catalog, &report)
            else { continue }

            let expected = try? String(contentsOfFile: policyPath, encoding: .utf8)
            // The reviewed policy is what was approved: prove it too, against today's catalog, so an action
            // wildcard that AWS has since widened is caught even when the rule compiles differently now.
            if let expected, !update {
                switch PolicyParser.read(Data(expected.utf8), path: policyPath) {
                case .success(let reviewed):
                    prove(reviewed, inside: envelope, rule: rule, what: "`\(policyPath)`", at: task.taskId.span, catalog: catalog, &report)
                case .failure(let problem):
                    // A reviewed file clawc cannot read soundly is an error located in it, never skipped.
                    report.diagnostics.add(problem)
                }
            }
            if expected == json { continue }
            if update {
                write(json, to: policyPath, &report)
                continue
            }
            let file = SourceFile(path: policyPath, text: expected ?? "")
            guard let expected else {
                report.diagnostics.add(.fileError(
                    "golden-missing", "no reviewed policy for `\(taskPath)`", path: policyPath,
                    help: "run `clawc check --update` to write it, then review and commit it"))
                continue
            }
            var notes: [Diagnostic.Note] = []
            if let old = try? PolicyParser.parse(Data(expected.utf8)), let new = try? PolicyParser.parse(Data(json.utf8)) {
                let diff = AccessDiff.diff(old: old, new: new) { Compiler.expand($0, catalog: catalog) }
                notes = diff.added.map { .init("adds \($0)", at: nil) } + diff.removed.map { .init("removes \($0)", at: nil) }
                if diff.isEmpty { notes = [.init("same access; only the text differs", at: nil)] }
            }
            report.diagnostics.add(.error(
                "golden-mismatch", "compiled policy differs from the reviewed one", at: SourceSpan(file: file, start: .init(line: 1, column: 1)),
                help: "if the change is intended, run `clawc check --update` and commit the new policy with the rule change", notes: notes))
        }
        return report
    }

    /// A PostgreSQL golden case: the plan, with placeholders, must equal `<case>.plan.sql` byte for byte.
    static func checkPlan(rule: Rule, task: Task, taskPath: String, planPath: String, schema: PostgresSchema?, update: Bool, catalog: Catalog,
                          _ report: inout Report)
    {
        let (plan, found) = PostgresPlanner.plan(rule: rule, task: task, catalog: catalog, schema: schema, values: .placeholders)
        report.diagnostics.add(contentsOf: found)
        guard let plan else { return }
        let text = plan.text
        let expected = try? String(contentsOfFile: planPath, encoding: .utf8)
        if expected == text { return }
        if update {
            write(text, to: planPath, &report)
            return
        }
        guard let expected else {
            report.diagnostics.add(.fileError(
                "golden-missing", "no reviewed plan for `\(taskPath)`", path: planPath,
                help: "run `clawc check --update` to write it, then review and commit it"))
            return
        }
        // The access a reviewer cares about is in the GRANT and CREATE POLICY lines: show those that changed.
        let old = Set(expected.split(separator: "\n").map(String.init)), new = Set(text.split(separator: "\n").map(String.init))
        func access(_ line: String) -> Bool { line.contains("GRANT ") || line.contains("CREATE POLICY") || line.contains("CREATE ROLE") }
        var notes = new.subtracting(old).filter(access).sorted().map { Diagnostic.Note("adds: \($0.trimmingCharacters(in: .whitespaces))", at: nil) }
        notes += old.subtracting(new).filter(access).sorted().map { Diagnostic.Note("removes: \($0.trimmingCharacters(in: .whitespaces))", at: nil) }
        if notes.isEmpty { notes = [.init("the same grants; other lines of the plan differ", at: nil)] }
        report.diagnostics.add(.error(
            "golden-mismatch", "the plan differs from the reviewed one", at: SourceSpan(file: SourceFile(path: planPath, text: expected), start: .init(line: 1, column: 1)),
            help: "if the change is intended, run `clawc check --update` and commit the new plan with the rule change", notes: notes))
    }

    /// `--update`: the reviewed file rewritten with what the rules compile to now, and said so.
    static func write(_ text: String, to path: String, _ report: inout Report) {
        do {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            report.updated.append(path)
        } catch {
            report.diagnostics.add(.fileError("unwritable-file", "cannot write `\(path)`", path: path))
        }
    }

    /// Proves `policy` inside the rule's envelope; a failure names a concrete request the rule does not allow.
    @discardableResult
    static func prove(_ policy: Policy, inside envelope: [Statement], rule: Rule, what: String, at span: SourceSpan, catalog: Catalog, _ report: inout Report) -> Bool {
        guard let outside = Compiler.grantsWithin(policy.statements, envelope, catalog: catalog, values: .outerIsPattern) else { return true }
        report.diagnostics.add(.error(
            "exceeds-envelope", "\(what) grants \(outside), which rule `\(rule.purpose.value)` does not allow", at: span,
            help: "a policy must never grant more than its rule; if an action wildcard now covers new AWS actions, list the actions instead",
            notes: [.init("the rule is here", at: rule.purpose.span)]))
        return false
    }

    /// `*.task.yaml` and `*.task.json` under `directory`, recursively, sorted.
    public static func taskFiles(in directory: String) -> [String] {
        let all = (FileManager.default.enumerator(atPath: directory)?.allObjects as? [String]) ?? []
        return all.filter { name in taskEndings.contains { name.hasSuffix($0) } }.sorted()
    }

    /// What a golden case's task file is named: `<case>.task.yaml` or `<case>.task.json`.
    static let taskEndings = [".task.yaml", ".task.json"]
}
