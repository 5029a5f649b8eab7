import ClawcRuntime
import Foundation
import Testing

extension PeerSuites {
/// `clawc issue --via scoped` against a local STS that follows botocore 1.44.8's model of GetScopedCredentials:
/// it parses each request with the model, recomputes the SigV4 signature, and enforces lifetimes and layers.
@Suite struct ScopedTests {
    let peer: ScopedPeer
    let dir: URL
    let ledger: String

    init() throws {
        peer = try ScopedPeer.get()
        dir = try temporaryDirectory()
        ledger = dir.appendingPathComponent("ledger.sqlite").path
    }

    func taskFile(_ id: String, purpose: String = "inventory-query", estimate: String = "90s", tags: String = "") throws -> String {
        let url = dir.appendingPathComponent("task-\(id).yaml")
        try "taskId: \(id)\npurpose: \(purpose)\nestimatedDuration: \(estimate)\n\(tags)".write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func issue(_ task: String, caller: [String: String], extra: [String] = [], expiration: String? = nil) throws -> ProcessRun {
        var environment = [
            "AWS_ACCESS_KEY_ID": caller["AccessKeyId"] ?? "", "AWS_SECRET_ACCESS_KEY": caller["SecretAccessKey"] ?? "",
            "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_STS": peer.url.absoluteString,
        ]
        if let token = caller["SessionToken"] { environment["AWS_SESSION_TOKEN"] = token }
        if let expiration { environment["AWS_CREDENTIAL_EXPIRATION"] = expiration }
        return try runClawc(["issue", "--via", "scoped", "--rules", "rules", "--task", task, "--ledger", ledger] + extra, environment: environment)
    }

    func credentials(_ run: ProcessRun) throws -> [String: String] {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], "\(run.stderr)")
        return object.compactMapValues { $0 as? String }
    }

    func lastCall() throws -> [String: Any] { try #require(try peer.calls().last) }

    /// `revoke --task` on a scoped task: refused with what it would cost, or, with `--cut-caller-session`, the
    /// caller's session denied by `aws:userid` in moto's IAM and every task cut from that session marked revoked.
    @Test func revokingAScopedTaskCutsTheCallersSessionOnlyWhenAsked() async throws {
        let roleName = "orch-\(UUID().uuidString.prefix(8))"
        let orchestrator = try peer.session(arn: "arn:aws:sts::123456789012:assumed-role/\(roleName)/orch-1")
        #expect(try issue(try taskFile("rv-1"), caller: orchestrator).status == 0)
        #expect(try issue(try taskFile("rv-2"), caller: orchestrator).status == 0)
        #expect(try await Ledger(path: ledger).entry(task: "rv-1")?.state == .issued, "a scoped row is never `sealed`: no trust policy was edited")

        let iam = try Peers.get()
        _ = try RevocationTests.boto(iam, """
            iam.create_role(RoleName=sys.argv[2], AssumeRolePolicyDocument='{"Version":"2012-10-17","Statement":[]}')
            """, [roleName])
        var environment = RevocationTests.orchestrator
        environment["AWS_ENDPOINT_URL_IAM"] = iam.sts.absoluteString
        let refused = try runClawc(["revoke", "--task", "rv-1", "--ledger", ledger], environment: environment)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("[scoped-revocation]") && refused.stderr.contains("--cut-caller-session"), "\(refused.stderr)")
        #expect(try await Ledger(path: ledger).entry(task: "rv-1")?.state == .issued)

        let cut = try runClawc(["revoke", "--task", "rv-1", "--cut-caller-session", "--ledger", ledger], environment: environment)
        #expect(cut.status == 0, "\(cut.stderr)")
        #expect(cut.stderr.contains("`rv-1`, `rv-2`"), "\(cut.stderr)")
        let document = try RevocationTests.boto(iam, """
            doc = iam.get_role_policy(RoleName=sys.argv[2], PolicyName="ClawcRevokedSessions")["PolicyDocument"]
            print(doc if isinstance(doc, str) else json.dumps(doc))
            """, [roleName])
        #expect(document.contains("aws:userid") && document.contains(":orch-1"), "\(document)")
        #expect(try await Ledger(path: ledger).entry(task: "rv-2")?.state == .revoked)
    }

    @Test func aTwoMinuteCredentialForANinetySecondTask() async throws {
        let orchestrator = try peer.session()
        let run = try issue(try taskFile("short-1"), caller: orchestrator, extra: ["--subject", "system:serviceaccount:agents:inv-bot", "--explain"])
        #expect(run.status == 0, "\(run.stderr)")
        let credentials = try credentials(run)
        let expiration = try #require(credentials["Expiration"].flatMap(AWSDate.parse))
        #expect(abs(expiration.timeIntervalSinceNow - 120) < 10, "\(expiration)")
        let call = try lastCall()
        #expect(call["status"] as? Int == 200)
        let params = try #require(call["params"] as? [String: Any])
        #expect(params["DurationSeconds"] as? Int == 120)
        let description = try #require(params["ScopedSessionDescription"] as? String)
        #expect(description == "clawc purpose=inventory-query task=short-1 subject=system:serviceaccount:agents:inv-bot")
        #expect((params["Policy"] as? String)?.contains("ec2:DescribeInstances") == true)
        #expect(try await Ledger(path: ledger).entry(task: "short-1")?.via == .scoped)
        #expect(!run.stderr.contains(credentials["SecretAccessKey"] ?? "-"))
    }

    /// orchestrator → agent → sub-agent → sub-sub-agent: three scope-down layers, each inside its parent; a fourth
    /// is refused before STS is called.
    @Test func aThreeLevelChainAndNoFourth() async throws {
        let orchestrator = try peer.session()
        let agent = try credentials(try issue(try taskFile("chain-1", estimate: "20m"), caller: orchestrator))
        let sub = try credentials(try issue(try taskFile("chain-2", estimate: "10m"), caller: agent, extra: ["--parent-task", "chain-1"]))
        let third = try issue(try taskFile("chain-3", estimate: "5m"), caller: sub, extra: ["--parent-task", "chain-2"])
        #expect(third.status == 0, "\(third.stderr)")
        let subSub = try credentials(third)
        let entries = try Ledger(path: ledger)
        #expect(try await entries.entry(task: "chain-3")?.layers == 3)
        let before = try peer.calls().count
        let fourth = try issue(try taskFile("chain-4", estimate: "1m"), caller: subSub, extra: ["--parent-task", "chain-3"])
        #expect(fourth.status == 1)
        #expect(fourth.stderr.contains("[too-many-layers]"), "\(fourth.stderr)")
        #expect(try peer.calls().count == before, "refused before calling STS")
    }

    @Test func aSubTaskWiderThanItsParentIsRefused() throws {
        let orchestrator = try peer.session()
        let parent = try credentials(try issue(try taskFile("wide-1", estimate: "10m"), caller: orchestrator))
        let before = try peer.calls().count
        let run = try issue(try taskFile("wide-2", estimate: "5m", tags: "tags: {region: eu-west-1}\n"), caller: parent, extra: ["--parent-task", "wide-1"])
        #expect(run.status == 1)
        #expect(run.stderr.contains("[exceeds-parent]"), "\(run.stderr)")
        #expect(try peer.calls().count == before)
    }

    @Test func aSubTaskMustRunWithItsParentsCredentials() throws {
        let orchestrator = try peer.session()
        _ = try credentials(try issue(try taskFile("own-1", estimate: "10m"), caller: orchestrator))
        let run = try issue(try taskFile("own-2", estimate: "5m"), caller: orchestrator, extra: ["--parent-task", "own-1"])
        #expect(run.status == 1)
        #expect(run.stderr.contains("[parent-mismatch]"), "\(run.stderr)")
    }

    @Test func longTermKeysAreRefused() throws {
        let keys = try peer.session(arn: "arn:aws:iam::123456789012:user/alice", longTerm: true)
        let before = try peer.calls().count
        let run = try issue(try taskFile("lt-1"), caller: keys)
        #expect(run.status == 1)
        #expect(run.stderr.contains("[long-term-credentials]"), "\(run.stderr)")
        #expect(try peer.calls().count == before)
    }

    @Test func neverPastTheCallersLifetime() async throws {
        // Known expiration: checked before calling.
        let short = try peer.session(expiresIn: 45)
        let run = try issue(try taskFile("life-1"), caller: short, expiration: AWSDate.format(Date(timeIntervalSinceNow: 45)))
        #expect(run.status == 1)
        #expect(run.stderr.contains("[insufficient-session-lifetime]"), "\(run.stderr)")
        // A credential is cut to the caller's remaining lifetime when that is above the rule's floor.
        let medium = try peer.session(expiresIn: 100)
        let cut = try issue(try taskFile("life-2"), caller: medium, expiration: AWSDate.format(Date(timeIntervalSinceNow: 100)))
        #expect(cut.status == 0, "\(cut.stderr)")
        // Unknown expiration: STS's InsufficientSessionLifetime is mapped to a clear refusal.
        let unknown = try peer.session(expiresIn: 60)
        let mapped = try issue(try taskFile("life-3"), caller: unknown)
        #expect(mapped.status == 1)
        #expect(mapped.stderr.contains("STS InsufficientSessionLifetime"), "\(mapped.stderr)")
        #expect(mapped.stderr.contains("help: the scoped credential would outlive the caller's session"))
        #expect(try await Ledger(path: ledger).entry(task: "life-3")?.state == .failed)
    }

    @Test func oneTaskOneScopedCredential() throws {
        let orchestrator = try peer.session()
        #expect(try issue(try taskFile("once-1"), caller: orchestrator).status == 0)
        let again = try issue(try taskFile("once-1"), caller: orchestrator)
        #expect(again.status == 1)
        #expect(again.stderr.contains("[already-issued]"))
    }

    @Test func theGlobalEndpointIsRefused() throws {
        let orchestrator = try peer.session()
        let run = try runClawc(["issue", "--via", "scoped", "--rules", "rules", "--task", try taskFile("global-1"), "--ledger", ledger],
                               environment: ["AWS_ACCESS_KEY_ID": orchestrator["AccessKeyId"] ?? "", "AWS_SECRET_ACCESS_KEY": orchestrator["SecretAccessKey"] ?? "",
                                             "AWS_SESSION_TOKEN": orchestrator["SessionToken"] ?? "", "AWS_REGION": "us-east-1",
                                             "AWS_ENDPOINT_URL_STS": "https://sts.amazonaws.com"])
        #expect(run.status == 1)
        #expect(run.stderr.contains("[global-endpoint]"))
    }
}
}
