import ClawcRuntime
import Foundation
import Testing

/// The suites that use the shared local peers run one test at a time: some switch the issuer's JWKS endpoint
/// into failure modes, others count its requests.
@Suite(.serialized) enum PeerSuites {}

extension PeerSuites {
/// `clawc issue` end to end against the local peers: moto as STS, the repository's OIDC test issuer.
@Suite struct IssueTests {
    static let role = "arn:aws:iam::123456789012:role/agents"
    static let task = "golden/log-analysis/one-bucket.task.yaml"
    /// A closed port: if clawc ever called STS here, it would exit 3, not 1.
    static let nowhere = "http://127.0.0.1:1"

    let peers: Peers
    let dir: URL

    init() throws {
        peers = try Peers.withNormalKeys()
        dir = try temporaryDirectory()
    }

    func tokenFile(_ token: String) throws -> String { try writeToken(token, in: dir) }

    func issue(token: String, sts: String? = nil, extra: [String] = [], task: String = IssueTests.task) throws -> ProcessRun {
        try runClawc(
            ["issue", "--rules", "rules", "--task", task, "--token-file", try tokenFile(token), "--role-arn", Self.role,
             "--issuer", peers.issuer.absoluteString, "--ledger", dir.appendingPathComponent("ledger-\(UUID().uuidString).sqlite").path] + extra,
            environment: ["AWS_ENDPOINT_URL_STS": sts ?? peers.sts.absoluteString, "AWS_REGION": "us-east-1"])
    }

    /// Calls `sts:GetCallerIdentity` on moto with the issued credentials, through boto3's own signer.
    func callerARN(_ credentials: [String: Any]) throws -> String {
        let script = """
            import boto3, sys
            c = boto3.client("sts", endpoint_url=sys.argv[1], region_name="us-east-1",
                aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3], aws_session_token=sys.argv[4])
            print(c.get_caller_identity()["Arn"])
            """
        let run = try runProgram(URL(fileURLWithPath: "/usr/bin/env"), [
            "python3", "-c", script, peers.sts.absoluteString, credentials["AccessKeyId"] as? String ?? "",
            credentials["SecretAccessKey"] as? String ?? "", credentials["SessionToken"] as? String ?? "",
        ])
        return run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func issuesWorkingCredentialsNamedAfterSubjectAndTask() throws {
        let run = try issue(token: try peers.mint(["sub": "system:serviceaccount:agents:log-bot"]), extra: ["--explain"])
        #expect(run.status == 0, "\(run.stderr)")
        let credentials = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let session = "system=3Aserviceaccount=3Aagents=3Alog-bot@t-42"
        #expect(credentials["SessionName"] as? String == session)
        #expect(try callerARN(credentials) == "arn:aws:sts::123456789012:assumed-role/agents/\(session)")
        // Secrets appear on stdout only.
        let secret = try #require(credentials["SecretAccessKey"] as? String)
        #expect(!run.stderr.contains(secret))
        #expect(!run.stderr.contains(credentials["SessionToken"] as? String ?? "-"))
        #expect(run.stderr.contains("explain: lifetime: 900s"))
    }

    @Test func credentialProcessWorksWithTheAWSCLI() throws {
        let token = try tokenFile(try peers.mint())
        let config = dir.appendingPathComponent("config")
        let command = [clawcBinary.path, "issue", "--rules", Repo.path("rules"), "--task", Repo.path(Self.task),
                       "--token-file", token, "--role-arn", Self.role, "--issuer", peers.issuer.absoluteString, "--format", "credential-process",
                       "--ledger", dir.appendingPathComponent("ledger.sqlite").path, "--no-trust-policy"]
        try "[profile agent]\ncredential_process = \(command.joined(separator: " "))\nregion = us-east-1\n"
            .write(to: config, atomically: true, encoding: .utf8)
        let run = try runProgram(URL(fileURLWithPath: "/usr/bin/env"), ["aws", "sts", "get-caller-identity", "--output", "text", "--query", "Arn"], environment: [
            "AWS_CONFIG_FILE": config.path, "AWS_SHARED_CREDENTIALS_FILE": dir.appendingPathComponent("none").path,
            "AWS_PROFILE": "agent", "AWS_ENDPOINT_URL_STS": peers.sts.absoluteString, "AWS_ENDPOINT_URL": peers.sts.absoluteString,
        ])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("assumed-role/agents/system=3Aserviceaccount=3Aagents=3Alog-bot@t-42"), "\(run.stdout)")
    }

    /// How many audit records of `event` a ledger holds, read with Python's own sqlite3 (no clawc code involved).
    static func auditCount(_ ledger: String, _ event: String) throws -> Int {
        let run = try runProgram(URL(fileURLWithPath: "/usr/bin/env"), [
            "python3", "-c", "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT count(*) FROM audit WHERE event = ?', (sys.argv[2],)).fetchone()[0])",
            ledger, event,
        ])
        return Int(run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    /// Review finding: botocore refreshes a credential 15 minutes before it expires, so a 900 s credential is
    /// refreshed at once; clawc answered `already-issued`, and from 10 minutes before expiry botocore raised
    /// `CredentialRetrievalError`. botocore's `RefreshableCredentials`, on a clock the test moves through the whole
    /// lifetime, now gets the same credential on every refresh, and STS is called once.
    @Test func botocoreRefreshesTheSameCredentialThroughItsWholeLife() throws {
        let ledger = dir.appendingPathComponent("ledger.sqlite").path
        let command = [clawcBinary.path, "issue", "--rules", Repo.path("rules"), "--task", Repo.path(Self.task),
                       "--token-file", try tokenFile(try peers.mint(["exp": Int(Date().timeIntervalSince1970) + 3600])), "--role-arn", Self.role,
                       "--issuer", peers.issuer.absoluteString, "--format", "credential-process", "--ledger", ledger, "--no-trust-policy"]
        let run = try runProgram(URL(fileURLWithPath: "/usr/bin/env"), ["python3", Repo.path("Tests/peers/botocore_refresh.py"), "60", "--"] + command,
                                 environment: ["AWS_ENDPOINT_URL_STS": peers.sts.absoluteString, "AWS_REGION": "us-east-1"])
        #expect(run.status == 0, "\(run.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], "\(run.stdout) \(run.stderr)")
        #expect(report["error"] is NSNull, "\(report)")
        #expect(report["lifetime"] as? Int ?? 0 >= 890, "\(report)")
        #expect(report["uses"] as? Int == 14, "\(report)")
        #expect((report["keys"] as? [String])?.count == 1, "\(report)")
        #expect(report["refreshes"] as? Int ?? 0 >= 14, "every use inside the refresh windows asks again: \(report)")
        #expect(try Self.auditCount(ledger, "issued") == 1)
        #expect(try Self.auditCount(ledger, "returned") == (report["refreshes"] as? Int ?? 0) - 1)
    }

    /// The README's `credential_process` profile with the real AWS CLI, at points through a 15-minute credential's
    /// life (the clock moved with libfaketime for the CLI and the clawc it starts): every call works, on one credential.
    @Test func theAWSCLIKeepsWorkingAcrossASimulatedCredentialLifetime() throws {
        let faketime = try #require(["/usr/bin/faketime", "/usr/local/bin/faketime"].first { FileManager.default.isExecutableFile(atPath: $0) },
                                    "this test needs faketime (Debian package `faketime`; .ci/run installs it)")
        let ledger = dir.appendingPathComponent("ledger.sqlite").path
        let config = dir.appendingPathComponent("config")
        let command = [clawcBinary.path, "issue", "--rules", Repo.path("rules"), "--task", Repo.path(Self.task),
                       "--token-file", try tokenFile(try peers.mint(["exp": Int(Date().timeIntervalSince1970) + 3600])), "--role-arn", Self.role,
                       "--issuer", peers.issuer.absoluteString, "--format", "credential-process", "--ledger", ledger, "--no-trust-policy"]
        try "[profile agent]\ncredential_process = \(command.joined(separator: " "))\nregion = us-east-1\n"
            .write(to: config, atomically: true, encoding: .utf8)
        let environment = [
            "AWS_CONFIG_FILE": config.path, "AWS_SHARED_CREDENTIALS_FILE": dir.appendingPathComponent("none").path,
            "AWS_PROFILE": "agent", "AWS_ENDPOINT_URL_STS": peers.sts.absoluteString, "AWS_ENDPOINT_URL": peers.sts.absoluteString,
        ]
        let start = Date()
        for offset in [0, 240, 420, 600, 780, 870] {
            // The credential expires 900 s after it was issued; keep the simulated time inside that.
            let fake = offset - Int(Date().timeIntervalSince(start))
            let run = try runProgram(URL(fileURLWithPath: faketime), ["-f", "\(fake >= 0 ? "+" : "")\(fake)", "aws", "sts", "get-caller-identity",
                                                                      "--output", "text", "--query", "Arn"], environment: environment)
            #expect(run.status == 0, "at +\(offset)s: \(run.stderr)")
            #expect(run.stdout.contains("assumed-role/agents/system=3Aserviceaccount=3Aagents=3Alog-bot@t-42"), "at +\(offset)s: \(run.stdout)")
        }
        #expect(try Self.auditCount(ledger, "issued") == 1)
        #expect(try Self.auditCount(ledger, "returned") >= 5)
    }

    @Test func envFormatExportsTheFourVariables() throws {
        let run = try issue(token: try peers.mint(), extra: ["--format", "env"])
        #expect(run.status == 0, "\(run.stderr)")
        for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CREDENTIAL_EXPIRATION"] {
            #expect(run.stdout.contains("export \(name)='"))
        }
    }

    /// Hostile and broken tokens: each refused with exit 1 and its own code, and STS never called.
    @Test func hostileTokensAreRefusedBeforeSTS() throws {
        let now = Int(Date().timeIntervalSince1970)
        let pem = String(decoding: try peers.get("rsa-public.pem"), as: UTF8.self)
        let valid = try peers.mint()
        let parts = valid.split(separator: ".").map(String.init)
        let forgedPayload = Data(#"{"iss":"\#(peers.issuer.absoluteString)","aud":"sts.amazonaws.com","sub":"system:serviceaccount:kube-system:admin","exp":\#(now + 600)}"#.utf8)
            .base64EncodedString().replacingOccurrences(of: "=", with: "").replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        let cases: [(String, String, String)] = [
            ("alg none", try peers.mint([:], alg: "none"), "token-algorithm"),
            ("HS256 keyed with the RSA public key", try peers.mint([:], alg: "HS256", extra: ["hmac_secret": pem]), "token-algorithm"),
            ("unknown kid", try peers.mint([:], extra: ["kid": "no-such-key"]), "token-key"),
            ("tampered payload", "\(parts[0]).\(forgedPayload).\(parts[2])", "token-signature"),
            ("expired", try peers.mint(["exp": now - 3600, "iat": now - 7200, "nbf": now - 7200]), "token-expired"),
            ("not yet valid", try peers.mint(["nbf": now + 3600]), "token-not-yet-valid"),
            ("wrong issuer", try peers.mint(["iss": "https://issuer.example"]), "token-issuer"),
            ("wrong audience", try peers.mint(["aud": "someone-else"]), "token-audience"),
            ("no subject", try peers.mint(["sub": NSNull()]), "token-subject"),
            ("ES256 (STS accepts RS256 only)", try peers.mint([:], alg: "ES256"), "token-algorithm"),
            ("not a JWT", "hello", "token-malformed"),
        ]
        for (name, token, code) in cases {
            let run = try issue(token: token, sts: Self.nowhere)
            #expect(run.status == 1, "\(name): exit \(run.status): \(run.stderr)")
            #expect(run.stderr.contains("[\(code)]"), "\(name): \(run.stderr)")
            #expect(run.stdout.isEmpty, "\(name)")
        }
    }

    @Test func aOneMegabyteTokenIsRefused() throws {
        let run = try issue(token: String(repeating: "a", count: 1 << 20), sts: Self.nowhere)
        #expect(run.status == 1)
        #expect(run.stderr.contains("[token-too-large]"), "\(run.stderr)")
    }

    /// An IdP that is down or answers nonsense is an upstream failure (exit 3, as the CLI contract says for an
    /// unreachable IdP), not a refused token (exit 1); nothing is issued either way.
    @Test(arguments: ["down", "garbage", "redirect"])
    func aBrokenJWKSEndpointIsAnUpstreamFailure(mode: String) throws {
        let token = try peers.mint()
        _ = try peers.control("jwks-mode", ["mode": mode])
        defer { _ = try? peers.control("jwks-mode", ["mode": "normal"]) }
        let run = try issue(token: token, sts: Self.nowhere)
        #expect(run.status == 3, "\(run.stderr)")
        #expect(run.stderr.contains("[issuer-unavailable]"), "\(run.stderr)")
        #expect(run.stdout.isEmpty)
    }

    /// Review findings: one key clawc can't use (an `oct`, `RSA-OAEP-256`, `secp256k1` or `X25519` key) made the
    /// whole JWKS unusable, and of two keys sharing a `kid` only the first was tried. Now such keys are skipped
    /// (RFC 7517 §5) and every key with the token's `kid` is tried: the token gets as far as STS.
    @Test func aJWKSWithKeysClawcCannotUseAndADuplicateKidStillVerifies() throws {
        let token = try peers.mint()
        _ = try peers.control("jwks-mode", ["mode": "mixed"])
        defer { _ = try? peers.control("jwks-mode", ["mode": "normal"]) }
        let run = try issue(token: token, sts: Self.nowhere)
        #expect(run.status == 3 && run.stderr.contains("[sts-unavailable]"), "\(run.stderr)")
    }

    /// RFC 7515 §4.1.11: a `crit` header names extensions the recipient must understand; clawc understands none.
    @Test func aCritHeaderIsRefused() throws {
        let run = try issue(token: try peers.mint([:], extra: ["header": ["crit": ["exp"]]]), sts: Self.nowhere)
        #expect(run.status == 1 && run.stderr.contains("[token-malformed]") && run.stderr.contains("`crit`"), "\(run.stderr)")
    }

    @Test func unreachableSTSIsAnUpstreamFailure() throws {
        let run = try issue(token: try peers.mint(), sts: Self.nowhere)
        #expect(run.status == 3, "\(run.stderr)")
        #expect(run.stderr.contains("[sts-unavailable]"))
    }

    /// A 5xx does not show that STS did nothing: it may have issued a credential before failing. It was retried
    /// (four calls), which could issue a second credential for the task; now it is one call, an unknown outcome.
    /// `clawc issue` against the peer's failing STS, and how many calls reached it.
    func issueAgainstFailingSTS(status: Int, code: String) throws -> (run: ProcessRun, calls: Int) {
        let failing = peers.issuer.appendingPathComponent("sts-error").absoluteString + "?status=\(status)&code=\(code)"
        let before = try peers.control("sts-error-count")["count"] as? Int ?? 0
        let run = try issue(token: try peers.mint(), sts: failing)
        let after = try peers.control("sts-error-count")["count"] as? Int ?? 0
        return (run, after - before)
    }

    @Test func stsServerErrorsAreNotRetriedAndExitThree() throws {
        let (run, calls) = try issueAgainstFailingSTS(status: 500, code: "InternalFailure")
        #expect(run.status == 3, "\(run.stderr)")
        #expect(run.stderr.contains("STS InternalFailure"), "\(run.stderr)")
        #expect(run.stderr.contains("stays `issuing`"), "\(run.stderr)")
        #expect(calls == 1, "one call: a retry could issue a second credential")
    }

    /// Throttling says STS did nothing: retried with backoff, four calls in all.
    @Test func stsThrottlingIsRetried() throws {
        let (run, calls) = try issueAgainstFailingSTS(status: 400, code: "Throttling")
        #expect(run.status != 0, "\(run.stderr)")
        #expect(calls == 4, "four attempts, then give up")
    }

    @Test func stsRefusalsAreNotRetried() throws {
        let (run, calls) = try issueAgainstFailingSTS(status: 400, code: "InvalidIdentityToken")
        #expect(run.status == 1, "\(run.stderr)")
        #expect(run.stderr.contains("help: STS could not validate the token"), "\(run.stderr)")
        #expect(calls == 1)
    }

    @Test func aTokenBoundToAnotherTaskIsRefused() throws {
        let token = try peers.mint(["https://aws.amazon.com/tags": ["principal_tags": ["TaskID": ["t-other"]], "transitive_tag_keys": ["TaskID"]]])
        let run = try issue(token: token, sts: Self.nowhere)
        #expect(run.status == 1)
        #expect(run.stderr.contains("[token-task-mismatch]"), "\(run.stderr)")
    }

    /// Review findings: tag keys are case-insensitive in IAM, so `taskid` or `TaskId` binds as `TaskID` does, and
    /// a `TaskID` that is not one string refuses the token instead of being ignored.
    @Test func taskBindingReadsTagKeysWithoutCaseAndRefusesWhatIsNotOneString() throws {
        let bindings: [(String, [String: Any])] = [
            ("taskid", ["taskid": ["t-other"]]), ("TaskId", ["TaskId": "t-other"]), ("empty list", ["TaskID": [String]()]),
            ("a number", ["TaskID": [7]]), ("two values", ["TaskID": ["t-42", "t-other"]]), ("two keys", ["TaskID": ["t-42"], "taskid": ["t-42"]]),
        ]
        for (name, tags) in bindings {
            let token = try peers.mint(["https://aws.amazon.com/tags": ["principal_tags": tags, "transitive_tag_keys": Array(tags.keys)]])
            let run = try issue(token: token, sts: Self.nowhere)
            #expect(run.status == 1 && run.stderr.contains("[token-task-mismatch]"), "\(name): \(run.stderr)")
        }
        let lower = try peers.mint(["https://aws.amazon.com/tags": ["principal_tags": ["taskid": ["t-42"]], "transitive_tag_keys": ["taskid"]]])
        let run = try issue(token: lower, sts: Self.nowhere)
        #expect(run.status == 3 && run.stderr.contains("[sts-unavailable]"), "bound to this very task, it gets as far as STS: \(run.stderr)")
    }

    /// Review findings: a token with no `jti` was replayable for any number of tasks; a non-string `jti` too; an
    /// `exp` of 1e19 crashed clawc.
    @Test func aTokenWithoutAStringJTIIsStillUsedOnce() throws {
        let ledger = dir.appendingPathComponent("replay.sqlite").path
        let token = try peers.mint(["jti": NSNull()])
        func run(_ task: String, _ token: String) throws -> ProcessRun {
            let url = dir.appendingPathComponent("task-\(task).yaml")
            try "taskId: \(task)\npurpose: log-analysis\ntags: {bucket: acme-logs-123}\n".write(to: url, atomically: true, encoding: .utf8)
            return try runClawc(
                ["issue", "--rules", "rules", "--task", url.path, "--token-file", try tokenFile(token), "--role-arn", Self.role,
                 "--issuer", peers.issuer.absoluteString, "--ledger", ledger, "--no-trust-policy"],
                environment: ["AWS_ENDPOINT_URL_STS": peers.sts.absoluteString, "AWS_REGION": "us-east-1"])
        }
        let first = try run("replay-1", token)
        #expect(first.status == 0, "\(first.stderr)")
        let second = try run("replay-2", token)
        #expect(second.status == 1 && second.stderr.contains("[token-reused]"), "\(second.stderr)")

        let numeric = try run("replay-3", try peers.mint(["jti": 12345]))
        #expect(numeric.status == 1 && numeric.stderr.contains("[token-claim]"), "\(numeric.stderr)")
        let farFuture = try run("replay-4", try peers.mint(["exp": 1e19]))
        #expect(farFuture.status == 1 && farFuture.stderr.contains("[token-claim]"), "\(farFuture.stderr)")
        #expect(!farFuture.stderr.contains("Fatal error"))
    }

    /// In process: the JWKS is cached for its TTL and fetched again once when a token names a new key.
    @Test func jwksIsCachedAndRefreshedOnKeyRotation() async throws {
        let validator = TokenValidator(issuer: peers.issuer.absoluteString, audience: "sts.amazonaws.com", cache: JWKSCache(ttl: 300))
        func fetches() throws -> Int { (try JSONSerialization.jsonObject(with: try peers.get("stats")) as? [String: Int])?["jwks_requests"] ?? -1 }
        let start = try fetches()
        _ = try await validator.validate(try peers.mint())
        _ = try await validator.validate(try peers.mint())
        #expect(try fetches() - start == 1, "the second validation uses the cache")
        _ = try peers.control("rotate", ["keep_old": true])
        let rotated = try await validator.validate(try peers.mint())
        #expect(rotated.subject == "system:serviceaccount:agents:log-bot")
        #expect(try fetches() - start == 2, "an unknown kid refreshes once")
    }
}
}
