import ClawcSyntax
import Testing
@testable import ClawcPolicy

@Suite struct GlobTests {
    @Test(arguments: [
        ("arn:aws:s3:::acme-logs-*", "arn:aws:s3:::acme-logs-12*", true),
        ("arn:aws:s3:::acme-logs-12*", "arn:aws:s3:::acme-logs-1*", false),
        ("?*", "*?", true),
        ("*?", "?*", true),
        ("*", "", true),
        ("?*", "*", false),
        ("a*b*c", "a*bc", true),
        ("a*bc", "a*b*c", false),
        ("arn:*:s3:::*/*", "arn:aws:s3:::bucket/*", true),
        ("arn:aws:s3:::bucket", "arn:aws:s3:::bucket/*", false),
        ("a?c", "abc", true),
        ("abc", "a?c", false),
    ])
    func containment(outer: String, inner: String, expected: Bool) {
        #expect(Glob(outer).contains(Glob(inner)) == expected)
    }

    @Test func counterexampleIsReal() throws {
        let outer = Glob("arn:aws:s3:::acme-logs-12*"), inner = Glob("arn:aws:s3:::acme-logs-1*")
        let witness = try #require(outer.counterexample(in: inner))
        #expect(inner.matches(witness))
        #expect(!outer.matches(witness))
    }

    @Test func overlap() {
        #expect(Glob("arn:*:s3:::*/*").overlaps(Glob("arn:aws:s3:::acme-*")))
        #expect(!Glob("arn:*:s3:::*/*").overlaps(Glob("arn:aws:s3:::bucket")))
        #expect(Glob("a*").overlaps(Glob("*b")))
        #expect(!Glob("a?").overlaps(Glob("b*")))
    }

    /// Random patterns over a tiny alphabet, checked against brute-force enumeration of short strings.
    @Test func agreesWithBruteForce() {
        let seed = propertySeed(20261129)
        var rng = SplitMix64(seed: seed)
        let symbols: [Character] = ["a", "b", "*", "?"]
        func pattern() -> String { String((0..<Int.random(in: 0...4, using: &rng)).map { _ in symbols.randomElement(using: &rng) ?? "a" }) }
        var words = [""]
        var frontier = [""]
        for _ in 0..<6 {
            frontier = frontier.flatMap { w in ["a", "b", "c"].map { w + $0 } }
            words += frontier
        }
        for round in 0..<400 {
            let p = pattern(), q = pattern()
            let outer = Glob(p), inner = Glob(q)
            // Brute force: any word up to length 6 in inner but not outer refutes containment.
            let refuted = words.contains { inner.matchesByAutomaton($0) && !outer.matchesByAutomaton($0) }
            let answer = outer.contains(inner)
            #expect(answer == !refuted, "seed \(seed) round \(round): `\(p)` ⊇ `\(q)`: prover \(answer), brute force \(!refuted)")
            let overlapBrute = words.contains { inner.matchesByAutomaton($0) && outer.matchesByAutomaton($0) }
            #expect(outer.overlaps(inner) == overlapBrute, "seed \(seed) round \(round): overlap `\(p)` `\(q)`")
            if let witness = outer.counterexample(in: inner) {
                #expect(inner.matches(witness) && !outer.matches(witness), "seed \(seed): bad witness `\(witness)`")
            }
        }
    }

    /// A pattern without wildcards matches only its own scalars: a canonically equivalent string spelled with
    /// other scalars (`é` composed and decomposed), which `String`'s `==` calls equal, is not matched or covered.
    @Test func literalPatternsCompareScalarsNotCanonicalEquivalence() {
        let composed = "arn:aws:s3:::caf\u{E9}", decomposed = "arn:aws:s3:::cafe\u{301}"
        #expect(composed == decomposed, "Swift's String equality is canonical equivalence")
        #expect(!Glob(composed).matches(decomposed))
        #expect(!Glob(composed).contains(Glob(decomposed)))
        #expect(!Glob(composed).overlaps(Glob(decomposed)))
        #expect(!ResourcePattern(composed).contains(ResourcePattern(decomposed)))
        #expect(Glob(composed).matches(composed) && Glob(decomposed).matches(decomposed))
        // Nor is a condition value: a policy that asks for the decomposed tag is not inside a rule that names the
        // composed one, under either reading of the values.
        let rule = ConditionBlock(["StringEquals": ["aws:ResourceTag/team": ["caf\u{E9}"]]])
        let policy = ConditionBlock(["StringEquals": ["aws:ResourceTag/team": ["cafe\u{301}"]]])
        #expect(!GrantContainment.implies(policy, rule, .exact))
        #expect(!GrantContainment.implies(policy, rule, .outerIsPattern))
        #expect(GrantContainment.implies(rule, rule, .exact))
    }

    /// The product-automaton overlap agrees with the subset search on longer patterns over a wider alphabet.
    @Test func overlapAgreesWithTheSubsetSearch() {
        let seed = propertySeed(41)
        var rng = SplitMix64(seed: seed)
        let symbols: [Character] = ["a", "b", ":", "/", "*", "*", "?"]
        func pattern() -> String { String((0..<Int.random(in: 0...12, using: &rng)).map { _ in symbols.randomElement(using: &rng) ?? "a" }) }
        for _ in 0..<3000 {
            let p = Glob(pattern()), q = Glob(pattern())
            #expect(p.overlaps(q) == p.overlapsBySubsets(q), "seed \(seed): `\(p)` and `\(q)`")
            #expect(p.overlaps(q) == q.overlaps(p), "seed \(seed): overlap is symmetric for `\(p)` and `\(q)`")
        }
    }

    /// The two independent matchers agree (backtracking, used everywhere, and the automaton the prover searches).
    @Test func matchersAgree() {
        let seed = propertySeed(7)
        var rng = SplitMix64(seed: seed)
        for _ in 0..<2000 {
            let p = String((0..<Int.random(in: 0...5, using: &rng)).map { _ in ["a", "b", "*", "?"].randomElement(using: &rng) ?? "a" })
            let w = String((0..<Int.random(in: 0...6, using: &rng)).map { _ in ["a", "b", "c"].randomElement(using: &rng) ?? "a" })
            #expect(Glob(p).matches(w) == Glob(p).matchesByAutomaton(w), "seed \(seed): `\(p)` vs `\(w)`")
        }
    }
}
