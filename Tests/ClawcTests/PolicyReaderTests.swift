import ClawcCompiler
import ClawcDiagnostics
import ClawcPolicy
import Foundation
import Testing

/// The strict policy reader behind `clawc diff` and `clawc check`: every input it cannot judge soundly is
/// refused with a located error, never read one plausible way. Each attack here was read silently before
/// (JSONSerialization kept one of two duplicate keys, and strings were taken as plain text).
@Suite struct PolicyReaderTests {
    /// A 2012-10-17 policy with the given statements (JSON text, comma-separated).
    static func policy(_ statements: String) -> String {
        #"{"Version":"2012-10-17","Statement":[\#(statements)]}"#
    }

    /// The parser's refusal of `text`, or nil when it was read.
    static func refusal(_ text: String) -> PolicyParser.Failure? { refusal(Data(text.utf8)) }

    static func refusal(_ data: Data) -> PolicyParser.Failure? {
        do {
            _ = try PolicyParser.parse(data)
            return nil
        } catch {
            return error
        }
    }

    static func parsed(_ text: String) throws -> Policy { try PolicyParser.parse(Data(text.utf8)) }

    // MARK: duplicate keys

    @Test func duplicateResourceInAStatementIsRefusedAtTheSecond() throws {
        let text = """
            {"Version": "2012-10-17", "Statement": [{
              "Effect": "Allow", "Action": "s3:GetObject",
              "Resource": "arn:aws:s3:::acme-logs-1/*",
              "Resource": "*"
            }]}
            """
        // What the old reader did: Foundation keeps one of the two without a word.
        let loose = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(((loose["Statement"] as? [[String: Any]])?.first?["Resource"]) != nil)

        let failure = try #require(Self.refusal(text))
        #expect(failure.code == "duplicate-key")
        #expect((failure.line, failure.column) == (4, 3), "\(failure)")
        #expect(failure.message.contains("`Resource`") && failure.message.contains("line 3"), "\(failure.message)")
        #expect(failure.related.map { ($0.line, $0.column) } ?? (0, 0) == (3, 3))
    }

    @Test(arguments: [
        // A condition key twice under one operator: IAM might AND them, a dictionary keeps one.
        #"{"StringEquals":{"aws:RequestedRegion":"us-east-1","aws:RequestedRegion":"eu-west-1"}}"#,
        // The same key spelled in another case: IAM condition keys ignore case.
        #"{"StringEquals":{"aws:RequestedRegion":"us-east-1","aws:requestedregion":"eu-west-1"}}"#,
        // One operator twice.
        #"{"StringEquals":{"aws:RequestedRegion":"us-east-1"},"StringEquals":{"aws:SourceVpc":"vpc-1"}}"#,
        // The same key once escaped: the decoded text is what counts.
        #"{"StringEquals":{"aws:RequestedRegion":"us-east-1","aws:Requested\u0052egion":"eu-west-1"}}"#,
    ])
    func duplicateKeyInAConditionBlockIsRefused(condition: String) throws {
        let text = Self.policy(#"{"Effect":"Allow","Action":"ec2:DescribeInstances","Resource":"*","Condition":\#(condition)}"#)
        let failure = try #require(Self.refusal(text))
        #expect(failure.code == "duplicate-key", "\(failure)")
        #expect(failure.related != nil)
    }

    @Test func duplicateKeysAtTheTopAndInAStatementAreRefused() throws {
        let top = #"{"Version":"2012-10-17","Statement":[],"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#
        #expect(Self.refusal(top)?.code == "duplicate-key")
        let effect = Self.policy(#"{"Effect":"Deny","Effect":"Allow","Action":"s3:GetObject","Resource":"*"}"#)
        #expect(Self.refusal(effect)?.code == "duplicate-key")
        let version = #"{"Version":"2008-10-17","Version":"2012-10-17","Statement":[]}"#
        #expect(Self.refusal(version)?.code == "duplicate-key")
    }

    // MARK: policy variables

    @Test func aPolicyVariableInAResourceIsRefusedAtTheVariable() throws {
        let text = Self.policy(#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::acme-${aws:PrincipalTag/x}/*"}"#)
        let failure = try #require(Self.refusal(text))
        #expect(failure.code == "policy-variable")
        #expect(failure.message.contains("`${aws:PrincipalTag/x}`"), "\(failure.message)")
        let column = try #require(text.range(of: "${")).lowerBound.utf16Offset(in: text) + 1
        #expect((failure.line, failure.column, failure.length) == (1, column, 21), "\(failure)")
    }

    /// `${*}`, `${?}` and `${$}` are IAM's escapes for a literal `*`, `?`, `$`; the prover would read `*` as a
    /// wildcard, so it cannot judge them.
    @Test(arguments: ["${*}", "${?}", "${$}"])
    func literalEscapesInAResourceAreRefused(escape: String) throws {
        let text = Self.policy(#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::acme-logs-1/\#(escape)"}"#)
        let failure = try #require(Self.refusal(text))
        #expect(failure.code == "policy-variable")
        #expect(failure.message.contains("literal `\(escape.dropFirst(2).dropLast())`"), "\(failure.message)")
    }

    @Test(arguments: [
        #"{"Effect":"Allow","Action":"s3:${aws:username}","Resource":"*"}"#,
        #"{"Effect":"Allow","Action":"s3:GetObject","Resource":["arn:aws:s3:::a/*","arn:aws:s3:::${*}"]}"#,
        #"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"StringLike":{"s3:prefix":"home/${aws:username}/*"}}}"#,
        #"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/${aws:username}":"x"}}}"#,
        // An escaped `$` is still a `$` once decoded.
        #"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::a/\u0024{aws:username}"}"#,
    ])
    func policyVariablesAnywhereAreRefused(statement: String) throws {
        #expect(Self.refusal(Self.policy(statement))?.code == "policy-variable")
    }

    // MARK: version

    @Test func version2008IsRefused() throws {
        let text = #"{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::a/${x}"}]}"#
        let failure = try #require(Self.refusal(text))
        #expect(failure.code == "unsupported-version")
        #expect((failure.line, failure.column) == (1, 12))
        #expect(failure.message.contains("`2008-10-17`"))
    }

    @Test func aMissingVersionIsRefused() throws {
        let failure = try #require(Self.refusal(#"{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#))
        #expect(failure.code == "unsupported-version")
        #expect(failure.message.contains("no `Version`") && failure.message.contains("2008-10-17"), "\(failure.message)")
    }

    @Test(arguments: [#""2012-10-18""#, "20121017", "null", #"["2012-10-17"]"#])
    func otherVersionsAreRefused(version: String) throws {
        #expect(Self.refusal(#"{"Version":\#(version),"Statement":[]}"#)?.code == "unsupported-version")
    }

    // MARK: invalid JSON, size and depth

    @Test(arguments: [
        ("", 1, 1), ("   \n", 2, 1), ("{", 1, 2), (#"{"Version":"2012-10-17",}"#, 1, 24), (#"{"a":[1,2,]}"#, 1, 10),
        ("// c\n{}", 1, 1), ("{'a':1}", 1, 2), (#"{"a":01}"#, 1, 6), (#"{"a":NaN}"#, 1, 6), (#"{"a":True}"#, 1, 6),
        (#"{"a":1}x"#, 1, 8), (#"{"a":1}{}"#, 1, 8), (#"{"a" 1}"#, 1, 6), (#"{"a":"b}"#, 1, 9), ("{\"a\":\"b\nc\"}", 1, 8),
        (#"{"a":"\x"}"#, 1, 7), (#"{"a":"\u12"}"#, 1, 7), (#"{"a":1.}"#, 1, 6), (#"{"a":-}"#, 1, 6), (#"{"a":1e}"#, 1, 6),
        (#"{"a":nul}"#, 1, 6), (#"{"a":nullx}"#, 1, 6), (#"[1 2]"#, 1, 4), ("\u{FEFF}{}", 1, 1),
    ] as [(String, Int, Int)])
    func invalidJSONIsRefusedWhereItIs(text: String, line: Int, column: Int) throws {
        let failure = try #require(Self.refusal(text), "accepted \(text.debugDescription)")
        #expect(failure.code == "invalid-json", "\(text.debugDescription): \(failure)")
        #expect((failure.line, failure.column) == (line, column), "\(text.debugDescription): \(failure)")
        #expect(failure.message.hasPrefix("invalid JSON: "))
    }

    @Test func deepNestingIsRefusedWithoutRecursingIntoIt() throws {
        let lists = try #require(Self.refusal(String(repeating: "[", count: 100_000)))
        #expect(lists.code == "too-deep")
        #expect((lists.line, lists.column) == (1, StrictJSON.maxDepth + 1))
        let objects = Self.refusal(String(repeating: #"{"a":"#, count: 100_000))
        #expect(objects?.code == "too-deep")
        // 64 levels are fine as JSON (the policy reader then refuses the shape).
        let deepest = String(repeating: "[", count: StrictJSON.maxDepth) + String(repeating: "]", count: StrictJSON.maxDepth)
        #expect(throws: Never.self) { try StrictJSON.parse(Data(deepest.utf8)) }
    }

    @Test func aDocumentOverOneMebibyteIsRefused() throws {
        // A valid policy padded with whitespace to one byte over the limit.
        var text = Self.policy(#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}"#)
        text += String(repeating: " ", count: StrictJSON.maxBytes + 1 - text.utf8.count)
        let failure = try #require(Self.refusal(text))
        #expect(failure.code == "too-large")
        #expect(Self.refusal(String(text.dropLast())) == nil, "exactly 1 MiB is read")
    }

    @Test func aLargeDocumentIsReadInLinearTime() throws {
        // About 1 MiB of statements and of keys: a quadratic step would take minutes here.
        let statement = #"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/k"}"#
        let count = (StrictJSON.maxBytes - 100) / (statement.utf8.count + 1)
        let text = Self.policy(Array(repeating: statement, count: count).joined(separator: ","))
        let clock = ContinuousClock()
        var read = 0
        let elapsed = try clock.measure { read = try Self.parsed(text).statements.count }
        #expect(read == count)
        let keys = "{" + (0..<60_000).map { #""k\#($0)":\#($0)"# }.joined(separator: ",") + "}"
        let keysElapsed = clock.measure { #expect(throws: Never.self) { try StrictJSON.parse(Data(keys.utf8)) } }
        let values = (0..<80_000).map { #""v\#($0)""# }.joined(separator: ",")
        let manyValues = Self.policy(#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"aws:SourceVpc":[\#(values)]}}}"#)
        var valueCount = 0
        let valuesElapsed = try clock.measure { valueCount = try Self.parsed(manyValues).statements.first?.conditions.entries["StringEquals"]?["aws:SourceVpc"]?.count ?? 0 }
        #expect(valueCount == 80_000)
        #expect(elapsed < .seconds(20) && keysElapsed < .seconds(20) && valuesElapsed < .seconds(20), "\(elapsed), \(keysElapsed), \(valuesElapsed)")
    }

    @Test(arguments: [
        [0x22, 0xFF, 0x22], [0x22, 0xC0, 0x80, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22],
        [0x22, 0xE2, 0x82, 0x22], [0x22, 0x80, 0x22], [0xFF], [0x22, 0xF0, 0x9F, 0x98],
    ] as [[UInt8]])
    func invalidUTF8IsRefused(bytes: [UInt8]) throws {
        let failure = try #require(Self.refusal(Data(bytes)))
        #expect(failure.code == "invalid-json", "\(failure)")
        #expect((failure.line, failure.column) == (1, bytes.first == 0x22 ? 2 : 1), "\(failure)")
    }

    @Test(arguments: [#""\uD800""#, #""\uDC00""#, #""\uD83D\u0041""#, #""\uD83Dx""#, #""\uDE00\uD83D""#])
    func loneSurrogateEscapesAreRefused(text: String) throws {
        let failure = try #require(Self.refusal(text))
        #expect(failure.code == "invalid-json")
        #expect(failure.message.contains("surrogate"), "\(failure.message)")
    }

    @Test func escapesDecodeToTheirCharacters() throws {
        let node = try StrictJSON.parse(Data(#"["\u0000", "\uD83D\uDE00", "a\/b", "\"\\\b\f\n\r\t", "\u00e9", "é"]"#.utf8))
        guard case .array(let items) = node.value else { Issue.record("not a list"); return }
        let texts = items.compactMap { item -> String? in if case .string(let text) = item.value { text } else { nil } }
        #expect(texts.map { $0.unicodeScalars.map(\.value) } == [
            [0], [0x1F600], [0x61, 0x2F, 0x62], [0x22, 0x5C, 0x08, 0x0C, 0x0A, 0x0D, 0x09], [0xE9], [0xE9],
        ])
        // Columns count Unicode scalars: `é` is one column, as the diagnostic renderer counts.
        #expect(items.map(\.start.column) == [2, 12, 28, 36, 54, 64])
    }

    // MARK: shapes clawc does not judge

    @Test(arguments: [
        (#"{"Effect":"Allow","Action":5,"Resource":"*"}"#, "invalid-policy"),
        (#"{"Effect":"Allow","Action":"s3:GetObject","Resource":["arn:aws:s3:::a",1]}"#, "invalid-policy"),
        (#"{"Effect":"Allow","Action":[],"Resource":"*"}"#, "invalid-policy"),
        (#"{"Effect":"Allow","Action":"s3:GetObject","Resource":[]}"#, "invalid-policy"),
        (#"{"Effect":"Allow","Action":"s3:GetObject"}"#, "invalid-policy"),
        (#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Resources":"*"}"#, "unknown-key"),
        (#"{"Effect":"Allow","Action":"s3:GetObject","resource":"*"}"#, "unknown-key"),
        (#"{"Effect":"Allow","NotAction":"s3:GetObject","Resource":"*"}"#, "unsupported-element"),
        (#"{"Effect":"Allow","Action":"s3:GetObject","NotResource":"*"}"#, "unsupported-element"),
        (#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}"#, "unsupported-element"),
        (#"{"Effect":"Deny","Action":"s3:GetObject","Resource":"*"}"#, "unsupported-effect"),
        (#"{"Effect":"allow","Action":"s3:GetObject","Resource":"*"}"#, "invalid-policy"),
        (#"{"Action":"s3:GetObject","Resource":"*"}"#, "invalid-policy"),
        (#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{}}"#, "invalid-policy"),
        (#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"StringEqual":{"aws:SourceVpc":"v"}}}"#, "unknown-operator"),
        (#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"aws:SourceVpc":[]}}}"#, "invalid-policy"),
        (#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"aws:SourceVpc":null}}}"#, "invalid-policy"),
        (#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"NumericLessThan":{"s3:max-keys":1.5}}}"#, "unsupported-value"),
        (#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"NumericLessThan":{"s3:max-keys":1e2}}}"#, "unsupported-value"),
        (#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"NumericLessThan":{"s3:max-keys":-0}}}"#, "unsupported-value"),
        (#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::cafe\u0301/*"}"#, "unnormalized-text"),
        (#"{"Effect":"Allow","Action":"\u212Ams:Decrypt","Resource":"*"}"#, "unnormalized-text"),
        (#"{"Effect":"Allow","Action":"s3:Get Object","Resource":"*"}"#, "invalid-policy"),
    ] as [(String, String)])
    func shapesClawcCannotJudgeAreRefused(statement: String, code: String) throws {
        let failure = try #require(Self.refusal(Self.policy(statement)), "accepted \(statement)")
        #expect(failure.code == code, "\(statement): \(failure)")
    }

    @Test func unknownTopLevelKeysAreRefusedWithASuggestion() throws {
        let failure = try #require(Self.refusal(#"{"Version":"2012-10-17","Statements":[]}"#))
        #expect(failure.code == "unknown-key")
        #expect(failure.help?.contains("did you mean `Statement`?") == true, "\(failure.help ?? "")")
        #expect(Self.refusal(#"{"Version":"2012-10-17","Id":"x","Statement":[]}"#) == nil)
    }

    /// JSON booleans and whole numbers are read as their exact text (the old reader turned `true` into `1`).
    @Test func booleanAndWholeNumberConditionValuesKeepTheirText() throws {
        let policy = try Self.parsed(Self.policy(#"""
            {"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":true},"NumericLessThanEquals":{"s3:max-keys":[10,"20"]}}}
            """#))
        let conditions = try #require(policy.statements.first?.conditions.entries)
        #expect(conditions["Bool"]?["aws:SecureTransport"] == ["true"])
        #expect(conditions["NumericLessThanEquals"]?["s3:max-keys"] == ["10", "20"])
    }

    @Test func oneStatementObjectAndAnEmptyListAreRead() throws {
        let one = try Self.parsed(#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["s3:GetObject"],"Resource":"*"}}"#)
        #expect(one.statements.count == 1)
        #expect(try Self.parsed(#"{"Version":"2012-10-17","Statement":[]}"#).statements.isEmpty)
    }

    /// Whatever bytes come, the reader answers; and what it accepts, JSONSerialization reads the same way.
    @Test func randomBytesNeverCrashAndAcceptedDocumentsAgree() throws {
        let seed = propertySeed(8259)
        var rng = SplitMix64(seed: seed)
        let base = Array(try String(contentsOfFile: Repo.path("golden/log-analysis/two-log-groups.policy.json"), encoding: .utf8).utf8)
        let alphabet: [UInt8] = Array(#"{}[]:,"\ u0123456789abcdefABCDEF-+.eEtrueflsn"#.utf8) + [0x00, 0x0A, 0x0D, 0x7F, 0x80, 0xC3, 0xA9, 0xED, 0xF0, 0xFF]
        var accepted = 0
        for round in 0..<3_000 {
            var bytes = base
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let at = Int.random(in: 0..<bytes.count, using: &rng)
                let byte = alphabet.randomElement(using: &rng) ?? 0
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: bytes[at] = byte
                case 1: bytes.insert(byte, at: at)
                default: if bytes.count > 1 { bytes.remove(at: at) }
                }
            }
            if round % 3 == 0 { bytes = (0..<Int.random(in: 0..<40, using: &rng)).map { _ in alphabet.randomElement(using: &rng) ?? 0 } }
            guard let node = try? StrictJSON.parse(bytes) else { continue }
            accepted += 1
            let loose = try? JSONSerialization.jsonObject(with: Data(bytes), options: .fragmentsAllowed)
            #expect(loose.map { Self.same(node, $0) } == true, "seed \(seed), round \(round): \(String(decoding: bytes, as: UTF8.self).debugDescription)")
        }
        #expect(accepted > 10, "the mutations should leave some documents valid")
    }

    // MARK: agreement with JSONSerialization on valid documents

    static var goldenPolicies: [String] {
        let root = Repo.path("golden")
        let files = (FileManager.default.enumerator(atPath: root)?.allObjects as? [String]) ?? []
        return files.filter { $0.hasSuffix(".policy.json") }.sorted()
    }

    @Test func everyGoldenPolicyReadsAsJSONSerializationReadsIt() throws {
        #expect(Self.goldenPolicies.count >= 6)
        for file in Self.goldenPolicies {
            let data = try Data(contentsOf: URL(fileURLWithPath: Repo.path("golden/\(file)")))
            let node = try StrictJSON.parse(data)
            #expect(Self.same(node, try JSONSerialization.jsonObject(with: data)), "\(file)")
            // And the policy read back emits the reviewed bytes: nothing was lost or reinterpreted.
            let policy = try PolicyParser.parse(data)
            #expect(PolicyJSON.emit(policy) + "\n" == String(decoding: data, as: UTF8.self), "\(file)")
        }
    }

    @Test(arguments: [
        #"{"a":"\u0000\u001f\"\\\/","b":"\uD83D\uDE00 é 日本 \u00e9","c":[1,-0,0.5,1e10,-2.5E-3,12345678901234],"d":{},"e":[],"f":true,"g":false,"h":null}"#,
        " \t\r\n[ \"x\" , { \"k\" : [ ] } ] \n",
        #""top-level string""#, "42", "null", #"{"":1,"\u0000":2," ":3}"#,
        #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/\u00e9\u65e5/*"}]}"#,
    ])
    func validDocumentsReadAsJSONSerializationReadsThem(text: String) throws {
        let node = try StrictJSON.parse(Data(text.utf8))
        let loose = try JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed)
        #expect(Self.same(node, loose), "\(text)")
    }

    /// Whether a strict node and a JSONSerialization value are the same JSON value (strings scalar by scalar).
    static func same(_ node: StrictJSON.Node, _ other: Any) -> Bool {
        switch node.value {
        case .object(let members):
            guard let dictionary = other as? [String: Any], dictionary.count == members.count else { return false }
            return members.allSatisfy { member in dictionary[member.key].map { same(member.value, $0) } ?? false }
        case .array(let items):
            guard let list = other as? [Any], list.count == items.count else { return false }
            return zip(items, list).allSatisfy { same($0, $1) }
        case .string(let text):
            guard let string = other as? String else { return false }
            return Array(string.unicodeScalars) == Array(text.unicodeScalars)
        case .number(let text):
            guard let number = other as? NSNumber, let value = Double(text) else { return false }
            return number.doubleValue == value
        case .bool(let value):
            guard let number = other as? NSNumber else { return false }
            return number.boolValue == value
        case .null:
            return other is NSNull
        }
    }

    // MARK: `clawc check` on a reviewed file it cannot read

    @Test func checkNamesAReviewedPolicyItCannotReadSoundly() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let golden = dir.appendingPathComponent("golden")
        try FileManager.default.createDirectory(at: golden, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Repo.path("golden/config-audit/org-aggregator.task.yaml"), toPath: golden.appendingPathComponent("c.task.yaml").path)
        let reviewed = try String(contentsOfFile: Repo.path("golden/config-audit/org-aggregator.policy.json"), encoding: .utf8)
        // The reviewed policy with a second `Resource` that widens it to everything.
        let tampered = reviewed.replacingOccurrences(of: #""Resource":"#, with: #""Resource":"*","Resource":"#)
        try tampered.write(to: golden.appendingPathComponent("c.policy.json"), atomically: true, encoding: .utf8)
        let report = GoldenCheck.run(rulesDirectory: Repo.path("rules"), goldenDirectory: golden.path, update: false, catalog: Repo.catalog)
        let problem = try #require(report.diagnostics.items.first { $0.code == "duplicate-key" }, "\(report.diagnostics.items.map(\.message))")
        #expect(problem.path == golden.appendingPathComponent("c.policy.json").path)
        let column = try #require(tampered.range(of: #""Resource":"*","Resource":"#)).lowerBound.utf16Offset(in: tampered) + 1 + 15
        #expect(problem.span.map { ($0.start.line, $0.start.column) } ?? (0, 0) == (1, column))
        #expect(DiagnosticRenderer.render(problem).contains("note: the first `Resource` is here"))
    }

    // MARK: `clawc diff` through the binary

    /// Writes `files` (name → text) into a scratch folder and runs `clawc diff` on the first two names given.
    static func diff(_ old: (String, String), _ new: (String, String)) throws -> ProcessRun {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for (name, text) in [old, new] { try Data(text.utf8).write(to: dir.appendingPathComponent(name)) }
        return try runClawc(["diff", dir.appendingPathComponent(old.0).path, dir.appendingPathComponent(new.0).path])
    }

    static let readObjects = policy(#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::acme-logs-1/*"}"#)

    @Test func diffExitsZeroForTheSameAccess() throws {
        // The same access written differently: a list of one, keys in another order, whitespace.
        let other = "{\n  \"Statement\": [{\"Resource\": [\"arn:aws:s3:::acme-logs-1/*\"], \"Action\": [\"s3:getobject\"], \"Effect\": \"Allow\"}],\n  \"Version\": \"2012-10-17\"\n}\n"
        let run = try Self.diff(("old.json", Self.readObjects), ("new.json", other))
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.isEmpty && run.stderr.isEmpty)
    }

    @Test func diffExitsOneWhenTheAccessDiffers() throws {
        let wider = Self.policy(#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::acme-logs-*/*"}"#)
        let run = try Self.diff(("old.json", Self.readObjects), ("new.json", wider))
        #expect(run.status == 1, "\(run.stderr)")
        #expect(run.stdout == "+ s3:GetObject  arn:aws:s3:::acme-logs-*/*\n")
    }

    /// The attack: NEW grants `*` in a first `Resource` and repeats OLD's resource in a second. Foundation keeps
    /// the last one, so the old reader said "same access" (exit 0); another reader may keep the first.
    @Test func diffExitsTwoOnADuplicateKeyWithALocatedError() throws {
        let tampered = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\",\n\"Resource\":\"*\",\n  \"Resource\":\"arn:aws:s3:::acme-logs-1/*\"}]}\n"
        let loose = try #require(try JSONSerialization.jsonObject(with: Data(tampered.utf8)) as? [String: Any])
        #expect(((loose["Statement"] as? [[String: Any]])?.first?["Resource"] as? String) == "arn:aws:s3:::acme-logs-1/*", "Foundation keeps the last")
        let run = try Self.diff(("old.json", Self.readObjects), ("new.json", tampered))
        #expect(run.status == 2, "\(run.stderr)")
        #expect(run.stdout.isEmpty)
        let lines = run.stderr.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.first?.hasSuffix("new.json:3:3: error: duplicate key `Resource`: this object already has it on line 2, column 1 [duplicate-key]") == true, "\(run.stderr)")
        #expect(lines.count > 2 && lines[1] == "      \"Resource\":\"arn:aws:s3:::acme-logs-1/*\"}]}" && lines[2] == "      ^~~~~~~~~~", "\(run.stderr)")
        #expect(run.stderr.contains("note: the first `Resource` is here"))
        #expect(run.stderr.hasSuffix("clawc: 1 error\n"))
    }

    @Test(arguments: [
        ("variable", policy(#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::acme-logs-1/${aws:PrincipalTag/x}"}"#), "policy-variable", 1, 0),
        ("escape", policy(#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::acme-logs-1/${*}"}"#), "policy-variable", 1, 0),
        ("old-version", #"{"Version":"2008-10-17","Statement":[]}"#, "unsupported-version", 1, 12),
        ("no-version", #"{"Statement":[]}"#, "unsupported-version", 1, 1),
        ("not-json", "{\"Version\":\"2012-10-17\",\n\"Statement\":[}\n", "invalid-json", 2, 14),
        ("deep", String(repeating: "[", count: 100_000), "too-deep", 1, 65),
        ("large", String(repeating: " ", count: StrictJSON.maxBytes) + "{}", "too-large", 1, 1),
    ] as [(String, String, String, Int, Int)])
    func diffExitsTwoOnAnInputItCannotJudge(name: String, text: String, code: String, line: Int, column: Int) throws {
        // Column 0 stands for "where the `${` is".
        let expectedColumn = column > 0 ? column : (text.range(of: "${").map { text.utf8.distance(from: text.startIndex, to: $0.lowerBound) + 1 } ?? 0)
        let run = try Self.diff(("old.json", Self.readObjects), ("new.json", text))
        #expect(run.status == 2, "\(name): \(run.stderr.prefix(400))")
        #expect(run.stdout.isEmpty)
        let first = run.stderr.split(separator: "\n").first.map(String.init) ?? ""
        #expect(first.contains("new.json:\(line):\(expectedColumn): error: ") && first.hasSuffix("[\(code)]"), "\(name): \(first.prefix(300))")
    }

    @Test func diffExitsTwoForAMissingFileAndNamesBothBadInputs() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let bad = dir.appendingPathComponent("bad.json")
        try Data(#"{"Version":"2008-10-17","Statement":[]}"#.utf8).write(to: bad)
        let missing = dir.appendingPathComponent("missing.json").path
        let run = try runClawc(["diff", missing, bad.path])
        #expect(run.status == 2)
        #expect(run.stdout.isEmpty)
        #expect(run.stderr.contains("\(missing): error: no such file [file-not-found]"), "\(run.stderr)")
        #expect(run.stderr.contains("\(bad.path):1:12: error: `Version` is `2008-10-17`"), "\(run.stderr)")
        #expect(run.stderr.hasSuffix("clawc: 2 errors\n"))
        #expect(try runClawc(["diff", dir.path, bad.path]).status == 2, "a folder is not a policy file")
    }

    /// Hostile text reaches stderr escaped: no raw escape sequence, C1 control or bidirectional override.
    @Test func diffEscapesControlCharactersFromTheInput() throws {
        let text = "{\"Version\":\"2012-10-17\",\"Statement\":[],\"\\u001b[31m\u{9B}31m\u{202E}x\\n\":1}"
        let run = try Self.diff(("old.json", Self.readObjects), ("new.json", text))
        #expect(run.status == 2)
        #expect(run.stderr.contains(#"unknown key `\u{1B}[31m\u{9B}31m\u{202E}x\n` in the policy"#), "\(run.stderr)")
        let forbidden = run.stderr.unicodeScalars.filter { ($0.value < 0x20 && $0 != "\n") || (0x7F...0x9F).contains($0.value) || $0.value == 0x202E }
        #expect(forbidden.isEmpty, "\(run.stderr.debugDescription)")
    }
}
