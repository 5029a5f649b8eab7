@testable import ClawcCompiler
import ClawcDiagnostics
import ClawcPolicy
import ClawcRuntime
import ClawcSyntax
import Foundation
import Testing

/// The attacks on "a compiled policy never grants more than its rule", each kept as a test that fails without
/// its fix: size fitting after merging, ARN fields, the prover's running time, dropped actions, and a widening
/// pass caught by the final proof in every build.
@Suite struct SoundnessTests {
    static let twoNestedGrants = """
        purpose: logs-writer
        fit: [allow-resource-collapse]
        params:
          bucket: {match: "acme-*"}
        grants:
          - sid: Read
            actions: [s3:GetObject]
            resources: ["arn:aws:s3:::{bucket}/*"]
            narrow: targets
          - sid: WriteLogs
            actions: [s3:PutObject]
            resources: ["arn:aws:s3:::{bucket}/*.log"]
            narrow: targets
        """

    static func nestedTask(count: Int) -> String {
        var text = "taskId: t-1\npurpose: logs-writer\ntags: {bucket: acme-1}\ntargetResources:\n"
        for i in 0..<count { text += "  - \"arn:aws:s3:::acme-1/x/run-\(i)-with-a-long-name.log\"\n" }
        return text
    }

    /// Problem 1: both grants get the same targets and merge; collapsing to `acme-1/x/run-*` lies inside the
    /// `GetObject` grant's `acme-1/*` but not inside the `PutObject` grant's `acme-1/*.log`.
    @Test func collapseAfterMergingStaysInsideEachGrant() throws {
        let outcome = try compile(rules: ["r.yaml": Self.twoNestedGrants], task: Self.nestedTask(count: 12), maxChars: 400)
        if let json = outcome.json {
            let policy = try PolicyParser.parse(Data(json.utf8))
            let allowed = ReferenceModel.allows(policy, action: "s3:PutObject", resource: "arn:aws:s3:::acme-1/x/run-1-with-a-long-name.txt")
            #expect(!allowed, "the policy grants s3:PutObject on a key that is not *.log: \(json)")
        } else {
            #expect(outcome.codes == ["policy-too-large"], "\(outcome.rendered)")
        }
    }

    @Test func collapseNeedsEveryGrantsEnvelope() {
        let resources = ["arn:aws:s3:::acme-1/x/a.log", "arn:aws:s3:::acme-1/x/b.log"]
        #expect(SizeFitting.collapse(resources, insideEach: [["arn:aws:s3:::acme-1/*"], ["arn:aws:s3:::acme-1/*.log"]]) == nil)
        #expect(SizeFitting.collapse(resources, insideEach: [["arn:aws:s3:::acme-1/*"]]) == "arn:aws:s3:::acme-1/x/*")
    }

    static let pinnedAccount = """
        purpose: logs
        params:
          region: {match: "us-*"}
        grants:
          - actions: [logs:GetLogEvents]
            resources: ["arn:aws:logs:us-*:123456789012:log-group:*"]
            narrow: targets
          - actions: [logs:FilterLogEvents]
            resources: ["arn:aws:logs:{region}:123456789012:log-group:/acme/*"]
        """

    /// Problem 2a: the rule's mid-segment `us-*` would swallow `east-1:999999999999:log-group:x` as one string.
    @Test func aTargetInAnotherAccountIsRefused() throws {
        let task = """
            taskId: t-1
            purpose: logs
            tags: {region: us-east-1}
            targetResources: ["arn:aws:logs:us-east-1:999999999999:log-group:x:123456789012:log-group:y"]
            """
        let outcome = try compile(rules: ["r.yaml": Self.pinnedAccount], task: task)
        #expect(outcome.json == nil)
        #expect(outcome.codes == ["target-outside-envelope"], "\(outcome.rendered)")
    }

    /// Problem 2b: a target's own wildcard in a field the rule pins could reach past the colons.
    @Test func aWildcardInAPinnedFieldIsRefused() throws {
        let task = """
            taskId: t-1
            purpose: logs
            tags: {region: us-east-1}
            targetResources: ["arn:aws:logs:us-e*:123456789012:log-group:x"]
            """
        let outcome = try compile(rules: ["r.yaml": Self.pinnedAccount], task: task)
        #expect(outcome.json == nil)
        #expect(outcome.codes == ["target-outside-envelope"], "\(outcome.rendered)")
        #expect(outcome.rendered.contains("region `us-e*` holds a wildcard"), "\(outcome.rendered)")
        // The same field exactly as the rule writes it, or a literal value, is inside.
        let literal = try compile(rules: ["r.yaml": Self.pinnedAccount], task: task.replacingOccurrences(of: "us-e*", with: "us-east-1"))
        #expect(literal.json != nil, "\(literal.rendered)")
    }

    /// Problem 2c: a slot value with `:` would shift the account field.
    @Test func aSlotValueCannotMoveTheAccountField() throws {
        let task = """
            taskId: t-1
            purpose: logs
            tags: {region: "us-east-1:999999999999:log-group:/acme/x:123456789012"}
            """
        let outcome = try compile(rules: ["r.yaml": Self.pinnedAccount], task: task)
        #expect(outcome.json == nil)
        #expect(outcome.codes == ["slot-injection"], "\(outcome.rendered)")
        #expect(outcome.rendered.contains("fills the region"), "\(outcome.rendered)")
    }

    /// Problem 2d: `diff` must see the cross-account ARN as added access.
    @Test func diffSeesACrossAccountARN() {
        let old = Policy(statements: [Statement(actions: ["logs:GetLogEvents"], resources: ["arn:aws:logs:us-*:123456789012:log-group:*"])])
        var new = old
        new.statements[0].resources.append("arn:aws:logs:us-east-1:999999999999:log-group:x:123456789012:log-group:y")
        let result = AccessDiff.diff(old: old, new: new) { [$0] }
        #expect(result.added.map(\.resource) == ["arn:aws:logs:us-east-1:999999999999:log-group:x:123456789012:log-group:y"])
    }

    /// Problem 3: `*` then a run of `?` makes the search exponential; the budget answers "not contained" fast.
    @Test func theProverIsBoundedOnExponentialPatterns() {
        for questionMarks in [12, 16, 24, 40] {
            let inner = Glob("*a" + String(repeating: "?", count: questionMarks))
            let outer = Glob("*a" + String(repeating: "?", count: questionMarks - 1) + "*")
            let clock = ContinuousClock()
            let start = clock.now
            let budget = ProverBudget()
            let answer = outer.contains(inner, budget: budget)
            let elapsed = clock.now - start
            // A hang guard, not a speed claim (speed is measured by bench/attacks.sh on a release build): the
            // unbounded search took 17 s at 16 `?` and doubles with each one more.
            #expect(elapsed < .seconds(20), "\(questionMarks) `?`: \(elapsed)")
            // Either the true answer (contained) or, over budget, the safe one; never a wrong "contained".
            #expect(answer || budget.exhausted)
        }
    }

    @Test func aHostileTaskCannotMakeCompileSlow() throws {
        let rule = """
            purpose: slow
            grants:
              - actions: [s3:GetObject]
                resources: ["arn:aws:s3:::b/*a\(String(repeating: "?", count: 20))*", "arn:aws:s3:::b/*c\(String(repeating: "?", count: 20))*"]
                narrow: targets
            """
        let q = String(repeating: "?", count: 38)
        let task = """
            taskId: t-1
            purpose: slow
            targetResources: ["arn:aws:s3:::b/*a\(q)", "arn:aws:s3:::b/*c\(q)b"]
            """
        let clock = ContinuousClock()
        let start = clock.now
        let outcome = try compile(rules: ["r.yaml": rule], task: task)
        let elapsed = clock.now - start
        // A hang guard, not a speed claim: without the budget this compile runs for hours.
        #expect(elapsed < .seconds(20), "compile took \(elapsed)")
        // Both targets are in fact inside; over budget clawc may refuse, never grant outside.
        if outcome.json == nil {
            #expect(outcome.codes.allSatisfy { ["target-outside-envelope", "proof-over-budget"].contains($0) }, "\(outcome.rendered)")
        }
    }

    @Test func diffOfExponentialPoliciesAnswersFast() {
        let q = String(repeating: "?", count: 22)
        let old = Policy(statements: [Statement(actions: ["s3:GetObject"], resources: ["arn:aws:s3:::b/*a\(q)"])])
        let new = Policy(statements: [Statement(actions: ["s3:GetObject"], resources: ["arn:aws:s3:::b/*a\(q.dropLast())*"])])
        let clock = ContinuousClock()
        let start = clock.now
        let result = AccessDiff.diff(old: old, new: new) { [$0] }
        // A hang guard (unbounded, 16 `?` took 17 s; 22 would take about twenty minutes).
        #expect(clock.now - start < .seconds(20))
        // new ⊇ old (truly) and new adds e.g. `b/a` + 15 chars + more; the diff must never call them the same.
        #expect(!result.isEmpty)
    }

    /// Problem 5: a stem that covers `UpdateFunctionCodeSigningConfig` must not leave it out when
    /// `UpdateFunctionCode` is written whole.
    @Test func actionWildcardsNeverDropAnAction() {
        let actions = ["lambda:UpdateFunctionCode", "lambda:UpdateFunctionCodeSigningConfig"]
        let fitted = SizeFitting.actionWildcards(actions, catalog: Repo.catalog)
        let expanded = Set(fitted.flatMap { Compiler.expand($0, catalog: Repo.catalog) })
        #expect(expanded == Set(actions), "\(fitted)")
    }

    /// Over random subsets of real services' actions, fitting is exact: the wildcards expand to the same set.
    @Test func actionWildcardsAreExactOnRandomSets() throws {
        let seed = propertySeed(0xF17)
        var rng = SplitMix64(seed: seed)
        for service in ["ec2", "lambda", "s3", "iam", "logs", "dynamodb"] {
            let names = try #require(try Repo.catalog.service(service)).actionNames.sorted()
            for round in 0..<40 {
                // Runs of neighbours in sorted order share stems, which is where fitting acts.
                let start = Int.random(in: 0..<names.count, using: &rng)
                let picked = names[start..<min(names.count, start + Int.random(in: 1...12, using: &rng))]
                    .filter { _ in Int.random(in: 0..<4, using: &rng) > 0 }
                guard !picked.isEmpty else { continue }
                let actions = picked.map { "\(service):\($0)" }
                let fitted = SizeFitting.actionWildcards(actions, catalog: Repo.catalog)
                let expanded = Set(fitted.flatMap { Compiler.expand($0, catalog: Repo.catalog) }.map { $0.lowercased() })
                #expect(expanded == Set(actions.map { $0.lowercased() }), "seed \(seed) round \(round) \(service): \(actions) → \(fitted)")
            }
        }
    }

    /// The final proof runs in every build: a widening pass injected after the shipped ones (with the debug-only
    /// per-pass checks off) is caught, and nothing is printed.
    @Test func aWideningPassIsCaughtByTheFinalProof() throws {
        let task = "taskId: t-42\npurpose: log-analysis\ntags: {bucket: acme-logs-123}\n"
        let hooks = Compiler.Hooks(extraPasses: [WidenToEverything()], checkEachPass: false)
        let outcome = try Compiler.$hooks.withValue(hooks) {
            try compile(rules: ["r.yaml": String(contentsOfFile: Repo.path("rules/log-analysis.yaml"), encoding: .utf8)], task: task)
        }
        #expect(outcome.json == nil)
        #expect(outcome.codes == ["unproven-policy"], "\(outcome.rendered)")
        #expect(outcome.rendered.contains("internal error"))
        // Without the hook the same task compiles.
        let plain = try compile(rules: ["r.yaml": String(contentsOfFile: Repo.path("rules/log-analysis.yaml"), encoding: .utf8)], task: task)
        #expect(plain.json != nil, "\(plain.rendered)")
    }

    #if DEBUG
    @Test func debugBuildsNameTheWideningPass() throws {
        let task = "taskId: t-42\npurpose: log-analysis\ntags: {bucket: acme-logs-123}\n"
        let hooks = Compiler.Hooks(extraPasses: [WidenToEverything()], checkEachPass: true)
        let outcome = try Compiler.$hooks.withValue(hooks) {
            try compile(rules: ["r.yaml": String(contentsOfFile: Repo.path("rules/log-analysis.yaml"), encoding: .utf8)], task: task)
        }
        #expect(outcome.codes == ["unproven-policy"])
        #expect(outcome.rendered.contains("pass `widen-to-everything`"), "\(outcome.rendered)")
    }
    #endif

    /// `clawc issue`, both paths, refuses before any network call when the proof fails.
    @Test func issueRefusesAnUnprovenPolicy() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let ruleSet = try #require(RuleSet.load(directory: Repo.path("rules"), displayPath: "rules").0)
        let source = try YAMLSource.parse(data: Data("taskId: t-42\npurpose: log-analysis\ntags: {bucket: acme-logs-123}\n".utf8), displayPath: "task.yaml").get()
        let task = try #require(SyntaxReader.task(source).0)
        let ledger = try Ledger(path: dir.appendingPathComponent("ledger.sqlite").path)
        // Port 9 on loopback: nothing listens; a call would fail as "STS unavailable", not as diagnostics.
        let sts = STSClient(endpoint: try #require(URL(string: "http://127.0.0.1:9")), maxAttempts: 1)
        let hooks = Compiler.Hooks(extraPasses: [WidenToEverything()], checkEachPass: false)
        let backends: [any CredentialBackend] = [
            WebIdentityBackend(
                validator: TokenValidator(issuer: "http://127.0.0.1:9", audience: "sts.amazonaws.com"), sts: sts, token: "not-a-token",
                roleARN: "arn:aws:iam::123456789012:role/agents", roleMaxSeconds: nil, revoker: nil),
            ScopedBackend(
                sts: sts, caller: AWSCredentials(accessKeyID: "ASIAEXAMPLE", secretAccessKey: "secret", sessionToken: "token"),
                callerExpiration: Date().addingTimeInterval(3600), region: "us-east-1", subject: "agent", parentTask: nil, catalog: Repo.catalog),
        ]
        for backend in backends {
            let issuer = Issuer(rules: PreparedRules(ruleSet: ruleSet, catalog: Repo.catalog), ledger: ledger, backend: backend)
            await Compiler.$hooks.withValue(hooks) {
                do {
                    _ = try await issuer.issue(task)
                    Issue.record("\(backend.path): issued a credential with an unproven policy")
                } catch {
                    guard let failure = error as? IssueFailure, case .diagnostics(let bag) = failure else {
                        Issue.record("\(backend.path): refused for another reason: \(error)")
                        return
                    }
                    #expect(bag.items.map(\.code) == ["unproven-policy"])
                }
            }
        }
        #expect(try await ledger.entry(task: "t-42") == nil, "a ledger row was written for an unproven policy")
    }

    /// `check --update` never writes a policy that failed its proof, and `check` names a reviewed policy that
    /// grants more than its rule (the collapse of problem 1, as an old clawc would have written it).
    @Test func checkNeverWritesAnUnprovenPolicyAndFlagsAWideReviewedOne() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let rules = dir.appendingPathComponent("rules"), golden = dir.appendingPathComponent("golden")
        try FileManager.default.createDirectory(at: rules, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: golden, withIntermediateDirectories: true)
        try Self.twoNestedGrants.write(to: rules.appendingPathComponent("r.yaml"), atomically: true, encoding: .utf8)
        try "taskId: t-1\npurpose: logs-writer\ntags: {bucket: acme-1}\ntargetResources: [\"arn:aws:s3:::acme-1/x/a.log\"]\n"
            .write(to: golden.appendingPathComponent("one.task.yaml"), atomically: true, encoding: .utf8)
        let policyURL = golden.appendingPathComponent("one.policy.json")
        let wide = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::acme-1/x/*"}]}"# + "\n"
        try wide.write(to: policyURL, atomically: true, encoding: .utf8)

        let checked = GoldenCheck.run(rulesDirectory: rules.path, goldenDirectory: golden.path, update: false, catalog: Repo.catalog)
        #expect(checked.diagnostics.items.map(\.code).contains("exceeds-envelope"), "\(DiagnosticRenderer.render(checked.diagnostics))")

        let hooks = Compiler.Hooks(extraPasses: [WidenToEverything()], checkEachPass: false)
        let updated = Compiler.$hooks.withValue(hooks) {
            GoldenCheck.run(rulesDirectory: rules.path, goldenDirectory: golden.path, update: true, catalog: Repo.catalog)
        }
        #expect(updated.updated.isEmpty)
        #expect(updated.diagnostics.items.map(\.code).contains("unproven-policy"))
        #expect(try String(contentsOf: policyURL, encoding: .utf8) == wide, "check --update rewrote the reviewed file")
    }

    /// The lint names a rule's own wildcard that could reach another account, and a pin on the account silences it.
    @Test func aRegionWildcardBeforeALiteralAccountIsWarnedAbout() throws {
        let rule = """
            purpose: logs
            grants:
              - actions: [logs:FilterLogEvents]
                resources: ["arn:aws:logs:*:123456789012:log-group:/acme/*"]
            """
        let source = try YAMLSource.parse(data: Data(rule.utf8), displayPath: "rules/logs.yaml").get()
        let parsed = try #require(SyntaxReader.rule(source).0)
        let (_, found) = RuleLowering(catalog: Repo.catalog).lower(parsed)
        #expect(found.map(\.code) == ["wildcard-may-cross-fields"])
        let pinned = rule + "\n    when:\n      StringEquals: {aws:ResourceAccount: \"123456789012\"}\n"
        let pinnedSource = try YAMLSource.parse(data: Data(pinned.utf8), displayPath: "rules/logs.yaml").get()
        let (_, none) = RuleLowering(catalog: Repo.catalog).lower(try #require(SyntaxReader.rule(pinnedSource).0))
        #expect(none.isEmpty, "\(none.map(\.message))")
    }

    /// A slot under a negated operator: the envelope cannot write "not some value of the slot", so it leaves the
    /// key out; the final proof then holds instead of refusing a correct policy.
    @Test func aSlotUnderANegatedOperatorCompiles() throws {
        let rule = """
            purpose: other-teams
            grants:
              - actions: [s3:GetObject]
                resources: ["arn:aws:s3:::acme-shared/*"]
                when:
                  StringNotEquals: {aws:PrincipalTag/team: "{task.id}"}
            """
        let outcome = try compile(rules: ["r.yaml": rule], task: "taskId: t-7\npurpose: other-teams\n")
        #expect(outcome.json?.contains(#""StringNotEquals":{"aws:PrincipalTag/team":"t-7"}"#) == true, "\(outcome.rendered)")
    }

    static let queueWriter = """
        purpose: queue-writer
        params:
          source: {match: "arn:aws:sns:*:111111111111:*"}
          prefix: {match: "arn:aws:sns:*"}
        grants:
          - sid: Send
            actions: [sqs:SendMessage]
            resources: ["arn:aws:sqs:us-east-1:111111111111:orders"]
            when:
              OPERATOR: {aws:SourceArn: "TEMPLATE"}
        """

    /// Found by review: a slot at the start of an `Arn…` condition value held an ARN whose extra colons moved
    /// the account (`arn:aws:sns:us-east-1:222222222222:attacker:111111111111:x` matches
    /// `arn:aws:sns:*:111111111111:*` as one string). IAM compares ARN values field by field; so does clawc now.
    @Test(arguments: [("ArnEquals", "{source}"), ("ArnLike", "{source}"), ("ArnEquals", "{prefix}:111111111111:t")])
    func anARNConditionValueCannotMoveToAnotherAccount(op: String, template: String) throws {
        let rule = Self.queueWriter.replacingOccurrences(of: "OPERATOR", with: op).replacingOccurrences(of: "TEMPLATE", with: template)
        let value = template == "{source}" ? "arn:aws:sns:us-east-1:222222222222:attacker:111111111111:x" : "arn:aws:sns:us-east-1:222222222222:x"
        let task = "taskId: t-7\npurpose: queue-writer\ntags: {source: \"\(value)\", prefix: \"\(value)\"}\n"
        let outcome = try compile(rules: ["r.yaml": rule], task: task)
        #expect(outcome.json == nil, "\(outcome.json ?? "")")
        #expect(outcome.codes == ["slot-injection"], "\(outcome.rendered)")
        // A value that keeps the rule's fields compiles.
        let goodValue = template == "{source}" ? "arn:aws:sns:us-east-1:111111111111:topic" : "arn:aws:sns:us-east-1"
        let good = "taskId: t-7\npurpose: queue-writer\ntags: {source: \"\(goodValue)\", prefix: \"\(goodValue)\"}\n"
        let compiled = try compile(rules: ["r.yaml": rule], task: good)
        #expect(compiled.json != nil, "\(compiled.rendered)")
    }

    /// The proof itself reads `Arn…` values field by field: a reviewed policy with the moved account fails `check`.
    @Test func theProofComparesARNConditionValuesFieldByField() {
        let envelope = [Statement(actions: ["sqs:SendMessage"], resources: ["arn:aws:sqs:us-east-1:111111111111:orders"],
                                  conditions: ConditionBlock(["ArnEquals": ["aws:SourceArn": ["arn:aws:sns:*:111111111111:*"]]]))]
        let moved = [Statement(actions: ["sqs:SendMessage"], resources: ["arn:aws:sqs:us-east-1:111111111111:orders"],
                               conditions: ConditionBlock(["ArnEquals": ["aws:SourceArn": ["arn:aws:sns:us-east-1:222222222222:attacker:111111111111:x"]]]))]
        #expect(GrantContainment.firstUncovered(moved, in: envelope, values: .outerIsPattern) != nil)
        var kept = moved
        kept[0].conditions = ConditionBlock(["ArnEquals": ["aws:SourceArn": ["arn:aws:sns:us-east-1:111111111111:topic"]]])
        #expect(GrantContainment.firstUncovered(kept, in: envelope, values: .outerIsPattern) == nil)
    }

    /// Found by review: thousands of targets made a compile quadratic (33 s at 4,000 on a release build).
    @Test func aTaskWithThousandsOfTargetsIsRefusedAtOnce() throws {
        var task = "taskId: t-42\npurpose: log-analysis\ntags: {bucket: acme-logs-123}\ntargetResources:\n"
        for i in 0..<4_000 { task += "  - \"arn:aws:logs:us-east-1:123456789012:log-group:/acme/g\(i)\"\n" }
        let rules = try String(contentsOfFile: Repo.path("rules/log-analysis.yaml"), encoding: .utf8)
        let clock = ContinuousClock()
        let start = clock.now
        let outcome = try compile(rules: ["r.yaml": rules], task: task)
        #expect(clock.now - start < .seconds(20), "a hang guard")
        #expect(outcome.codes == ["too-many-targets"], "\(outcome.rendered.prefix(500))")
    }

    /// Found by review: `ec2:*` on six instance ARNs took 7.5 s to diff with itself (each of ~4,000 rows built
    /// patterns anew against every other row).
    @Test func diffOfWideActionWildcardsAnswersQuickly() {
        let resources = (0..<6).map { "arn:aws:ec2:*:*:instance/i-\($0)" }
        let policy = Policy(statements: [Statement(actions: ["ec2:*", "iam:*", "s3:*"], resources: resources)])
        let clock = ContinuousClock()
        let start = clock.now
        let result = AccessDiff.diff(old: policy, new: policy) { Compiler.expand($0, catalog: Repo.catalog) }
        #expect(clock.now - start < .seconds(20), "a hang guard")
        #expect(result.isEmpty)
    }

    /// Found by review: only the rule's own literal account pins a field wildcard; a slot or another account does not.
    @Test func aPinFromASlotOrAnotherAccountKeepsTheWarning() throws {
        for value in ["{task.tags.acct}", "999999999999"] {
            let rule = """
                purpose: logs
                grants:
                  - actions: [logs:FilterLogEvents]
                    resources: ["arn:aws:logs:*:123456789012:log-group:/acme/*"]
                    when:
                      StringEquals: {aws:ResourceAccount: "\(value)"}
                """
            let source = try YAMLSource.parse(data: Data(rule.utf8), displayPath: "rules/logs.yaml").get()
            let (_, found) = RuleLowering(catalog: Repo.catalog).lower(try #require(SyntaxReader.rule(source).0))
            #expect(found.map(\.code).contains("wildcard-may-cross-fields"), "\(value): \(found.map(\.message))")
        }
    }

    /// Found by review: `diff` printed policy strings raw, so an escaped newline in a resource forged a "removed" row.
    @Test func diffRowsAreOneLineEachWhateverTheyHold() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let old = dir.appendingPathComponent("o.json"), new = dir.appendingPathComponent("n.json")
        try #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::a"}]}"#
            .write(to: old, atomically: true, encoding: .utf8)
        try #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":["arn:aws:s3:::a","arn:aws:s3:::public/x\n- s3:GetObject  arn:aws:s3:::secret/*\u001b[2K"]}]}"#
            .write(to: new, atomically: true, encoding: .utf8)
        let run = try runClawc(["diff", old.path, new.path])
        #expect(run.status == 1, "\(run.stderr)")
        let lines = run.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(lines.count == 1 && lines.allSatisfy { $0.hasPrefix("+ ") }, "\(run.stdout)")
        #expect(!run.stdout.contains("\u{1B}"))
    }
}
