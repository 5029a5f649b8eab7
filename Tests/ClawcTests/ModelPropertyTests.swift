@testable import ClawcCompiler
import ClawcPolicy
import ClawcSyntax
import Foundation
import Testing

/// Random rules, tasks and policy pairs against the independent `ReferenceModel`: compiled policies allow nothing
/// their rule's envelope does not, and `diff` says "same access" only when the model agrees on every sampled
/// request. Seeded; replay a failure with `CLAWC_SEED=N`. `CLAWC_PROPERTY_CASES` changes the number of cases:
/// 20,000 of each in a release build (CI runs these suites so, from the `Soundness` package), 2,000 in a debug build,
/// which is ten times slower.
@Suite struct ModelPropertyTests {
    #if DEBUG
    static let defaultCases = 2_000
    #else
    static let defaultCases = 20_000
    #endif
    static let cases = ProcessInfo.processInfo.environment["CLAWC_PROPERTY_CASES"].flatMap { Int($0) } ?? defaultCases

    struct Template {
        var actions: [String]
        var resources: [String]
        var narrow: Bool
    }

    struct RandomRule {
        var text: String
        var grants: [Template]
        var bucketMatch: String?
        var bucketOneOf: [String]?
        var regionMatch: String?
    }

    static func randomRule(_ rng: inout SplitMix64) -> RandomRule {
        var grants: [Template] = []
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            if Bool.random(using: &rng) {
                let bucket = ["acme-1", "acme-*", "{bucket}", "acme-?"].randomElement(using: &rng) ?? "acme-1"
                let keys = ["*", "*.log", "x/*", "{task.id}/*", "a?c*", "*:*", "x/*.log"].shuffled(using: &rng).prefix(Int.random(in: 1...2, using: &rng))
                let actions = [["s3:GetObject"], ["s3:PutObject"], ["s3:GetObject", "s3:PutObject"]].randomElement(using: &rng) ?? []
                grants.append(Template(actions: actions, resources: keys.map { "arn:aws:s3:::\(bucket)/\($0)" }, narrow: Bool.random(using: &rng)))
            } else {
                let region = ["us-east-1", "us-*", "*", "{region}"].randomElement(using: &rng) ?? "*"
                let account = ["123456789012", "123456789012", "*"].randomElement(using: &rng) ?? "123456789012"
                let names = ["/acme/*", "/acme/app", "*", "/acme/{task.id}", "/acme/?pp*"].shuffled(using: &rng).prefix(Int.random(in: 1...2, using: &rng))
                let actions = [["logs:DescribeLogStreams"], ["logs:FilterLogEvents"], ["logs:DescribeLogStreams", "logs:FilterLogEvents", "logs:GetLogGroupFields"]].randomElement(using: &rng) ?? []
                grants.append(Template(
                    actions: actions, resources: names.map { "arn:aws:logs:\(region):\(account):log-group:\($0)" }, narrow: Bool.random(using: &rng)))
            }
        }
        let bucketMatch = ["acme-*", "acme-?", nil].randomElement(using: &rng) ?? nil
        let bucketOneOf: [String]? = bucketMatch == nil && Bool.random(using: &rng) ? ["acme-1", "acme-2"] : nil
        let regionMatch = ["us-*", nil].randomElement(using: &rng) ?? nil
        let fit = [[], ["allow-resource-collapse"], ["allow-action-wildcards"], ["allow-action-wildcards", "allow-resource-collapse"]]
            .randomElement(using: &rng) ?? []
        var text = "purpose: p\n"
        if !fit.isEmpty { text += "fit: [\(fit.joined(separator: ", "))]\n" }
        text += "params:\n"
        if let bucketMatch { text += "  bucket: {match: \"\(bucketMatch)\"}\n" }
        else if let bucketOneOf { text += "  bucket: {oneOf: [\(bucketOneOf.joined(separator: ", "))]}\n" }
        else { text += "  bucket: {}\n" }
        text += regionMatch.map { "  region: {match: \"\($0)\"}\n" } ?? "  region: {}\n"
        text += "grants:\n"
        for grant in grants {
            text += "  - actions: [\(grant.actions.joined(separator: ", "))]\n"
            text += "    resources: [\(grant.resources.map { "\"\($0)\"" }.joined(separator: ", "))]\n"
            if grant.narrow { text += "    narrow: targets\n" }
        }
        return RandomRule(text: text, grants: grants, bucketMatch: bucketMatch, bucketOneOf: bucketOneOf, regionMatch: regionMatch)
    }

    static let hostileTags = [
        "acme-1", "acme-2", "acme-2:999999999999:x", "us-east-1", "us-east-1:999999999999:log-group:y", "eu-west-1",
        "acme-x", "us-west-2",
    ]
    static let targetPool = [
        "arn:aws:s3:::acme-1/x/a.log", "arn:aws:s3:::acme-1/*", "arn:aws:s3:::acme-1/x/*", "arn:aws:s3:::acme-2/abc.log",
        "arn:aws:s3:::acme-1/a:999999999999:b.log", "arn:aws:s3:::acme-*/x", "arn:aws:s3:::acme-1/t-1/*",
        "arn:aws:logs:us-east-1:123456789012:log-group:/acme/app", "arn:aws:logs:us-east-1:123456789012:log-group:/acme/*",
        "arn:aws:logs:us-east-1:999999999999:log-group:x:123456789012:log-group:/acme/y", "arn:aws:logs:us-e*:123456789012:log-group:/acme/app",
        "arn:aws:logs:*:123456789012:log-group:/acme/app", "arn:aws:logs:us-*:123456789012:log-group:/acme/t-1",
        "arn:aws:logs:eu-west-1:123456789012:log-group:/acme/app", "arn:aws:logs:us-east-1:123456789012:log-group:/acme/?pp",
        "arn:aws:logs:us-east-1:*:log-group:/acme/app", "arn:aws:logs:us-east-1:123456789012:log-group:/acme/t-1",
    ]
    static let requestActions = ["s3:GetObject", "s3:PutObject", "s3:GetObjectAcl", "s3:PutObjectAcl", "logs:DescribeLogStreams", "logs:FilterLogEvents", "logs:GetLogGroupFields", "logs:GetLogRecord", "logs:DescribeLogGroups"]

    /// A target made from a pattern: each wildcard kept or replaced by a plain piece.
    static func benignInstance(of pattern: String, _ rng: inout SplitMix64) -> String {
        var out = ""
        for scalar in pattern.unicodeScalars {
            switch scalar {
            case "*": out += ["*", "x", "app", "a.log", "x/b.log", ""].randomElement(using: &rng) ?? ""
            case "?": out += ["?", "p", "1"].randomElement(using: &rng) ?? "p"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// The rule's envelope as the model reads it: each template with every slot replaced by all it may take.
    static func envelope(_ rule: RandomRule) -> Policy {
        func options(_ slot: String) -> [String] {
            switch slot {
            case "bucket": rule.bucketMatch.map { [$0] } ?? rule.bucketOneOf ?? ["*"]
            case "region": [rule.regionMatch ?? "*"]
            default: ["*"]
            }
        }
        return Policy(statements: rule.grants.map { grant in
            var resources: [String] = []
            for template in grant.resources {
                var results = [""]
                var rest = Substring(template)
                while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
                    let literal = String(rest[..<open])
                    let name = String(rest[rest.index(after: open)..<close])
                    results = results.flatMap { prefix in options(name).map { prefix + literal + $0 } }
                    rest = rest[rest.index(after: close)...]
                }
                resources += results.map { $0 + rest }
            }
            return Statement(actions: grant.actions, resources: resources)
        })
    }

    @Test func compiledPoliciesStayInsideTheirRuleOnSampledRequests() throws {
        let seed = propertySeed(0x5EED_11)
        var rng = SplitMix64(seed: seed)
        var compiled = 0, requests = 0
        var refusals: [String: Int] = [:]
        for round in 0..<Self.cases {
            let rule = Self.randomRule(&rng)
            var task = "taskId: t-1\npurpose: p\ntags:\n"
            let hostile = Int.random(in: 0..<3, using: &rng) == 0
            let bucket = hostile ? Self.hostileTags.randomElement(using: &rng) ?? "x" : ["acme-1", "acme-2"].randomElement(using: &rng) ?? "acme-1"
            let region = hostile ? Self.hostileTags.randomElement(using: &rng) ?? "x" : ["us-east-1", "us-west-2"].randomElement(using: &rng) ?? "us-east-1"
            if Int.random(in: 0..<8, using: &rng) > 0 { task += "  bucket: \"\(bucket)\"\n" }
            if Int.random(in: 0..<8, using: &rng) > 0 { task += "  region: \"\(region)\"\n" }
            task += "  none: x\ntargetResources:\n"
            // Targets: some from a pool of hostile ones, most made from the narrowed grants' own patterns.
            for _ in 0..<Int.random(in: 0...1, using: &rng) { task += "  - \"\(Self.targetPool.randomElement(using: &rng) ?? "*")\"\n" }
            for grant in rule.grants where grant.narrow {
                for template in grant.resources.shuffled(using: &rng).prefix(Int.random(in: 0...2, using: &rng)) {
                    let filled = template.replacingOccurrences(of: "{bucket}", with: bucket).replacingOccurrences(of: "{region}", with: region)
                        .replacingOccurrences(of: "{task.id}", with: "t-1")
                    task += "  - \"\(Self.benignInstance(of: filled, &rng))\"\n"
                }
            }
            for i in 0..<(Int.random(in: 0..<5, using: &rng) == 0 ? 14 : 0) { task += "  - \"arn:aws:s3:::acme-1/x/generated-\(i).log\"\n" }
            let maxChars = [2048, 400, 250].randomElement(using: &rng) ?? 2048
            let context = "seed \(seed) round \(round) (replay with CLAWC_SEED=\(seed)):\n\(rule.text)---\n\(task)"

            let ruleSource = try YAMLSource.parse(data: Data(rule.text.utf8), displayPath: "rules/p.yaml").get()
            guard let parsedRule = SyntaxReader.rule(ruleSource).0 else {
                Issue.record("generated rule does not parse: \(context)")
                continue
            }
            let taskSource = try YAMLSource.parse(data: Data(task.utf8), displayPath: "task.yaml").get()
            guard let parsedTask = SyntaxReader.task(taskSource).0 else { continue }
            let outcome = Compiler.compile(
                ruleSet: RuleSet(rules: [parsedRule], settings: Settings()), task: parsedTask, catalog: Repo.catalog, maxChars: maxChars)
            guard let json = outcome.json else {
                #expect(outcome.diagnostics.hasErrors, "no policy and no error: \(context)")
                for code in Set(outcome.codes) { refusals[code, default: 0] += 1 }
                #expect(!outcome.codes.contains("unproven-policy"), "the final proof refused: \(outcome.rendered)\(context)")
                continue
            }
            compiled += 1
            let policy = try PolicyParser.parse(Data(json.utf8))
            let envelope = Self.envelope(rule)
            var samples = Self.targetPool.filter { !$0.contains("*") && !$0.contains("?") }
            for resource in policy.statements.flatMap(\.resources) + envelope.statements.flatMap(\.resources) {
                samples += ReferenceModel.instances(of: resource, &rng)
            }
            for resource in samples {
                for action in Self.requestActions {
                    requests += 1
                    // The author's meaning: field by field.
                    if ReferenceModel.allows(policy, action: action, resource: resource) {
                        #expect(ReferenceModel.allows(envelope, action: action, resource: resource),
                                "the policy allows (\(action), \(resource)) outside the rule: \(json)\(context)")
                    }
                    // The widest reading: a policy pattern may reach no further than the rule's own patterns do.
                    if ReferenceModel.allows(policy, action: action, resource: resource, reading: .wholeString) {
                        #expect(ReferenceModel.allows(envelope, action: action, resource: resource, reading: .wholeString),
                                "read as one string, the policy allows (\(action), \(resource)) outside the rule: \(json)\(context)")
                    }
                }
            }
        }
        #expect(compiled > Self.cases / 10, "seed \(seed): too few random cases compiled (\(compiled) of \(Self.cases)); refusals: \(refusals)")
        #expect(requests > Self.cases, "seed \(seed): too few requests sampled (\(requests))")
    }

    static func randomResource(_ rng: inout SplitMix64) -> String {
        let pieces = ["x", "y", "*", "?", ":", "1"]
        func part(_ n: ClosedRange<Int>) -> String {
            String((0..<Int.random(in: n, using: &rng)).map { _ in Character(pieces.randomElement(using: &rng) ?? "x") })
        }
        switch Int.random(in: 0..<4, using: &rng) {
        case 0: return part(1...4)
        case 1: return "arn:aws:s3:::" + part(1...4)
        default:
            let region = ["us-east-1", "us-*", "*", "u?-east-1"].randomElement(using: &rng) ?? "*"
            let account = ["1", "2", "*", "1*"].randomElement(using: &rng) ?? "1"
            return "arn:aws:logs:\(region):\(account):" + part(1...4)
        }
    }

    static func randomPolicy(_ rng: inout SplitMix64) -> Policy {
        Policy(statements: (0..<Int.random(in: 1...3, using: &rng)).map { _ in
            var conditions = ConditionBlock()
            if Int.random(in: 0..<4, using: &rng) == 0 {
                conditions.add("StringEquals", ["k1", "k2"].randomElement(using: &rng) ?? "k1", [["v1"], ["v2"], ["v1", "v2"]].randomElement(using: &rng) ?? [])
            }
            return Statement(
                actions: Array(["a:Get", "a:Put", "a:*", "b:List"].shuffled(using: &rng).prefix(Int.random(in: 1...2, using: &rng))),
                resources: (0..<Int.random(in: 1...3, using: &rng)).map { _ in randomResource(&rng) }, conditions: conditions)
        })
    }

    @Test func diffSaysSameOnlyWhenTheModelAgrees() {
        let seed = propertySeed(0xD1FF)
        var rng = SplitMix64(seed: seed)
        var same = 0
        for round in 0..<Self.cases {
            let p = Self.randomPolicy(&rng)
            // Often a near copy, so that "same" answers are common enough to test.
            var q = Int.random(in: 0..<2, using: &rng) == 0 ? p : Self.randomPolicy(&rng)
            if q == p, let i = q.statements.indices.randomElement(using: &rng) {
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: q.statements[i].resources.append(Self.randomResource(&rng))
                case 1: q.statements[i].resources.shuffle(using: &rng)
                default: q.statements.append(Statement(actions: ["a:Get"], resources: [Self.randomResource(&rng)]))
                }
            }
            let result = AccessDiff.diff(old: p, new: q) { [$0] }
            guard result.isEmpty else { continue }
            same += 1
            var samples: [String] = []
            for resource in (p.statements + q.statements).flatMap(\.resources) { samples += ReferenceModel.instances(of: resource, &rng, count: 3) }
            let contexts: [[String: String]] = [[:], ["k1": "v1"], ["k2": "v2"], ["k1": "v2", "k2": "v1"]]
            for resource in samples {
                for action in ["a:Get", "a:Put", "b:List", "a:Other"] {
                    for context in contexts {
                        let a = ReferenceModel.allows(p, action: action, resource: resource, context: context)
                        let b = ReferenceModel.allows(q, action: action, resource: resource, context: context)
                        #expect(a == b, "seed \(seed) round \(round): diff says same, but (\(action), \(resource), \(context)) is \(a) vs \(b):\n\(p)\n\(q)")
                    }
                }
            }
        }
        #expect(same > Self.cases / 20, "seed \(seed): too few 'same' answers (\(same)) for the property to mean much")
    }
}
