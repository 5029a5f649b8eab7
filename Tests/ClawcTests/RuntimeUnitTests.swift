import ClawcRuntime
import Foundation
import Testing

@Suite struct SessionNameTests {
    static let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+=,.@-")

    @Test func encodesAServiceAccountSubject() {
        let name = SessionName.make(subject: "system:serviceaccount:agents:log-bot", taskID: "t-42")
        #expect(name == "system=3Aserviceaccount=3Aagents=3Alog-bot@t-42")
    }

    @Test(arguments: [
        ("system:serviceaccount:agents:log-bot", "t-42"),
        (String(repeating: "very-long-subject:", count: 10), "task-with-a-long-id-0123456789"),
        ("a", "b"),
        ("x", String(repeating: "t", count: 64)),
        ("a@b=c d/é", "t.1@x"),
    ])
    func staysInSTSLimits(subject: String, taskID: String) {
        let name = SessionName.make(subject: subject, taskID: taskID)
        #expect((2...64).contains(name.count), "\(name)")
        #expect(name.allSatisfy { Self.allowed.contains($0) }, "\(name)")
        // The task ID stays whole, unless it leaves no room beside a digest (then its prefix and a pair digest).
        #expect(name.hasSuffix("@" + taskID) || (taskID.count >= 43 && name.hasPrefix("+") && name.hasSuffix("@" + taskID.prefix(42))), "\(name)")
    }

    @Test func longSubjectsStayDistinct() {
        let base = String(repeating: "system:serviceaccount:namespace:", count: 4)
        let a = SessionName.make(subject: base + "agent-a", taskID: "task-1")
        let b = SessionName.make(subject: base + "agent-b", taskID: "task-1")
        #expect(a != b)
        #expect(a.count <= 64 && b.count <= 64)
    }

    /// Review finding: a task ID of 55 to 64 characters became the whole name, so two subjects' tasks shared one
    /// `aws:userid`. Random pairs, long IDs and look-alike subjects included: no two pairs share a name.
    @Test func namesAreInjectiveOnRandomPairs() {
        let seed = propertySeed(0x5E55)
        var rng = SplitMix64(seed: seed)
        let taskAlphabet = Array("abcXYZ019_.@=+,-")
        let subjectAlphabet = Array("ab:=@+/ é-")
        var seen: [String: (String, String)] = [:]
        for _ in 0..<20_000 {
            let taskID = String((0..<Int.random(in: 1...64, using: &rng)).map { _ in taskAlphabet.randomElement(using: &rng) ?? "a" })
            let subject = String((0..<Int.random(in: 1...80, using: &rng)).map { _ in subjectAlphabet.randomElement(using: &rng) ?? "a" })
            let name = SessionName.make(subject: subject, taskID: taskID)
            #expect((2...64).contains(name.count) && name.allSatisfy { Self.allowed.contains($0) }, "\(name)")
            if let other = seen[name], other != (subject, taskID) {
                Issue.record("seed \(seed): \(other) and \((subject, taskID)) share `\(name)`")
            }
            seen[name] = (subject, taskID)
        }
        // The shapes never collide with each other either: a literal `+` in a subject is escaped.
        #expect(SessionName.make(subject: "x+0123456789abcdef", taskID: "t") != SessionName.make(subject: String(repeating: "x", count: 80), taskID: "t"))
        let longTask = String(repeating: "t", count: 60)
        #expect(SessionName.make(subject: "alice", taskID: longTask) != SessionName.make(subject: "bob", taskID: longTask))
    }

    @Test func encodingIsInjective() {
        // `:` and the literal text `=3A` must not collide.
        #expect(SessionName.make(subject: "a:b", taskID: "t") != SessionName.make(subject: "a=3Ab", taskID: "t"))
        #expect(SessionName.make(subject: "a@b", taskID: "t") != SessionName.make(subject: "a", taskID: "b@t"))
    }
}

@Suite struct LifetimeTests {
    @Test func estimatePlusMarginWithinBounds() throws {
        let choice = try LifetimePolicy.choose(estimated: 1200, ruleDefault: 900, ruleMax: 3600, roleMax: nil).get()
        #expect(choice.seconds == 1500)
    }

    @Test func shortTasksGetTheSTSFloor() throws {
        let choice = try LifetimePolicy.choose(estimated: 90, ruleDefault: nil, ruleMax: 3600, roleMax: nil).get()
        #expect(choice.seconds == 900)
        #expect(choice.explanation.contains("floor"))
    }

    @Test func cappedByTheRuleAndTheRole() throws {
        #expect(try LifetimePolicy.choose(estimated: 7200, ruleDefault: nil, ruleMax: 3600, roleMax: 43_200).get().seconds == 3600)
        #expect(try LifetimePolicy.choose(estimated: 7200, ruleDefault: nil, ruleMax: 43_200, roleMax: 5400).get().seconds == 5400)
        #expect(try LifetimePolicy.choose(estimated: nil, ruleDefault: nil, ruleMax: nil, roleMax: nil).get().seconds == 900)
    }

    @Test func aRuleMaxBelowTheFloorIsRefused() {
        #expect(throws: LifetimeError.self) { try LifetimePolicy.choose(estimated: 60, ruleDefault: nil, ruleMax: 600, roleMax: nil).get() }
    }
}

@Suite struct WireFormatTests {
    @Test(arguments: ["2026-11-29T05:00:00Z", "2026-11-29T05:00:00.123456Z", "2026-11-29T05:00:00.5+00:00"])
    func expirationWithAndWithoutFractions(text: String) throws {
        let date = try #require(AWSDate.parse(text))
        #expect(AWSDate.format(date).hasPrefix("2026-11-29T05:00:0"))
    }

    /// The hand-written reader and writer against Foundation's ISO 8601 formatter, over 2,000 seeded times from
    /// 1970 to 2200, and SigV4's compact form against a DateFormatter.
    @Test func datesMatchFoundationsFormatter() throws {
        var generator = SplitMix64(seed: 7)
        let reference = ISO8601DateFormatter()
        reference.formatOptions = [.withInternetDateTime]
        let compact = DateFormatter()
        compact.locale = Locale(identifier: "en_US_POSIX")
        compact.timeZone = TimeZone(identifier: "UTC")
        compact.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        for _ in 0..<2000 {
            let date = Date(timeIntervalSince1970: TimeInterval(Int.random(in: 0...7_258_118_400, using: &generator)))
            #expect(AWSDate.format(date) == reference.string(from: date))
            #expect(AWSDate.compact(date) == compact.string(from: date))
            #expect(AWSDate.parse(reference.string(from: date)) == date)
        }
        #expect(AWSDate.parse("2026-11-29T06:00:00+01:00") == AWSDate.parse("2026-11-29T05:00:00Z"))
        #expect(AWSDate.parse("2024-02-29T00:00:00Z") != nil)
    }

    @Test(arguments: ["", "2026-11-29", "2026-11-29T05:00:00", "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z", "2026-11-29T24:00:00Z",
                      "2026-11-29T05:00:00.Z", "2026-11-29T05:00:00Zjunk", "２０２６-11-29T05:00:00Z", "2026-11-29T05:00:00+1:00",
                      "2026-11-29T05:00:00." + String(repeating: "1", count: 80) + "Z"])
    func malformedDatesAreRefused(text: String) {
        #expect(AWSDate.parse(text) == nil)
    }

    /// The audit chain's canonical detail JSON reads back (with Foundation's parser) as the same map, keys sorted,
    /// over seeded maps of hostile strings.
    @Test func auditDetailIsCanonicalJSON() throws {
        var generator = SplitMix64(seed: 11)
        let alphabet: [Character] = ["a", "Z", "/", "\"", "\\", "\n", "\u{0}", "\u{1f}", "\u{7f}", "é", "\u{2028}", "😀", ":", " "]
        func text() -> String { String((0..<Int.random(in: 0...12, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }) }
        for _ in 0..<500 {
            var detail: [String: String] = [:]
            for _ in 0..<Int.random(in: 0...5, using: &generator) { detail[text()] = text() }
            let json = AuditChain.canonical(detail)
            let back = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: String]
            #expect(back == detail, "\(json)")
            #expect(AuditChain.canonical(detail) == json)
        }
        #expect(AuditChain.canonical(["b": "1", "a": "x/y", "B": "2"]) == "{\"B\":\"2\",\"a\":\"x/y\",\"b\":\"1\"}")
        #expect(ASCIIText.trimmed("  a b\t\r\n") == "a b" && ASCIIText.trimmed(" \n ") == "" && ASCIIText.trimmed("x") == "x")
        #expect(FormEncoding.escape("a b+c/d=é~") == "a%20b%2Bc%2Fd%3D%C3%A9~")
    }

    @Test func formEncodingKeepsUnreservedOnly() {
        #expect(FormEncoding.escape("a b+c/d=é~") == "a%20b%2Bc%2Fd%3D%C3%A9~")
        #expect(FormEncoding.encode([("Policy", "{\"a\":1}")]) == "Policy=%7B%22a%22%3A1%7D")
    }

    @Test func credentialProcessOutputIsWhatTheSDKsRead() throws {
        let credentials = TemporaryCredentials(
            accessKeyID: "ASIAEXAMPLE", secretAccessKey: "secret", sessionToken: "token",
            expiration: Date(timeIntervalSince1970: 1_800_000_000), assumedRoleARN: nil, assumedRoleID: nil)
        let text = CredentialFormat.credentialProcess.render(credentials, sessionName: "s", taskID: "t")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["Version"] as? Int == 1)
        #expect(Set(object.keys) == ["Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"])
        #expect(CredentialFormat.env.render(credentials, sessionName: "s", taskID: "t").contains("export AWS_SESSION_TOKEN='token'\n"))
    }

    @Test func issuersMustBeHTTPSExceptOnLoopback() throws {
        #expect(EndpointPolicy.isAllowedIssuer(try #require(URL(string: "https://issuer.example"))))
        #expect(EndpointPolicy.isAllowedIssuer(try #require(URL(string: "http://127.0.0.1:8080"))))
        #expect(EndpointPolicy.isAllowedIssuer(try #require(URL(string: "http://localhost:1"))))
        #expect(!EndpointPolicy.isAllowedIssuer(try #require(URL(string: "http://issuer.example"))))
        #expect(!EndpointPolicy.isAllowedIssuer(try #require(URL(string: "http://127.0.0.1.evil.example"))))
    }
}
