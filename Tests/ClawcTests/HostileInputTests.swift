import ClawcCompiler
import ClawcDiagnostics
import ClawcRuntime
import ClawcSyntax
import Foundation
import Testing

/// Inputs written to crash, stall or forge clawc's output, and rule mistakes that used to compile.
/// The corpus (`Corpus/`) pins the exact messages; these tests pin the properties behind them.
@Suite struct HostileInputTests {
    static let task = "taskId: t-42\npurpose: log-analysis\n"

    /// A rule file `log-analysis.yaml` with `params` (lines, or nothing) and one grant's lines.
    static func rule(_ grant: String, params: String = "") -> [String: String] {
        ["log-analysis.yaml": "purpose: log-analysis\n\(params)grants:\n\(grant)"]
    }

    // MARK: 1. Durations: range-checked where they are read; lifetime arithmetic that cannot trap

    @Test(arguments: ["9223372036854775807", "9223372036854775808", "99999999999999999999", "99999999h", "2d", "129601", "36h1s"])
    func hugeEstimatesAreLocatedErrors(estimate: String) throws {
        let outcome = try compile(rules: ["r.yaml": "purpose: log-analysis\ngrants:\n  - actions: [s3:GetObject]\n    resources: [\"arn:aws:s3:::b/*\"]\n"],
                                  task: "taskId: t-1\npurpose: log-analysis\nestimatedDuration: \(estimate)\n")
        #expect(outcome.json == nil)
        #expect(outcome.codes == ["invalid-duration"], "\(outcome.rendered)")
        #expect(outcome.rendered.hasPrefix("task.yaml:3:20: error: `estimatedDuration` `\(estimate)` is longer than 36h [invalid-duration]"), "\(outcome.rendered)")
    }

    @Test(arguments: ["129600", "36h", "1d12h", "0", "90s"])
    func estimatesUpToThirtySixHoursAreAccepted(estimate: String) throws {
        let outcome = try compile(rules: ["r.yaml": "purpose: log-analysis\ngrants:\n  - actions: [s3:GetObject]\n    resources: [\"arn:aws:s3:::b/*\"]\n"],
                                  task: "taskId: t-1\npurpose: log-analysis\nestimatedDuration: \(estimate)\n")
        #expect(outcome.json != nil, "\(outcome.rendered)")
    }

    @Test func ruleLifetimesPastTwelveHoursOrPastIntAreLocated() throws {
        for text in ["13h", "99999999999999999999", "9223372036854775807"] {
            let outcome = try compile(rules: ["r.yaml": "purpose: log-analysis\nlifetime: {max: \(text)}\ngrants:\n  - actions: [s3:GetObject]\n    resources: [\"arn:aws:s3:::b/*\"]\n"],
                                      task: "taskId: t-1\npurpose: log-analysis\n")
            #expect(outcome.codes == ["invalid-lifetime"], "\(outcome.rendered)")
            #expect(outcome.rendered.contains("r.yaml:2:17: error: `lifetime.max` `\(text)` is longer than 12h"), "\(outcome.rendered)")
        }
    }

    @Test func durationTextNeverTraps() {
        #expect(DurationText.parse("9223372036854775807") == .success(Int.max))
        #expect(DurationText.parse("9223372036854775808") == .failure(.overflow))
        #expect(DurationText.parse("2562047788015216h") == .failure(.overflow))
        #expect(DurationText.parse("106751991167300d1d") == .failure(.overflow))
        #expect(DurationText.parse("99999999999999999999x") == .failure(.notADuration))
        #expect(DurationText.parse("1h30m") == .success(5400))
        #expect(DurationText.parse("99999999h") == .success(359_999_996_400))
        #expect(DurationText.parse("-5") == .failure(.notADuration))
        #expect(DurationText.parse("") == .failure(.notADuration))
        #expect(DurationText.parse("h") == .failure(.notADuration))
        #expect(DurationText.parse("1h30") == .failure(.notADuration))
        #expect(DurationText.seconds("10m") == 600)
    }

    /// Defence in depth: whatever a caller passes, the lifetime is chosen without overflowing.
    @Test func lifetimeArithmeticSaturates() throws {
        #expect(LifetimePolicy.margin(for: Int.max) == Int.max / 4 + 1)
        #expect(LifetimePolicy.margin(for: Int.min) == 30)
        #expect(LifetimePolicy.margin(for: 1200) == 300)
        #expect(LifetimePolicy.margin(for: 1201) == 301)
        let choice = try LifetimePolicy.choose(estimated: Int.max, ruleDefault: nil, ruleMax: 3600, roleMax: nil).get()
        #expect(choice.seconds == 3600)
        let negative = try LifetimePolicy.choose(estimated: Int.min, ruleDefault: nil, ruleMax: 3600, roleMax: nil).get()
        #expect(negative.seconds == 900)
    }

    // MARK: 2. Did-you-mean in bounded time

    /// The time to compile, and the codes; the bound is generous so a loaded machine does not flake, and the
    /// quadratic version this replaces took minutes on these inputs.
    static func timed(rules: [String: String], task: String) throws -> (Duration, [String]) {
        let clock = ContinuousClock()
        var outcome: Compiler.Outcome?
        let elapsed = try clock.measure { outcome = try compile(rules: rules, task: task) }
        return (elapsed, outcome?.codes ?? [])
    }

    static let huge = String(repeating: "x", count: 200_000)

    @Test func hugeUnknownServiceAnswersQuickly() throws {
        let (elapsed, codes) = try Self.timed(
            rules: Self.rule("  - actions: [\"\(Self.huge):GetObject\"]\n    resources: [\"arn:aws:s3:::b/*\"]\n"), task: Self.task)
        #expect(codes == ["unknown-service"])
        #expect(elapsed < .seconds(10), "took \(elapsed)")  // a hang guard: before the fix, minutes
    }

    @Test func hugeUnknownActionAnswersQuickly() throws {
        let (elapsed, codes) = try Self.timed(
            rules: Self.rule("  - actions: [\"ec2:\(Self.huge)\"]\n    resources: [\"*\"]\n"), task: Self.task)
        #expect(codes == ["unknown-action"])
        #expect(elapsed < .seconds(10), "took \(elapsed)")  // a hang guard: before the fix, minutes
    }

    @Test func hugeUnknownPurposeAnswersQuickly() throws {
        let (elapsed, codes) = try Self.timed(
            rules: Self.rule("  - actions: [s3:GetObject]\n    resources: [\"arn:aws:s3:::b/*\"]\n"),
            task: "taskId: t-1\npurpose: \(Self.huge)\n")
        #expect(codes == ["unknown-purpose"])
        #expect(elapsed < .seconds(10), "took \(elapsed)")  // a hang guard: before the fix, minutes
    }

    @Test func hugeUnknownKeyAnswersQuickly() throws {
        let (elapsed, codes) = try Self.timed(
            rules: Self.rule("  - actions: [s3:GetObject]\n    resources: [\"arn:aws:s3:::b/*\"]\n"),
            task: "taskId: t-1\npurpose: log-analysis\n? \(Self.huge)\n: 1\n")  // explicit: libyaml caps simple keys at 1024
        #expect(codes == ["unknown-key"])
        #expect(elapsed < .seconds(10), "took \(elapsed)")  // a hang guard: before the fix, minutes
    }

    /// A duplicate key at the end of a long one-line flow mapping: the locator once copied the rest of the line
    /// at every comma (minutes for 200 KB).
    @Test func duplicateKeyInALongFlowMappingAnswersQuickly() throws {
        let tags = (0..<20_000).map { "k\($0): v" }.joined(separator: ", ")
        let (elapsed, codes) = try Self.timed(
            rules: Self.rule("  - actions: [s3:GetObject]\n    resources: [\"arn:aws:s3:::b/*\"]\n"),
            task: "taskId: t-1\npurpose: log-analysis\ntags: {\(tags), k0: v}\n")
        #expect(codes == ["duplicate-key"])
        #expect(elapsed < .seconds(10), "took \(elapsed)")  // a hang guard: before the fix, minutes
    }

    @Test func suggestionsStillFindTypos() {
        #expect(Suggestion.closest(to: "s4", in: ["s3", "sqs", "ec2"]) == "s3")
        #expect(Suggestion.closest(to: "GetObjct", in: ["GetObject", "PutObject", "GetObjectAcl"]) == "GetObject")
        #expect(Suggestion.closest(to: "GetObjetc", in: ["GetObject"]) == "GetObject")
        #expect(Suggestion.closest(to: "resorces", in: ["sid", "actions", "resources"]) == "resources")
        #expect(Suggestion.closest(to: "zzzzzzzz", in: ["resources"]) == nil)
        #expect(Suggestion.closest(to: String(repeating: "a", count: 129), in: [String(repeating: "a", count: 129)]) == nil)
    }

    /// The banded distance agrees with the full matrix wherever it answers, and answers whenever the distance
    /// is within its limit.
    @Test func bandedDistanceMatchesTheFullMatrix() {
        func reference(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar]) -> Int {
            if a.isEmpty { return b.count }
            if b.isEmpty { return a.count }
            var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
            for i in 0...a.count { d[i][0] = i }
            for j in 0...b.count { d[0][j] = j }
            for i in 1...a.count {
                for j in 1...b.count {
                    d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
                    if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1) }
                }
            }
            return d[a.count][b.count]
        }
        var rng = SplitMix64(seed: propertySeed(2028))
        let alphabet: [Unicode.Scalar] = ["a", "b", "c"]
        for _ in 0..<3000 {
            let a = (0..<Int.random(in: 0...9, using: &rng)).map { _ in alphabet.randomElement(using: &rng) ?? "a" }
            let b = (0..<Int.random(in: 0...9, using: &rng)).map { _ in alphabet.randomElement(using: &rng) ?? "a" }
            let limit = Int.random(in: 0...4, using: &rng)
            let full = reference(a, b)
            let banded = Suggestion.editDistance(a, b, limit: limit)
            #expect(banded == (full <= limit ? full : nil), "\(a) \(b) limit \(limit): full \(full), banded \(String(describing: banded))")
            #expect(Suggestion.editDistance(a, b) == full)
        }
    }

    // MARK: 3. No forged diagnostics

    static let hostilePurpose = "x\nrules/log-analysis.yaml:1:1: note: rule checked [ok]\r\u{1B}[2K\u{1B}[1A\u{85}\u{2028}\u{2029}\u{202E}\u{2066}\u{7F}\u{9B}end"

    /// Every scalar a terminal or log could act on, except the line feeds that end clawc's own lines.
    static func hostileScalars(in text: String) -> [Unicode.Scalar] {
        text.unicodeScalars.filter { $0 != "\n" && HostileText.isHostile($0) }
    }

    /// Text as the inside of a YAML double-quoted scalar, every hostile scalar as a `\u` escape.
    static func yamlQuoted(_ text: String) -> String {
        text.unicodeScalars.map { scalar in
            if scalar == "\"" || scalar == "\\" { return "\\" + String(scalar) }
            if HostileText.isHostile(scalar) { return String(format: "\\u%04X", scalar.value) }
            return String(scalar)
        }.joined()
    }

    @Test func escapeWritesEveryHostileScalarOut() {
        #expect(HostileText.escape("a\nb\rc\td") == "a\\nb\\rc\\td")
        #expect(HostileText.escape("\u{1B}[31m") == "\\u{1B}[31m")
        #expect(HostileText.escape("\u{0}\u{7F}\u{80}\u{85}\u{9F}") == "\\u{0}\\u{7F}\\u{80}\\u{85}\\u{9F}")
        #expect(HostileText.escape("\u{2028}\u{2029}") == "\\u{2028}\\u{2029}")
        #expect(HostileText.escape("\u{202A}\u{202B}\u{202C}\u{202D}\u{202E}\u{2066}\u{2067}\u{2068}\u{2069}")
                == "\\u{202A}\\u{202B}\\u{202C}\\u{202D}\\u{202E}\\u{2066}\\u{2067}\\u{2068}\\u{2069}")
        #expect(HostileText.escape("plain `text`, é, 日本, \\ stays") == "plain `text`, é, 日本, \\ stays")
        #expect(HostileText.escape("\u{A0}\u{200B}") == "\u{A0}\u{200B}")
        #expect(HostileText.clipped("abcdef", to: 3) == "abc…")
        #expect(HostileText.clipped("abc", to: 3) == "abc")
    }

    @Test func hostilePurposeCannotForgeALine() throws {
        let escapedPurpose = HostileText.escape(Self.hostilePurpose)
        let task = "taskId: t-1\npurpose: \"\(Self.yamlQuoted(Self.hostilePurpose))\"\n"
        let outcome = try compile(rules: Self.rule("  - actions: [s3:GetObject]\n    resources: [\"arn:aws:s3:::b/*\"]\n"), task: task)
        let text = outcome.rendered
        #expect(outcome.codes == ["unknown-purpose"])
        #expect(Self.hostileScalars(in: text).isEmpty, "\(text.unicodeScalars.map { HostileText.isHostile($0) ? HostileText.escaped($0) : String($0) }.joined())")
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.first == "task.yaml:2:10: error: no rule has purpose `\(escapedPurpose)` [unknown-purpose]")
        // Header, source line, caret, help, summary and the empty string after the last newline: the fake
        // `rules/...: note:` stays inside the header, and no other line starts with a location.
        #expect(lines.count == 6, "\(text)")
        #expect(lines.dropFirst().allSatisfy { $0.isEmpty || $0.hasPrefix("    ") || $0.hasPrefix("help: ") || $0 == "clawc: 1 error" }, "\(text)")
    }

    @Test func helpAndNotesAreEscapedToo() {
        let file = SourceFile(path: "t\u{1B}.yaml", text: "a: \u{1B}[31mb\u{202E}c\n")
        let d = Diagnostic.error(
            "x", "message \u{1B}[31m", at: SourceSpan(file: file, start: .init(line: 1, column: 4), length: 5),
            help: "help\nrules/r.yaml:1:1: error: forged [ok]", notes: [.init("note\r\u{9B}2J", at: nil), .init("located\u{2028}note", at: SourceSpan(file: file, start: .init(line: 1, column: 1)))])
        let text = DiagnosticRenderer.render(d)
        #expect(Self.hostileScalars(in: text).isEmpty)
        #expect(text == """
            t\\u{1B}.yaml:1:4: error: message \\u{1B}[31m [x]
                a: ?[31mb?c
                   ^~~~~
            help: help\\nrules/r.yaml:1:1: error: forged [ok]
            note: note\\r\\u{9B}2J
            t\\u{1B}.yaml:1:1: note: located\\u{2028}note
                a: ?[31mb?c
                ^

            """)
    }

    /// GitHub reads one workflow command per line: a value's line break must not end the annotation, and a
    /// value's newline must not pass for the line break clawc puts before `help:`.
    @Test func githubAnnotationsCannotBeForged() {
        let file = SourceFile(path: "task.yaml", text: "purpose: x\n")
        var bag = DiagnosticBag()
        bag.add(.error("unknown-purpose", "no rule has purpose `x\n::error file=rules/a.yaml::forged\r\n::add-mask::secret%0A\u{1B}[1m\u{2028}`",
                       at: SourceSpan(file: file, start: .init(line: 1, column: 10)), help: "did you mean\n::warning::x"))
        let out = DiagnosticFormats.github(bag)
        let lines = out.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 2 && lines[1].isEmpty, "\(out)")
        #expect(!out.contains("\r") && Self.hostileScalars(in: out).isEmpty)
        #expect(out.hasPrefix("::error file=task.yaml,line=1,col=10,title=unknown-purpose::no rule has purpose `x\\n::error file=rules/a.yaml::forged\\r\\n::add-mask::secret%250A\\u{1B}[1m\\u{2028}`%0Ahelp: did you mean\\n::warning::x"), "\(out)")
    }

    @Test func sarifTextIsEscaped() throws {
        let file = SourceFile(path: "task.yaml", text: "purpose: x\n")
        var bag = DiagnosticBag()
        bag.add(.error("unknown-purpose", "purpose `x\n\u{1B}[2K\u{2028}`", at: SourceSpan(file: file, start: .init(line: 1, column: 10))))
        let out = DiagnosticFormats.sarif(bag, toolVersion: "test")
        let log = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        let runs = try #require(log["runs"] as? [[String: Any]])
        let results = try #require(runs.first?["results"] as? [[String: Any]])
        let message = try #require(results.first?["message"] as? [String: Any])
        #expect(message["text"] as? String == "purpose `x\\n\\u{1B}[2K\\u{2028}`")
    }

    // MARK: 4. Line breaks as libyaml counts them

    @Test(arguments: [("LF", "\n"), ("CRLF", "\r\n"), ("CR", "\r"), ("NEL", "\u{85}"), ("LS", "\u{2028}"), ("PS", "\u{2029}")])
    func diagnosticsQuoteTheRightLine(name: String, lineBreak: String) throws {
        let lines = ["purpose: log-analysis", "grants:", "  - actionz: [s3:GetObject]", "    resources: [\"arn:aws:s3:::b/*\"]", ""]
        let outcome = try compile(rules: ["r.yaml": lines.joined(separator: lineBreak)], task: "taskId: t-1\npurpose: log-analysis\n")
        // libyaml (through Yams) reports line 3, column 5 for every one of these line breaks.
        #expect(outcome.rendered == """
            rules/r.yaml:3:5: error: unknown key `actionz` in a grant [unknown-key]
                  - actionz: [s3:GetObject]
                    ^~~~~~~
            help: did you mean `actions`?
            clawc: 1 error

            """, "\(name): \(outcome.rendered)")
    }

    @Test func sourceFileSplitsOnEveryYAMLLineBreak() {
        let file = SourceFile(path: "f", text: "a\nb\r\nc\rd\u{85}e\u{2028}f\u{2029}g\r\r\nh")
        #expect((1...file.lineCount).compactMap { file.line($0).map(String.init) } == ["a", "b", "c", "d", "e", "f", "g", "", "h"])
        #expect(file.line(0) == nil && file.line(10) == nil)
        var counter = LineCounter()
        for scalar in "a\r\nb\rc\u{85}de".unicodeScalars { counter.advance(over: scalar) }
        #expect(counter.location == SourceLocation(line: 4, column: 3))
    }

    // MARK: 5. Rule defects that used to compile

    static func findings(_ grant: String, params: String = "") throws -> Compiler.Outcome {
        try compile(rules: rule(grant, params: params), task: task)
    }

    @Test(arguments: [
        ("  - actions: []\n    resources: [\"arn:aws:s3:::b/*\"]\n", "empty-actions", "rules/log-analysis.yaml:3:14: error: `actions` is empty"),
        ("  - actions: []\n    access: {s3: [read]}\n    resources: [\"arn:aws:s3:::b/*\"]\n", "empty-actions", "`actions` is empty"),
        ("  - access: {}\n    resources: [\"arn:aws:s3:::b/*\"]\n", "empty-actions", "3:13: error: `access` names no service"),
        ("  - access: {s3: []}\n    resources: [\"arn:aws:s3:::b/*\"]\n", "empty-actions", "3:18: error: `access.s3` lists no access level"),
        ("  - actions: [s3:GetObject]\n    resources: []\n", "missing-key", "help: list the ARN patterns"),
        ("  - actions: [s3:GetObject]\n    resources: [\"arn:aws:s3:::b/*\"]\n    when: {StringEquals: {s3:ExistingObjectTag/team: []}}\n",
         "invalid-condition", "5:54: error: condition `s3:ExistingObjectTag/team` has no values"),
        ("  - actions: [s3:GetObject]\n    resources: [\"arn:aws:s3:::b/*\"]\n    when: {StringEquals: {}}\n",
         "invalid-condition", "`StringEquals` names no condition key, so it restricts nothing"),
    ])
    func emptyListsAreLocatedErrors(grant: String, code: String, text: String) throws {
        let outcome = try Self.findings(grant)
        #expect(outcome.json == nil)
        #expect(outcome.codes == [code], "\(outcome.rendered)")
        #expect(outcome.rendered.contains(text), "\(outcome.rendered)")
        #expect(outcome.diagnostics.items.allSatisfy { $0.help != nil }, "\(outcome.rendered)")
    }

    @Test(arguments: [
        "s3:prefix", "aws:SourceIp", "aws:ResourceTag/Cost Center", "aws:PrincipalTag/team@x=1+2:a/b_c.d-e",
        "kms:EncryptionContext:purpose", "accounts.google.com:aud", "aws:ResourceTag/Équipe", "aws:ResourceTag/チーム",
        "S3:Prefix",
    ])
    func wellFormedConditionKeysPass(key: String) {
        #expect(ConditionCheck.keyProblem(key) == nil)
    }

    @Test(arguments: [
        ("aws:PrincipalTag/team\u{0}", "the character U+0000"), ("aws:PrincipalTag/team\u{2028}x", "the character U+2028"),
        ("aws:PrincipalTag/te\"am", "`\"`"), ("aws:PrincipalTag/te'am", "`'`"), ("s3:pre fix", "a space in its name"),
        ("aws:PrincipalTag/${aws:username}", "`$`"), ("prefix", "no service prefix"), (":prefix", "empty service prefix"),
        ("s3:", "no name"), ("aws:PrincipalTag/a\u{202E}b", "U+202E"), ("aws:PrincipalTag/a\u{A0}b", "U+00A0"),
        ("aws/x:y", "`/` in its service prefix"), ("s\u{1B}3:prefix", "in its service prefix"), ("aws:ResourceTag/a\tb", "a tab"),
    ])
    func malformedConditionKeysAreRefused(key: String, phrase: String) throws {
        let problem = try #require(ConditionCheck.keyProblem(key))
        #expect(problem.message.contains(phrase), "\(problem.message)")
        #expect(ConditionCheck.keyProblem(String(repeating: "a", count: 300) + ":x") != nil)
    }

    @Test func malformedConditionKeyIsLocatedAtTheCharacter() throws {
        let outcome = try Self.findings("  - actions: [s3:GetObject]\n    resources: [\"arn:aws:s3:::b/*\"]\n    when: {StringEquals: {\"aws:PrincipalTag/${aws:username}\": x}}\n")
        #expect(outcome.codes == ["invalid-condition-key"])
        #expect(outcome.rendered.hasPrefix("rules/log-analysis.yaml:5:45: error: condition key holds `$` in its tag key [invalid-condition-key]"), "\(outcome.rendered)")
    }

    @Test(arguments: [
        ("Bool", ["true", "false", "TRUE", "False"], ["maybe", "yes", "1", ""]),
        ("Null", ["true", "false"], ["absent", "no"]),
        ("NumericLessThan", ["10", "-1", "2.5", "0", "007"], ["ten", "1e3", "0x10", "1.", ".5", "+5", "1,000", "--1"]),
        ("DateLessThan", ["2026-01-31", "2026-01", "2026-01-31T12:00Z", "2026-01-31T12:00:00Z", "2026-01-31T12:00:00.123Z",
                          "2026-01-31T12:00:00+02:00", "2024-02-29", "1767225600"],
         ["not-a-date", "2026-13-01", "2023-02-29", "2026-01-31T24:00:00Z", "2026-01-31T12:00:00", "2026-01-31 12:00:00Z",
          "2026-1-31", "2026-01-31T12:60Z", "2026-01-31T12:00:00+2:00", "31/01/2026"]),
        ("IpAddress", ["10.0.0.0/8", "192.168.1.1", "0.0.0.0/0", "2001:db8::/32", "::1", "::", "::ffff:10.0.0.1", "fe80:0:0:0:0:0:0:1/128",
                       "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:10.0.0.1"],
         ["999.1.1.1/99", "10.0.0.0/33", "10.0.0", "10.0.0.0/", "10.0.0.0/a", "2001:db8::/129", "1::2::3", "1:2:3:4:5:6:7:8:9",
          "12345::", "fe80::1%eth0", "10.0.0.256", "localhost"]),
        ("BinaryEquals", ["QmluYXJ5", "QQ==", "QUI="], ["not base64", "QQ=", "Q===", "QmluYXJ5!"]),
    ])
    func typedConditionValuesAreChecked(op: String, good: [String], bad: [String]) throws {
        let type = try #require(ConditionCheck.valueType(ofOperator: op))
        for value in good { #expect(ConditionCheck.valueProblem(value, type: type) == nil, "\(op) \(value)") }
        for value in bad { #expect(ConditionCheck.valueProblem(value, type: type) != nil, "\(op) \(value)") }
        #expect(ConditionCheck.valueType(ofOperator: "ForAnyValue:\(op)IfExists") == type)
        #expect(ConditionCheck.valueType(ofOperator: "StringEquals") == nil)
        #expect(ConditionCheck.valueType(ofOperator: "ArnLike") == nil)
    }

    @Test(arguments: [
        ("Bool: {aws:SecureTransport: maybe}", "rules/log-analysis.yaml:8:40: error: `Bool` compares `true` or `false`, and `maybe` is not `true` or `false`"),
        ("DateLessThan: {aws:CurrentTime: not-a-date}", "`DateLessThan` compares a date, and `not-a-date` is not an ISO 8601 date or epoch seconds"),
        ("IpAddress: {aws:SourceIp: 999.1.1.1/99}", "`IpAddress` compares an IP address or CIDR range, and `999.1.1.1/99` is not an IP address or CIDR range"),
        ("IpAddress: {aws:SourceIp: 10.0.0.0/99}", "has a prefix length of /99, more than the 32 bits of an IPv4 address"),
        ("NumericLessThan: {aws:MultiFactorAuthAge: ten}", "`NumericLessThan` compares a number, and `ten` is not a number"),
        ("NumericLessThan: {aws:MultiFactorAuthAge: \"{task.id}\"}", "and `{task.id}` is only known when a task fills it"),
        ("NumericLessThan: {aws:MultiFactorAuthAge: \"1{limit}\"}", "and `1{limit}` is only known when a task fills it"),
        ("NumericLessThan: {aws:MultiFactorAuthAge: \"{free}\"}", "and `{free}` is only known when a task fills it"),
        ("DateLessThan: {aws:CurrentTime: \"{task.tags.until}\"}", "and `{task.tags.until}` is only known when a task fills it"),
        ("IpAddress: {aws:SourceIp: \"{limit}\"}", "slots are checked as safe text, not as an IP address or CIDR range"),
    ])
    func wrongConditionValuesAreLocatedErrors(condition: String, text: String) throws {
        let outcome = try Self.findings(
            "  - actions: [s3:GetObject]\n    resources: [\"arn:aws:s3:::b/*\"]\n    when: {\(condition)}\n",
            params: "params:\n  limit: {oneOf: [\"3600\", \"600\"]}\n  free: {default: \"5\"}\n")
        #expect(outcome.json == nil)
        #expect(outcome.codes == ["condition-value-type"], "\(outcome.rendered)")
        #expect(outcome.rendered.contains(text), "\(outcome.rendered)")
        #expect(outcome.diagnostics.items.allSatisfy { $0.help != nil })
    }

    @Test func wellTypedValuesCompile() throws {
        let outcome = try Self.findings(
            "  - actions: [s3:GetObject]\n    resources: [\"arn:aws:s3:::b/*\"]\n    when:\n      NumericLessThan: {aws:MultiFactorAuthAge: \"3600\"}\n      IpAddress: {aws:SourceIp: [10.0.0.0/8, \"2001:db8::/32\"]}\n      Bool: {aws:SecureTransport: \"true\"}\n      DateLessThan: {aws:CurrentTime: \"2030-01-01T00:00:00Z\"}\n      \"Null\": {aws:PrincipalTag/team: \"false\"}\n      StringEquals: {aws:PrincipalTag/team: \"{task.id}\"}\n")
        #expect(outcome.json != nil, "\(outcome.rendered)")
    }

    @Test func unquotedNullOperatorSaysToQuoteIt() throws {
        let outcome = try Self.findings("  - actions: [s3:GetObject]\n    resources: [\"arn:aws:s3:::b/*\"]\n    when:\n      Null: {aws:PrincipalTag/team: \"false\"}\n")
        #expect(outcome.codes == ["wrong-type"])
        #expect(outcome.rendered.contains("rules/log-analysis.yaml:6:7: error: a key in `when` must be a string, found null [wrong-type]"), "\(outcome.rendered)")
        #expect(outcome.rendered.contains("help: write \"Null\" in quotes; unquoted, YAML reads Null as a null value"), "\(outcome.rendered)")
        let tags = try compile(rules: Self.rule("  - actions: [s3:GetObject]\n    resources: [\"arn:aws:s3:::b/*\"]\n"),
                               task: "taskId: t-1\npurpose: log-analysis\ntags: {~: x}\n")
        #expect(tags.rendered.contains("help: write \"~\" in quotes; unquoted, YAML reads ~ as a null value"), "\(tags.rendered)")
    }
}
