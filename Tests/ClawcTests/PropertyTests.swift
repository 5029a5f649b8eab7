import ClawcCompiler
import ClawcDiagnostics
import ClawcPolicy
import ClawcSyntax
import Foundation
import Testing

/// Random tasks against the example rules: every emitted policy lies inside its rule's envelope and fits.
@Suite struct PropertyTests {
    static let ruleSet: RuleSet? = RuleSet.load(directory: Repo.path("rules"), displayPath: "rules").0

    /// A random task: sometimes well-formed, sometimes hostile, always a valid file.
    static func randomTask(_ rng: inout SplitMix64) -> String {
        let purposes = ["log-analysis", "inventory-query", "config-audit"]
        let tagValues = [
            "acme-logs-1", "acme-logs-2x", "acme-logs-", "acme-logs-*", "acme-logs-1/../x", "other", "us-east-1", "eu-west-1",
            "config-aggregator-a", "config-aggregator-", "${aws:username}", "x?", "a b", "acme-logs-9:z",
        ]
        let targets = [
            "arn:aws:logs:us-east-1:123456789012:log-group:/acme/app:*", "arn:aws:logs:*:123456789012:log-group:/acme/*",
            "arn:aws:logs:us-east-1:123456789012:log-group:/acme*", "arn:aws:logs:us-east-1:999999999999:log-group:/acme/x",
            "arn:aws:s3:::acme-logs-1/*", "arn:aws:s3:::acme-logs-1/report?.csv", "arn:aws:s3:::acme-logs-*", "*",
            "arn:aws:logs:eu-west-1:123456789012:log-group:/acme/p?y:*", "arn:aws:logs:us-east-1:123456789012:log-group:/acme/a",
        ]
        let purpose = purposes.randomElement(using: &rng) ?? "log-analysis"
        var text = "taskId: t-\(rng.next() % 100_000)\npurpose: \(purpose)\ntags:\n"
        for name in ["bucket", "region", "aggregator"] where Bool.random(using: &rng) {
            text += "  \(name): \"\(tagValues.randomElement(using: &rng) ?? "x")\"\n"
        }
        text += "  none: x\ntargetResources:\n"
        for _ in 0..<Int.random(in: 0...4, using: &rng) {
            text += "  - \"\(targets.randomElement(using: &rng) ?? "*")\"\n"
        }
        for _ in 0..<Int.random(in: 0...30, using: &rng) where Bool.random(using: &rng) {
            text += "  - \"arn:aws:logs:us-east-1:123456789012:log-group:/acme/generated-\(rng.next() % 1000):*\"\n"
        }
        return text
    }

    @Test func policiesStayInsideTheirEnvelopeAndFit() throws {
        let ruleSet = try #require(Self.ruleSet)
        let seed = propertySeed(0xC1A3C)
        var rng = SplitMix64(seed: seed)
        var compiled = 0
        for round in 0..<300 {
            let text = Self.randomTask(&rng)
            let maxChars = [2048, 600, 400].randomElement(using: &rng) ?? 2048
            let source = try YAMLSource.parse(data: Data(text.utf8), displayPath: "task.yaml").get()
            guard let task = SyntaxReader.task(source).0 else { continue }
            let outcome = Compiler.compile(ruleSet: ruleSet, task: task, catalog: Repo.catalog, maxChars: maxChars)
            let context = "seed \(seed) round \(round) (replay with CLAWC_SEED=\(seed)):\n\(text)"
            guard let json = outcome.json, let ir = outcome.ir, let rule = outcome.rule else {
                #expect(outcome.diagnostics.hasErrors, "no policy and no error: \(context)")
                continue
            }
            compiled += 1
            #expect(json.count - 1 <= maxChars, "policy over the limit: \(context)")
            let (lowered, _) = RuleLowering(catalog: Repo.catalog).lower(rule)
            let envelope = Envelope.statements(for: rule, lowered: lowered)
            let outside = Compiler.grantsWithin(ir.policy.statements, envelope, catalog: Repo.catalog, values: .outerIsPattern)
            #expect(outside == nil, "grant \(outside?.description ?? "") outside the envelope: \(context)")
            // The emitted JSON is the IR: re-read it and compare.
            let reparsed = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
            #expect((reparsed?["Statement"] as? [Any])?.count == ir.statements.count, "\(context)")
        }
        #expect(compiled > 30, "seed \(seed): too few random tasks compiled (\(compiled)) for the property to mean much")
    }
}
