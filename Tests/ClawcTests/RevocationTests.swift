import ClawcRuntime
import Foundation
import Testing

/// One task, one credential: the ledger, trust-policy revocation, live-session revoke, sweep and the audit log,
/// against moto as IAM/STS. Serialized with the other suites that use the peers' failure modes.
extension PeerSuites {
@Suite struct RevocationTests {
    let peers: Peers
    let dir: URL
    let roleName: String
    let roleARN: String
    let ledger: String
    static let orchestrator = ["AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"]

    init() throws {
        peers = try Peers.withNormalKeys()
        dir = try temporaryDirectory()
        roleName = "agents-\(UUID().uuidString.prefix(8))"
        ledger = dir.appendingPathComponent("ledger.sqlite").path
        let emitted = try runClawc(["emit", "trust-policy", "--provider-arn", "arn:aws:iam::123456789012:oidc-provider/127.0.0.1"])
        #expect(emitted.status == 0, "\(emitted.stderr)")
        roleARN = try Self.boto(peers, """
            r = iam.create_role(RoleName=sys.argv[2], AssumeRolePolicyDocument=sys.argv[3])
            print(r["Role"]["Arn"])
            """, [roleName, emitted.stdout])
    }

    /// Runs boto3 against moto; `iam` and `sts` clients are ready, `sys.argv[1]` is moto's address.
    static func boto(_ peers: Peers, _ body: String, _ arguments: [String] = []) throws -> String {
        let script = """
            import boto3, json, sys
            kw = dict(endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
            iam = boto3.client("iam", **kw)
            sts = boto3.client("sts", **kw)
            """ + "\n" + body
        let run = try runProgram(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", script, peers.sts.absoluteString] + arguments)
        guard run.status == 0 else { throw Peers.PeersError(description: "boto3 failed: \(run.stderr)") }
        return run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func trustedTaskIDs() throws -> Set<String> {
        let document = try Self.boto(peers, """
            doc = iam.get_role(RoleName=sys.argv[2])["Role"]["AssumeRolePolicyDocument"]
            print(doc if isinstance(doc, str) else json.dumps(doc))
            """, [roleName])
        return try TrustPolicy.revokedTaskIDs(in: document)
    }

    func taskFile(_ id: String) throws -> String {
        let url = dir.appendingPathComponent("task-\(id).yaml")
        try "taskId: \(id)\npurpose: inventory-query\nestimatedDuration: 5m\n".write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func issue(task: String, token: String? = nil, iam: String? = nil, sts: String? = nil, extra: [String] = []) throws -> ProcessRun {
        let tokenURL = dir.appendingPathComponent("token-\(UUID().uuidString)")
        try (token ?? peers.mint()).write(to: tokenURL, atomically: true, encoding: .utf8)
        var environment = Self.orchestrator
        environment["AWS_ENDPOINT_URL_STS"] = sts ?? peers.sts.absoluteString
        environment["AWS_ENDPOINT_URL_IAM"] = iam ?? peers.sts.absoluteString
        return try runClawc(["issue", "--rules", "rules", "--task", try taskFile(task), "--token-file", tokenURL.path,
                             "--role-arn", roleARN, "--issuer", peers.issuer.absoluteString, "--ledger", ledger] + extra, environment: environment)
    }

    func clawc(_ arguments: [String], iam: String? = nil) throws -> ProcessRun {
        var environment = Self.orchestrator
        environment["AWS_ENDPOINT_URL_IAM"] = iam ?? peers.sts.absoluteString
        return try runClawc(arguments + ["--ledger", ledger], environment: environment)
    }

    @Test func aTaskGetsOneCredentialAndItsIDLandsInTheTrustPolicy() async throws {
        let first = try issue(task: "inv-1")
        #expect(first.status == 0, "\(first.stderr)")
        #expect(try trustedTaskIDs() == ["inv-1"])
        #expect(try await Ledger(path: ledger).entry(task: "inv-1")?.state == .sealed)

        // Again, with a fresh token: refused by the ledger before STS (which is unreachable here).
        let second = try issue(task: "inv-1", sts: "http://127.0.0.1:1")
        #expect(second.status == 1)
        #expect(second.stderr.contains("[already-issued]"), "\(second.stderr)")
        #expect(second.stdout.isEmpty)
    }

    @Test func aTokenIsUsedOnce() throws {
        let token = try peers.mint()
        #expect(try issue(task: "jti-a", token: token).status == 0)
        let again = try issue(task: "jti-b", token: token, sts: "http://127.0.0.1:1")
        #expect(again.status == 1)
        #expect(again.stderr.contains("[token-reused]"), "\(again.stderr)")
    }

    /// 50 processes at once for one task: exactly one credential.
    @Test func fiftyConcurrentIssuersForOneTaskGetOneCredential() async throws {
        let task = try taskFile("race-1")
        var tokens: [String] = []
        for _ in 0..<50 {
            let url = dir.appendingPathComponent("token-\(UUID().uuidString)")
            try peers.mint().write(to: url, atomically: true, encoding: .utf8)
            tokens.append(url.path)
        }
        var environment = Self.orchestrator
        environment["AWS_ENDPOINT_URL_STS"] = peers.sts.absoluteString
        environment["AWS_ENDPOINT_URL_IAM"] = peers.sts.absoluteString
        let (roleARN, ledger, issuer, env) = (self.roleARN, self.ledger, peers.issuer.absoluteString, environment)
        let runs = try await withThrowingTaskGroup(of: ProcessRun.self) { group in
            for token in tokens {
                group.addTask {
                    try runClawc(["issue", "--rules", "rules", "--task", task, "--token-file", token, "--role-arn", roleARN,
                                  "--issuer", issuer, "--ledger", ledger], environment: env)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(runs.filter { $0.status == 0 }.count == 1, "\(runs.filter { $0.status != 0 && !$0.stderr.contains("already-issued") }.map(\.stderr))")
        let others = runs.filter { $0.status != 0 && !$0.stderr.contains("[already-issued]") }
        #expect(runs.filter { $0.status == 1 && $0.stderr.contains("[already-issued]") }.count == 49, "\(others.map { "exit \($0.status): \($0.stderr)" })")
        #expect(try trustedTaskIDs() == ["race-1"])
    }

    /// 50 processes at once for 50 tasks: every task ID ends up in the trust policy; no edit is lost.
    @Test func fiftyConcurrentIssuersForFiftyTasksLoseNoTrustPolicyEntry() async throws {
        var jobs: [(String, String)] = []
        for index in 0..<50 {
            let url = dir.appendingPathComponent("token-\(UUID().uuidString)")
            try peers.mint().write(to: url, atomically: true, encoding: .utf8)
            jobs.append((try taskFile("many-\(index)"), url.path))
        }
        var environment = Self.orchestrator
        environment["AWS_ENDPOINT_URL_STS"] = peers.sts.absoluteString
        environment["AWS_ENDPOINT_URL_IAM"] = peers.sts.absoluteString
        let (roleARN, ledger, issuer, env) = (self.roleARN, self.ledger, peers.issuer.absoluteString, environment)
        let runs = try await withThrowingTaskGroup(of: ProcessRun.self) { group in
            for (task, token) in jobs {
                group.addTask {
                    try runClawc(["issue", "--rules", "rules", "--task", task, "--token-file", token, "--role-arn", roleARN,
                                  "--issuer", issuer, "--ledger", ledger], environment: env)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(runs.allSatisfy { $0.status == 0 }, "\(runs.filter { $0.status != 0 }.map(\.stderr).prefix(3))")
        #expect(try trustedTaskIDs() == Set((0..<50).map { "many-\($0)" }))
        #expect(try await Ledger(path: ledger).entries(in: [.sealed]).count == 50)
    }

    @Test(arguments: ["status=500&code=ServiceFailure", "status=500&code=ServiceFailure&delay=8"])
    func anIAMFailureAfterSTSLeavesTheRowPendingForSweep(fault: String) async throws {
        let failing = peers.issuer.appendingPathComponent("sts-error").absoluteString + "?" + fault
        let run = try issue(task: "fault-1", iam: failing)
        #expect(run.status == 0, "the credential is returned: \(run.stderr)")
        #expect(!run.stdout.isEmpty)
        #expect(run.stderr.contains("clawc: warning: revocation pending"), "\(run.stderr)")
        #expect(try await Ledger(path: ledger).entry(task: "fault-1")?.state == .pending)
        #expect(try trustedTaskIDs().isEmpty)

        let sweep = try clawc(["sweep"])
        #expect(sweep.status == 0, "\(sweep.stderr)")
        #expect(try await Ledger(path: ledger).entry(task: "fault-1")?.state == .sealed)
        #expect(try trustedTaskIDs() == ["fault-1"])
        // Twice is harmless.
        #expect(try clawc(["sweep"]).status == 0)
    }

    func sessionDenials() throws -> String {
        try Self.boto(peers, """
            try:
                doc = iam.get_role_policy(RoleName=sys.argv[2], PolicyName="ClawcRevokedSessions")["PolicyDocument"]
                print(doc if isinstance(doc, str) else json.dumps(doc))
            except iam.exceptions.NoSuchEntityException:
                print("")
            """, [roleName])
    }

    /// Review finding: a 5xx, a reset or a malformed 200 from STS marked the row `failed`, so the next run issued a
    /// second credential. An outcome clawc did not see stays `issuing`: refused again, and revocable.
    @Test func anUnknownSTSOutcomeStaysIssuingAndCanBeRevoked() async throws {
        let failing = peers.issuer.appendingPathComponent("sts-error").absoluteString + "?status=500&code=InternalFailure"
        let run = try issue(task: "unknown-1", sts: failing)
        #expect(run.status == 3, "\(run.stderr)")
        #expect(run.stderr.contains("stays `issuing`"), "\(run.stderr)")
        #expect(try await Ledger(path: ledger).entry(task: "unknown-1")?.state == .issuing)
        let again = try issue(task: "unknown-1")
        #expect(again.status == 1 && again.stderr.contains("[already-issued]"), "\(again.stderr)")

        let revoke = try clawc(["revoke", "--task", "unknown-1"])
        #expect(revoke.status == 0, "\(revoke.stderr)")
        #expect(try sessionDenials().contains("@unknown-1"))
        #expect(try await Ledger(path: ledger).entry(task: "unknown-1")?.state == .revoked)
    }

    /// Review finding: `sweep` only reported stale `issuing` rows, after 600 s. Now it denies the task in the trust
    /// policy and cuts its known session.
    @Test func sweepDeniesAndCutsStaleIssuingRows() async throws {
        let failing = peers.issuer.appendingPathComponent("sts-error").absoluteString + "?status=500&code=InternalFailure"
        #expect(try issue(task: "unknown-2", sts: failing).status == 3)
        let sweep = try clawc(["sweep", "--stale-after", "0"])
        #expect(sweep.status == 0, "\(sweep.stderr)")
        #expect(sweep.stderr.contains("outcome unknown"), "\(sweep.stderr)")
        #expect(try trustedTaskIDs().contains("unknown-2"))
        #expect(try sessionDenials().contains("@unknown-2"))
        #expect(try await Ledger(path: ledger).entry(task: "unknown-2")?.state == .revoked)
    }

    @Test func aFullTrustPolicyLeavesTheRowPending() async throws {
        let run = try issue(task: "full-1", extra: ["--trust-policy-limit", "300"])
        #expect(run.status == 0)
        #expect(run.stderr.contains("over its limit of 300"), "\(run.stderr)")
        #expect(try await Ledger(path: ledger).entry(task: "full-1")?.state == .pending)
    }

    @Test func sweepPrunesEntriesWhoseSessionAndTokenExpired() async throws {
        #expect(try issue(task: "live-1").status == 0)
        let store = try Ledger(path: ledger)
        let old = Ledger.Entry(taskID: "old-1", purpose: "inventory-query", subject: "s", jwtID: nil, policySHA256: "x", sessionName: "s@old-1",
                               roleARN: roleARN, via: .webIdentity, tokenExpiresAt: Date(timeIntervalSinceNow: -7200), now: Date(timeIntervalSinceNow: -7200))
        try await store.begin(old)
        try await store.recordIssued(task: "old-1", accessKeyID: "ASIAOLD", sessionID: nil, expiresAt: Date(timeIntervalSinceNow: -3600), state: .pending)
        #expect(try clawc(["sweep"]).status == 0)
        #expect(try trustedTaskIDs() == ["live-1", "old-1"], "the first sweep completes old-1's pending revocation")
        #expect(try clawc(["sweep"]).status == 0)
        #expect(try trustedTaskIDs() == ["live-1"], "old-1's session and token expired: pruned")
        #expect(try await store.entry(task: "old-1")?.state == .retired)
        // The ledger still refuses the task.
        #expect(try issue(task: "old-1", sts: "http://127.0.0.1:1").stderr.contains("[already-issued]"))
    }

    @Test func revokeCutsALiveSessionByUserID() async throws {
        #expect(try issue(task: "cut-1").status == 0)
        let run = try clawc(["revoke", "--task", "cut-1"])
        #expect(run.status == 0, "\(run.stderr)")
        let document = try Self.boto(peers, """
            doc = iam.get_role_policy(RoleName=sys.argv[2], PolicyName="ClawcRevokedSessions")["PolicyDocument"]
            print(doc if isinstance(doc, str) else json.dumps(doc))
            """, [roleName])
        #expect(document.contains("aws:userid") && document.contains("@cut-1"), "\(document)")
        #expect(try await Ledger(path: ledger).entry(task: "cut-1")?.state == .revoked)
    }

    @Test func revokeBeforeDeniesOlderSessions() throws {
        let run = try clawc(["revoke", "--role", roleARN, "--before", "2026-11-29T00:00:00Z"])
        #expect(run.status == 0, "\(run.stderr)")
        let document = try Self.boto(peers, """
            doc = iam.get_role_policy(RoleName=sys.argv[2], PolicyName="AWSRevokeOlderSessions")["PolicyDocument"]
            print(doc if isinstance(doc, str) else json.dumps(doc))
            """, [roleName])
        #expect(document.contains("aws:TokenIssueTime") && document.contains("2026-11-29T00:00:00Z"), "\(document)")
    }

    @Test func theAuditLogNamesTheFirstEditedRecord() throws {
        #expect(try issue(task: "audit-1").status == 0)
        #expect(try issue(task: "audit-2").status == 0)
        let intact = try clawc(["audit", "verify"])
        #expect(intact.status == 0)
        #expect(intact.stderr.contains("audit log intact"))
        let edit = try runProgram(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", """
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1])
            db.execute("UPDATE audit SET detail = replace(detail, 'audit-2', 'audit-9') WHERE seq = 4")
            db.commit()
            """, ledger])
        #expect(edit.status == 0, "\(edit.stderr)")
        let broken = try clawc(["audit", "verify"])
        #expect(broken.status == 1)
        #expect(broken.stderr.contains("audit record 4 is broken"), "\(broken.stderr)")
    }

    /// No --ledger, no CLAWC_LEDGER, and no HOME or XDG_STATE_HOME for the default location: nothing is issued.
    /// (Empty values count as unset; with HOME set, the default location is used, see `LedgerStoreTests`.)
    @Test func withoutALedgerNothingIsIssued() throws {
        let tokenURL = dir.appendingPathComponent("token")
        try peers.mint().write(to: tokenURL, atomically: true, encoding: .utf8)
        let run = try runClawc(["issue", "--rules", "rules", "--task", try taskFile("no-ledger"), "--token-file", tokenURL.path,
                                "--role-arn", roleARN, "--issuer", peers.issuer.absoluteString],
                               environment: ["AWS_ENDPOINT_URL_STS": "http://127.0.0.1:1", "CLAWC_LEDGER": "", "HOME": "", "XDG_STATE_HOME": ""])
        #expect(run.status == 1)
        #expect(run.stderr.contains("[missing-ledger]"))
    }
}
}
