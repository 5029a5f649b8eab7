import ClawcCompiler
import ClawcPolicy
import Foundation
import Testing

/// The containment prover against a brute-force evaluator of Allow-only policies, on seeded random cases.
@Suite struct ProverTests {
    static let actions = ["a:Get", "a:Put", "b:List"]
    static let keys = ["k1", "k2"]
    static let values = ["v1", "v2"]

    struct Request {
        var action: String
        var resource: String
        var context: [String: String]
    }

    /// IAM evaluation for Allow-only policies with StringEquals/StringLike conditions.
    static func allows(_ policy: Policy, _ request: Request) -> Bool {
        policy.statements.contains { s in
            s.actions.contains { GrantContainment.actionCovers($0, request.action) }
                && s.resources.contains { Glob($0).matches(request.resource) }
                && s.conditions.triples.allSatisfy { op, key, values in
                    guard let value = request.context[key] else { return false }
                    return op == "StringLike" ? values.contains { Glob($0).matches(value) } : values.contains(value)
                }
        }
    }

    static func randomPattern(_ rng: inout SplitMix64) -> String {
        String((0..<Int.random(in: 1...4, using: &rng)).map { _ in ["x", "y", "*", "?"].randomElement(using: &rng) ?? "x" })
    }

    static func randomPolicy(_ rng: inout SplitMix64) -> Policy {
        Policy(statements: (0..<Int.random(in: 1...3, using: &rng)).map { _ in
            var conditions = ConditionBlock()
            if Int.random(in: 0..<3, using: &rng) == 0 {
                let values = Array(Self.values.shuffled(using: &rng).prefix(Int.random(in: 1...2, using: &rng)))
                conditions.add("StringEquals", keys.randomElement(using: &rng) ?? "k1", values)
            }
            return Statement(
                actions: Array(actions.shuffled(using: &rng).prefix(Int.random(in: 1...2, using: &rng))),
                resources: (0..<Int.random(in: 1...2, using: &rng)).map { _ in randomPattern(&rng) },
                conditions: conditions)
        })
    }

    static func randomRequest(_ rng: inout SplitMix64) -> Request {
        var context: [String: String] = [:]
        for key in keys where Bool.random(using: &rng) { context[key] = values.randomElement(using: &rng) }
        let resource = String((0..<Int.random(in: 0...5, using: &rng)).map { _ in ["x", "y", "z"].randomElement(using: &rng) ?? "x" })
        return Request(action: actions.randomElement(using: &rng) ?? "a:Get", resource: resource, context: context)
    }

    /// 2,000 random policy pairs, 50 random requests each: 100,000 (policy, request) checks.
    @Test func agreesWithBruteForceEvaluation() {
        let seed = propertySeed(424242)
        var rng = SplitMix64(seed: seed)
        var contained = 0, refuted = 0
        for round in 0..<2000 {
            let p = Self.randomPolicy(&rng), q = Self.randomPolicy(&rng)
            let verdict = GrantContainment.firstUncovered(p.statements, in: q.statements)
            for _ in 0..<50 {
                let request = Self.randomRequest(&rng)
                if verdict == nil, Self.allows(p, request) {
                    #expect(Self.allows(q, request), "seed \(seed) round \(round): prover said contained, but \(request) is allowed by P only")
                }
            }
            guard let verdict else { contained += 1; continue }
            refuted += 1
            // A counterexample the prover names must be real when conditions play no part.
            let statement = p.statements[verdict.statement]
            if let example = verdict.example, statement.conditions.isEmpty {
                let request = Request(action: verdict.action, resource: example, context: [:])
                #expect(Self.allows(p, request) && !Self.allows(q, request), "seed \(seed) round \(round): false counterexample \(verdict)")
            }
        }
        #expect(contained > 50 && refuted > 50, "seed \(seed): the generator must exercise both answers (\(contained) / \(refuted))")
    }

    @Test func reflexiveAndTransitive() {
        let seed = propertySeed(99)
        var rng = SplitMix64(seed: seed)
        for round in 0..<500 {
            let p = Self.randomPolicy(&rng), q = Self.randomPolicy(&rng), r = Self.randomPolicy(&rng)
            #expect(GrantContainment.firstUncovered(p.statements, in: p.statements) == nil, "seed \(seed) round \(round): not reflexive")
            if GrantContainment.firstUncovered(p.statements, in: q.statements) == nil,
                GrantContainment.firstUncovered(q.statements, in: r.statements) == nil {
                #expect(GrantContainment.firstUncovered(p.statements, in: r.statements) == nil, "seed \(seed) round \(round): not transitive")
            }
        }
    }

    @Test func diffOfAPolicyWithItselfIsEmpty() {
        let seed = propertySeed(5)
        var rng = SplitMix64(seed: seed)
        for _ in 0..<300 {
            let p = Self.randomPolicy(&rng)
            #expect(AccessDiff.diff(old: p, new: p) { [$0] }.isEmpty, "seed \(seed)")
        }
    }

    @Test func changingAnActionInARuleFailsCheckWithTheAccessDiff() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let rules = dir.appendingPathComponent("rules")
        try FileManager.default.copyItem(atPath: Repo.path("rules"), toPath: rules.path)
        let clean = GoldenCheck.run(rulesDirectory: rules.path, goldenDirectory: Repo.path("golden"), update: false, catalog: Repo.catalog)
        #expect(!clean.diagnostics.hasErrors, "\(DiagnosticRendererProxy.render(clean))")
        let file = rules.appendingPathComponent("inventory-query.yaml")
        let text = try String(contentsOf: file, encoding: .utf8).replacingOccurrences(of: "ec2:DescribeTags", with: "ec2:DescribeVolumes")
        try text.write(to: file, atomically: true, encoding: .utf8)
        let changed = GoldenCheck.run(rulesDirectory: rules.path, goldenDirectory: Repo.path("golden"), update: false, catalog: Repo.catalog)
        let rendered = DiagnosticRendererProxy.render(changed)
        #expect(changed.diagnostics.hasErrors)
        #expect(rendered.contains("note: adds ec2:DescribeVolumes  *"), "\(rendered)")
        #expect(rendered.contains("note: removes ec2:DescribeTags  *"), "\(rendered)")
    }

    @Test func aPolicyOutsideItsRuleIsNamedWithACounterexample() {
        let inner = [Statement(actions: ["s3:GetObject"], resources: ["arn:aws:s3:::acme-logs-1*"])]
        let outer = [Statement(actions: ["s3:GetObject"], resources: ["arn:aws:s3:::acme-logs-12*"])]
        let uncovered = GrantContainment.firstUncovered(inner, in: outer)
        #expect(uncovered?.example.map { !$0.hasPrefix("arn:aws:s3:::acme-logs-12") && $0.hasPrefix("arn:aws:s3:::acme-logs-1") } == true)
    }
}

import ClawcDiagnostics
enum DiagnosticRendererProxy {
    static func render(_ report: GoldenCheck.Report) -> String { DiagnosticRenderer.render(report.diagnostics) }
}
