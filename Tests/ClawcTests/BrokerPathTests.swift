import ClawcCompiler
import ClawcRuntime
import Foundation
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The broker's other ways to STS, against real peers over real HTTP: `--via web-identity` forwarding callers' tokens
/// to moto, and `--via scoped` getting (and refreshing) its own role session from a web identity.
@Suite(.serialized)
struct BrokerPathTests {
    /// The broker suite's peers, folder and helpers (a scoped broker, tokens for it, STS call counts).
    let base: BrokerTests
    var peers: Peers { base.peers }
    var scoped: ScopedPeer { base.scoped }
    var dir: URL { base.dir }

    init() throws {
        base = try BrokerTests()
    }

    /// Every AssumeRoleWithWebIdentity call moto received for a session name that holds `task`.
    func motoWebIdentityCalls(task: String) throws -> [[String: Any]] {
        let data = try peers.get("sts-requests")
        let requests = (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["requests"] as? [[String: Any]] ?? []
        return requests.filter { request in
            request["action"] as? String == "AssumeRoleWithWebIdentity"
                && ((request["params"] as? [String: Any])?["RoleSessionName"] as? String ?? "").contains(task)
        }
    }

    @Test func webIdentityBrokerForwardsTheTokenOnceAndRevokesReuse() async throws {
        try await offPool { try self.webIdentityBrokerForwardsTheTokenOnceAndRevokesReuseBlocking() }
    }

    func webIdentityBrokerForwardsTheTokenOnceAndRevokesReuseBlocking() throws {
        let roleName = "broker-wi-\(UUID().uuidString.prefix(8))"
        let emitted = try runClawc(["emit", "trust-policy", "--provider-arn", "arn:aws:iam::123456789012:oidc-provider/127.0.0.1"])
        #expect(emitted.status == 0, "\(emitted.stderr)")
        let roleARN = try PeerSuites.RevocationTests.boto(peers, """
            r = iam.create_role(RoleName=sys.argv[2], AssumeRolePolicyDocument=sys.argv[3])
            print(r["Role"]["Arn"])
            """, [roleName, emitted.stdout])
        let node = try BrokerProcess(
            ["--via", "web-identity", "--role-arn", roleARN, "--rules", Repo.path("rules"), "--issuer", peers.issuer.absoluteString,
             "--ledger", dir.appendingPathComponent("wi-\(UUID().uuidString).sqlite").path],
            environment: ["AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
                          "AWS_ENDPOINT_URL_STS": peers.sts.absoluteString, "AWS_ENDPOINT_URL_IAM": peers.sts.absoluteString])
        defer { node.stop() }
        let ready = try node.send("GET", "/readyz")
        #expect(ready.status == 200, "\(ready.body)")
        // With --via web-identity the callers' tokens are STS's own (audience sts.amazonaws.com), forwarded as they are.
        let token = try peers.mint()
        let id = "bw-\(UUID().uuidString.prefix(8))"
        let first = try node.credentials(token: token, task: BrokerTests.task(id))
        #expect(first.status == 200, "\(first.body)")
        let key = first.json["AccessKeyId"] as? String
        #expect(key != nil && first.json["TaskId"] as? String == id, "\(first.body)")
        let again = try node.credentials(token: token, task: BrokerTests.task(id), query: "?format=credential-process")
        #expect(again.status == 200 && again.json["AccessKeyId"] as? String == key, "a retry gets the same credential: \(again.body)")
        let other = try node.credentials(token: try peers.mint(), task: BrokerTests.task(id))
        #expect(other.status == 409 && other.code == "already-issued", "\(other.body)")
        // The token went to STS once, and the role's trust policy now refuses the task's token.
        let calls = try motoWebIdentityCalls(task: id)
        #expect(calls.count == 1, "\(calls)")
        #expect((calls.first?["params"] as? [String: Any])?["WebIdentityToken"] as? String == token)
        let document = try PeerSuites.RevocationTests.boto(peers, """
            doc = iam.get_role(RoleName=sys.argv[2])["Role"]["AssumeRolePolicyDocument"]
            print(doc if isinstance(doc, str) else json.dumps(doc))
            """, [roleName])
        #expect(try TrustPolicy.revokedTaskIDs(in: document).contains(id), "\(document)")
        // A token for the broker's scoped audience is not STS's.
        let wrong = try node.credentials(token: try peers.mint(["aud": "clawc"]), task: BrokerTests.task("bw-aud-\(UUID().uuidString.prefix(6))"))
        #expect(wrong.status == 401 && wrong.code == "token-audience", "\(wrong.body)")
        #expect(node.stop(SIGTERM) == 0, "\(node.logText)")
    }

    /// `--via scoped` with AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN: the broker exchanges its own token for its
    /// role session, cuts task credentials from it, and exchanges the token file's current contents again once the
    /// session has less left than the longest rule lifetime plus the margin.
    @Test func scopedBrokerGetsAndRefreshesItsOwnSessionFromAWebIdentity() async throws {
        try await offPool { try self.scopedBrokerGetsAndRefreshesItsOwnSessionFromAWebIdentityBlocking() }
    }

    func scopedBrokerGetsAndRefreshesItsOwnSessionFromAWebIdentityBlocking() throws {
        // Rules whose longest lifetime is 15 minutes, and an STS that gives 1,000 s sessions: 1,000 s is less than
        // 900 s + the 300 s margin, so every session is due for refresh (at most once per 5 s).
        let rules = dir.appendingPathComponent("rules-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: rules, withIntermediateDirectories: true)
        try String(contentsOfFile: Repo.path("rules/log-analysis.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "lifetime: {default: 15m, max: 1h}", with: "lifetime: {default: 5m, max: 15m}")
            .write(to: rules.appendingPathComponent("log-analysis.yaml"), atomically: true, encoding: .utf8)
        try setWebIdentityCap(1000)
        defer { try? setWebIdentityCap(nil) }
        let roleARN = "arn:aws:iam::123456789012:role/broker-\(UUID().uuidString.prefix(6))"
        let tokenFile = dir.appendingPathComponent("broker-token-\(UUID().uuidString)")
        try "broker-token-one".write(to: tokenFile, atomically: true, encoding: .utf8)
        let node = try BrokerProcess(
            ["--rules", rules.path, "--issuer", peers.issuer.absoluteString, "--ledger", dir.appendingPathComponent("sw-\(UUID().uuidString).sqlite").path],
            environment: ["AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile.path, "AWS_ROLE_ARN": roleARN, "AWS_REGION": "us-east-1",
                          "AWS_ENDPOINT_URL_STS": scoped.url.absoluteString])
        defer { node.stop() }
        let ready = try node.send("GET", "/readyz")
        #expect(ready.status == 200, "\(ready.body)")

        func exchanges() throws -> [[String: Any]] {
            try scoped.calls().filter {
                $0["action"] as? String == "AssumeRoleWithWebIdentity" && ($0["params"] as? [String: Any])?["RoleArn"] as? String == roleARN
            }
        }
        /// Issues a new task and checks that its credential was cut from a session bought with `brokerToken`.
        func issueFromSession(boughtWith brokerToken: String, _ what: String) throws {
            let task = "bs-\(UUID().uuidString.prefix(8))"
            let answer = try node.credentials(token: try base.token(), task: BrokerTests.task(task))
            #expect(answer.status == 200, "\(answer.body)")
            let caller = try scoped.calls(forTask: task).first?["caller"] as? String
            let hash = String(Hex.sha256(brokerToken).prefix(16))
            let bought = try exchanges()
            let keys = Set(bought.filter { ($0["params"] as? [String: Any])?["token_sha256"] as? String == hash }
                .compactMap { ($0["result"] as? [String: Any])?["AccessKeyId"] as? String })
            #expect(caller != nil && keys.contains(caller!), "\(what): \(bought)")
        }

        try issueFromSession(boughtWith: "broker-token-one", "the task was cut from the session the broker's own token bought")
        // The platform rotates the token file; the next refresh reads it anew.
        try "broker-token-two".write(to: tokenFile, atomically: true, encoding: .utf8)
        Thread.sleep(forTimeInterval: 5.5)
        try issueFromSession(boughtWith: "broker-token-two", "after the refresh, tasks are cut from the new session")
        #expect(node.stop(SIGTERM) == 0, "\(node.logText)")
    }

    /// STS over pooled keep-alive connections: requests one after another reach STS from the same client port.
    @Test func stsCallsReuseAKeptAliveConnection() async throws {
        try await offPool {
            let node = try self.base.broker()
            defer { node.stop() }
            let ids = (0..<4).map { "keep-\($0)-\(UUID().uuidString.prefix(6))" }
            for id in ids {
                let answer = try node.credentials(token: try self.base.token(), task: BrokerTests.task(id))
                #expect(answer.status == 200, "\(answer.body)")
            }
            let ports = try ids.compactMap { id in try self.scoped.calls(forTask: id).first?["client_port"] as? Int }
            #expect(ports.count == ids.count && Set(ports).count == 1, "one connection for four sequential calls: ports \(ports)")
        }
    }

    /// A parent session too short to cut the shortest credential (60 s) from is the broker's problem, not the
    /// caller's: 503 with Retry-After, and nothing reaches STS.
    @Test func aParentSessionTooShortToCutFromIsServiceUnavailable() async throws {
        try await offPool {
            let base = self.base
            let session = try self.scoped.session(arn: "arn:aws:sts::123456789012:assumed-role/broker/short-\(UUID().uuidString.prefix(6))", expiresIn: 40)
            let node = try BrokerProcess(
                ["--rules", Repo.path("rules"), "--issuer", self.peers.issuer.absoluteString,
                 "--ledger", self.dir.appendingPathComponent("short-\(UUID().uuidString).sqlite").path],
                environment: ["AWS_ACCESS_KEY_ID": session["AccessKeyId"] ?? "", "AWS_SECRET_ACCESS_KEY": session["SecretAccessKey"] ?? "",
                              "AWS_SESSION_TOKEN": session["SessionToken"] ?? "", "AWS_CREDENTIAL_EXPIRATION": session["Expiration"] ?? "",
                              "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_STS": self.scoped.url.absoluteString])
            defer { node.stop() }
            let id = "short-\(UUID().uuidString.prefix(8))"
            let answer = try node.credentials(token: try base.token(), task: BrokerTests.task(id))
            #expect(answer.status == 503 && answer.code == "insufficient-session-lifetime" && answer.headers["retry-after"] != nil,
                    "\(answer.status) \(answer.headers) \(answer.body)")
            #expect(try base.stsIssued(task: id) == 0)
            let conformance = try BrokerTests.checkAgainstOpenAPI([("POST", "/v1/credentials", answer)])
            #expect(conformance.status == 0, "\(conformance.stdout)\(conformance.stderr)")
        }
    }

    func setWebIdentityCap(_ seconds: Int?) throws {
        var request = URLRequest(url: scoped.url.appendingPathComponent("control/config"))
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = try JSONSerialization.data(withJSONObject: ["web_identity_max_seconds": seconds.map { $0 as Any } ?? NSNull()])
        _ = try Peers.send(request)
    }

    /// schemathesis generates requests from docs/openapi.yaml (valid and invalid ones) against a running broker: no
    /// 5xx, every answer as the document says, and the broker still serving afterwards.
    @Test(.timeLimit(.minutes(5))) func fuzzingTheAPIFromItsOpenAPIDocumentFindsNoServerError() async throws {
        try await offPool { try self.fuzzingBlocking() }
    }

    func fuzzingBlocking() throws {
        let node = try base.broker(extra: ["--subject-rate", "100000"])
        defer { node.stop() }
        let token = try base.token()
        let report = dir.appendingPathComponent("schemathesis-\(UUID().uuidString).txt")
        let run = try runProgram(URL(fileURLWithPath: "/bin/sh"), ["-c", """
            exec python3 -m schemathesis.cli run '\(Repo.path("docs/openapi.yaml"))' --url '\(node.url)' \
              --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,ignored_auth \
              --phases examples,coverage,fuzzing --max-examples 150 --workers 1 --seed 1 --no-color \
              --header 'Authorization: Bearer \(token)' > '\(report.path)' 2>&1
            """])
        let text = (try? String(contentsOf: report, encoding: .utf8)) ?? ""
        #expect(run.status == 0, "schemathesis found problems:\n\(text.suffix(6000))")
        #expect(text.contains("passed") || text.contains("Passed"), "\(text.suffix(2000))")
        #expect(try node.send("GET", "/healthz").status == 200, "the broker still serves")
        let log = node.logText
        #expect(!log.contains("\"status\":5") && !log.contains("\"status\":\"5"), "no 5xx in the broker's log")
    }
}
