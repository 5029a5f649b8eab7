@testable import ClawcCompiler
@testable import ClawcRuntime
import ClawcSyntax
import Foundation
import Testing

/// The issuance sequence in process, with a fake backend and an in-memory ledger: every branch, no network.
@Suite struct IssuerTests {
    /// A ledger kept in memory, with switches to make a step fail.
    actor MemoryLedger: LedgerStore {
        var rows: [String: Ledger.Entry] = [:]
        var events: [String] = []
        var failRecord = false

        func setFailRecord(_ value: Bool) { failRecord = value }

        func begin(_ entry: Ledger.Entry) async throws(Ledger.Refusal) {
            if let existing = rows[entry.taskID], existing.state != .failed { throw .taskAlreadyIssued(entry.taskID, existing.state) }
            if let jti = entry.jwtID, rows.values.contains(where: { $0.jwtID == jti && $0.taskID != entry.taskID }) { throw .tokenAlreadyUsed(jti) }
            rows[entry.taskID] = entry
            events.append("issuing \(entry.taskID)")
        }

        func recordIssued(task: String, accessKeyID: String, sessionID: String?, expiresAt: Date, state: Ledger.State, roleARN: String?,
                          sealed: String?, now: Date) async throws(Ledger.Refusal)
        {
            if failRecord { throw .storage("disk full") }
            rows[task]?.sealedCredential = sealed
            rows[task]?.accessKeyID = accessKeyID
            rows[task]?.sessionID = sessionID
            rows[task]?.expiresAt = expiresAt
            rows[task]?.state = state
            if let roleARN { rows[task]?.roleARN = roleARN }
            events.append("issued \(task)")
        }

        func transition(task: String, to state: Ledger.State, event: String, detail: [String: String], now: Date) async throws(Ledger.Refusal) {
            rows[task]?.state = state
            events.append("\(event) \(task)")
        }

        func entry(task: String) async throws(Ledger.Refusal) -> Ledger.Entry? { rows[task] }
        func entries(in states: Set<Ledger.State>) async throws(Ledger.Refusal) -> [Ledger.Entry] { rows.values.filter { states.contains($0.state) } }
        func audit(_ event: String, task: String?, detail: [String: String], now: Date) async throws(Ledger.Refusal) {
            events.append(task.map { "\(event) \($0)" } ?? event)
        }
        func edit(_ task: String, _ change: @Sendable (inout Ledger.Entry) -> Void) {
            if var row = rows[task] {
                change(&row)
                rows[task] = row
            }
        }
        func verifyAudit(expecting head: (seq: Int64, hash: String)?) async throws(Ledger.Refusal) -> Ledger.AuditVerdict { .intact(records: events.count) }
        func auditHead() async throws(Ledger.Refusal) -> (seq: Int64, hash: String)? { (Int64(events.count), "") }
    }

    /// A backend whose every step can be told to fail; it counts its STS calls.
    final class FakeBackend: CredentialBackend, @unchecked Sendable {
        enum Step { case authorize, obtain }
        let failAt: Step?
        let failure: IssueFailure
        let after: (Ledger.State, [String])
        /// Set: the backend seals credentials under this "token", and names the token by `tokenID`.
        var token: String?
        var tokenID: String?
        private let lock = NSLock()
        private var _calls = 0
        var calls: Int { lock.withLock { _calls } }

        init(failAt: Step? = nil, failure: IssueFailure = .refused(code: "nope", message: "no", help: nil),
             after: (Ledger.State, [String]) = (.sealed, [])) {
            self.failAt = failAt
            self.failure = failure
            self.after = after
        }

        var path: IssuancePath { .webIdentity }
        var recordedState: Ledger.State { .pending }

        func authorize(_ request: IssueRequest, ledger: any LedgerStore, explain: (String) -> Void) async throws(IssueFailure) -> Authorization {
            if failAt == .authorize { throw failure }
            var authorization = Authorization(
                subject: "agent", tokenID: tokenID ?? "jti-\(request.task.taskId.value)", tokenExpiresAt: request.now.addingTimeInterval(600),
                sessionName: "agent@\(request.task.taskId.value)", roleARN: "arn:aws:iam::123456789012:role/agents",
                lifetime: LifetimeChoice(seconds: 900, explanation: "test"))
            authorization.sealingSecret = token.map { Array($0.utf8) }
            return authorization
        }

        func obtain(_ request: IssueRequest, _ authorization: Authorization) async throws(IssueFailure) -> ObtainedCredential {
            lock.withLock { _calls += 1 }
            if failAt == .obtain { throw failure }
            return ObtainedCredential(
                credentials: TemporaryCredentials(
                    accessKeyID: "ASIA\(request.task.taskId.value)-\(lock.withLock { _calls })", secretAccessKey: "secret-\(UUID().uuidString)",
                    sessionToken: "token",
                    expiration: request.now.addingTimeInterval(900), assumedRoleARN: nil, assumedRoleID: "AROA:\(authorization.sessionName)"),
                sessionID: "AROA:\(authorization.sessionName)", roleARN: nil)
        }

        func afterIssue(_ request: IssueRequest, _ authorization: Authorization, ledger: any LedgerStore, explain: (String) -> Void) async
            -> (state: Ledger.State, warnings: [String])
        {
            if after.0 != .pending { try? await ledger.transition(task: request.task.taskId.value, to: after.0, event: "sealed", detail: [:], now: Date()) }
            return after
        }
    }

    static let prepared: PreparedRules = {
        let ruleSet = RuleSet.load(directory: Repo.path("rules"), displayPath: "rules").0
        return PreparedRules(ruleSet: ruleSet ?? RuleSet(rules: [], settings: Settings()), catalog: Repo.catalog)
    }()

    static func task(_ id: String, bucket: String = "acme-logs-123") throws -> Task {
        let text = "taskId: \(id)\npurpose: log-analysis\ntags: {bucket: \(bucket)}\n"
        let source = try YAMLSource.parse(data: Data(text.utf8), displayPath: "task.yaml").get()
        return try #require(SyntaxReader.task(source).0)
    }

    func issue(_ backend: FakeBackend, _ ledger: MemoryLedger, _ task: Task) async -> Result<Issuance, IssueFailure> {
        do { return .success(try await Issuer(rules: Self.prepared, ledger: ledger, backend: backend).issue(task)) } catch { return .failure(error) }
    }

    @Test func aSuccessfulIssuanceIsRecordedThenSealed() async throws {
        let ledger = MemoryLedger(), backend = FakeBackend()
        let issuance = try await issue(backend, ledger, try Self.task("t-1")).get()
        #expect(issuance.state == .sealed)
        #expect(await ledger.events == ["issuing t-1", "issued t-1", "sealed t-1"])
        #expect(await ledger.rows["t-1"]?.policy == issuance.policy)
        #expect(backend.calls == 1)
    }

    @Test func aTaskWithDiagnosticsReachesNeitherTheLedgerNorSTS() async throws {
        let ledger = MemoryLedger(), backend = FakeBackend()
        let result = await issue(backend, ledger, try Self.task("t-1", bucket: "other-bucket"))
        guard case .failure(.diagnostics(let bag)) = result else { Issue.record("\(result)"); return }
        #expect(bag.items.map(\.code) == ["param-mismatch"])
        #expect(await ledger.events.isEmpty)
        #expect(backend.calls == 0)
    }

    @Test func aRefusedCallerReachesNeitherTheLedgerNorSTS() async throws {
        let ledger = MemoryLedger(), backend = FakeBackend(failAt: .authorize)
        let result = await issue(backend, ledger, try Self.task("t-1"))
        guard case .failure(.refused(let code, _, _)) = result else { Issue.record("\(result)"); return }
        #expect(code == "nope")
        #expect(await ledger.events.isEmpty)
        #expect(backend.calls == 0)
    }

    @Test func aSecondIssuanceForATaskIsRefusedBeforeSTS() async throws {
        let ledger = MemoryLedger(), backend = FakeBackend()
        _ = try await issue(backend, ledger, try Self.task("t-1")).get()
        let again = await issue(backend, ledger, try Self.task("t-1"))
        guard case .failure(.refused(let code, _, _)) = again else { Issue.record("\(again)"); return }
        #expect(code == "already-issued")
        #expect(backend.calls == 1)
    }

    static func sealing(_ token: String, id: String = "jti-1") -> FakeBackend {
        let backend = FakeBackend()
        backend.token = token
        backend.tokenID = id
        return backend
    }

    static func expectAlreadyIssued(_ result: Result<Issuance, IssueFailure>, _ what: String = "") {
        guard case .failure(.refused(let code, _, _)) = result, code == "already-issued" || code == "token-reused" else {
            Issue.record("\(what): \(result)")
            return
        }
    }

    /// botocore refreshes a `credential_process` credential long before it expires: the same task with the same
    /// token gets the same credential back, from the sealed copy, with no second STS call.
    @Test func aRepeatWithTheSameTokenGetsTheSameCredential() async throws {
        let ledger = MemoryLedger(), backend = Self.sealing("header.payload.signature-1")
        let first = try await issue(backend, ledger, try Self.task("t-1")).get()
        let sealed = try #require(await ledger.rows["t-1"]?.sealedCredential)
        #expect(!sealed.contains(first.credentials.secretAccessKey) && !sealed.contains(first.credentials.sessionToken))
        for _ in 0..<3 {
            let again = try await issue(backend, ledger, try Self.task("t-1")).get()
            #expect(again.repeated)
            #expect(again.credentials.accessKeyID == first.credentials.accessKeyID)
            #expect(again.credentials.secretAccessKey == first.credentials.secretAccessKey)
            #expect(again.credentials.sessionToken == first.credentials.sessionToken)
            #expect(AWSDate.format(again.credentials.expiration) == AWSDate.format(first.credentials.expiration))
        }
        #expect(backend.calls == 1)
        #expect(await ledger.events.filter { $0 == "returned t-1" }.count == 3)
    }

    /// Each condition of a repeat, broken one at a time: the refusal stands and STS is not called.
    @Test func aRepeatIsRefusedUnlessEveryConditionHolds() async throws {
        // Another token for the same task (its ID differs).
        do {
            let ledger = MemoryLedger()
            _ = try await issue(Self.sealing("token-a", id: "jti-a"), ledger, try Self.task("t-1")).get()
            let other = Self.sealing("token-b", id: "jti-b")
            Self.expectAlreadyIssued(await issue(other, ledger, try Self.task("t-1")))
            #expect(other.calls == 0)
        }
        // A token claiming the first one's ID, without its bytes: the sealed copy does not open.
        do {
            let ledger = MemoryLedger()
            _ = try await issue(Self.sealing("token-a", id: "jti-a"), ledger, try Self.task("t-1")).get()
            let forger = Self.sealing("token-forged", id: "jti-a")
            Self.expectAlreadyIssued(await issue(forger, ledger, try Self.task("t-1")))
            #expect(forger.calls == 0)
        }
        // Edits to the row: expired, still issuing (outcome unknown), revoked, another policy, a sealed copy moved
        // from another task, an altered sealed copy.
        let edits: [(String, @Sendable (inout Ledger.Entry) -> Void)] = [
            ("expired", { $0.expiresAt = Date(timeIntervalSinceNow: -1) }),
            ("issuing", { $0.state = .issuing }),
            ("revoked", { $0.state = .revoked }),
            ("retired", { $0.state = .retired }),
            ("another policy", { $0.policySHA256 = String(repeating: "0", count: 64) }),
            ("altered seal", { $0.sealedCredential = $0.sealedCredential.map { String($0.dropLast(4)) + "AAA=" } }),
            ("no seal", { $0.sealedCredential = nil }),
        ]
        for (name, edit) in edits {
            let ledger = MemoryLedger(), backend = Self.sealing("token-a", id: "jti-a")
            _ = try await issue(backend, ledger, try Self.task("t-1")).get()
            await ledger.edit("t-1", edit)
            Self.expectAlreadyIssued(await issue(backend, ledger, try Self.task("t-1")), "\(name)")
            #expect(backend.calls == 1, "\(name)")
        }
        do {
            let ledger = MemoryLedger(), backend = Self.sealing("token-a", id: "jti-a")
            _ = try await issue(backend, ledger, try Self.task("t-1")).get()
            _ = try await issue(Self.sealing("token-b", id: "jti-b"), ledger, try Self.task("t-2")).get()
            let moved = await ledger.rows["t-2"]?.sealedCredential
            await ledger.edit("t-1") { $0.sealedCredential = moved }
            Self.expectAlreadyIssued(await issue(backend, ledger, try Self.task("t-1")), "moved seal")
        }
    }

    @Test func sealedCredentialsOpenOnlyWithTheirTokenForTheirTask() throws {
        let credentials = TemporaryCredentials(accessKeyID: "ASIAX", secretAccessKey: "s3cr3t", sessionToken: "FwoGZX", expiration: Date(timeIntervalSince1970: 1_800_000_000),
                                               assumedRoleARN: "arn:aws:sts::123456789012:assumed-role/agents/s", assumedRoleID: "AROA:s")
        let token = Array("eyJ.eyJ.sig".utf8)
        let sealed = try #require(CredentialSeal.seal(credentials, secret: token, taskID: "t-1", tokenID: "jti-1"))
        #expect(!sealed.contains("s3cr3t") && !sealed.contains("FwoGZX"))
        #expect(CredentialSeal.open(sealed, secret: token, taskID: "t-1", tokenID: "jti-1") == credentials)
        #expect(CredentialSeal.open(sealed, secret: Array("eyJ.eyJ.sig2".utf8), taskID: "t-1", tokenID: "jti-1") == nil)
        #expect(CredentialSeal.open(sealed, secret: token, taskID: "t-2", tokenID: "jti-1") == nil)
        #expect(CredentialSeal.open(sealed, secret: token, taskID: "t-1", tokenID: "jti-2") == nil)
        for garbage in ["", "v1.", "v1.!!!", "v2." + sealed.dropFirst(3), String(repeating: "A", count: 100_000)] {
            #expect(CredentialSeal.open(garbage, secret: token, taskID: "t-1", tokenID: "jti-1") == nil)
        }
        // A fresh nonce each time: the same credential never seals to the same text.
        #expect(CredentialSeal.seal(credentials, secret: token, taskID: "t-1", tokenID: "jti-1") != sealed)
    }

    @Test func anSTSRefusalMarksTheRowFailedAndAllowsARetry() async throws {
        let ledger = MemoryLedger()
        let refusing = FakeBackend(failAt: .obtain, failure: .sts(STSError(code: "AccessDenied", message: "no", httpStatus: 403, isUpstreamFailure: false)))
        let result = await issue(refusing, ledger, try Self.task("t-1"))
        guard case .failure(.sts) = result else { Issue.record("\(result)"); return }
        #expect(await ledger.rows["t-1"]?.state == .failed)
        let retry = try await issue(FakeBackend(), ledger, try Self.task("t-1")).get()
        #expect(retry.state == .sealed)
    }

    @Test func aRecordFailureStillReturnsTheCredentialWithAWarning() async throws {
        let ledger = MemoryLedger(), backend = FakeBackend()
        await ledger.setFailRecord(true)
        let issuance = try await issue(backend, ledger, try Self.task("t-1")).get()
        #expect(issuance.state == .issuing)
        #expect(issuance.warnings.contains { $0.contains("could not record") })
        #expect(await ledger.rows["t-1"]?.state == .issuing, "the row stays `issuing` for `clawc sweep` to report")
    }

    @Test func aTrustPolicyFailureLeavesTheRowPendingNotSealed() async throws {
        let ledger = MemoryLedger(), backend = FakeBackend(after: (.pending, ["revocation pending: IAM down"]))
        let issuance = try await issue(backend, ledger, try Self.task("t-1"))
            .get()
        #expect(issuance.state == .pending)
        #expect(await ledger.rows["t-1"]?.state == .pending)
        #expect(issuance.warnings == ["revocation pending: IAM down"])
    }

    /// Hundreds of issuances in seconds: the sequence itself costs little.
    @Test func threeHundredIssuancesInProcess() async throws {
        let ledger = MemoryLedger(), backend = FakeBackend()
        let tasks = try (0..<300).map { try Self.task("many-\($0)") }
        let results = await withTaskGroup(of: Bool.self) { group in
            for task in tasks {
                group.addTask {
                    (try? await Issuer(rules: Self.prepared, ledger: ledger, backend: backend).issue(task)) != nil
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.filter { $0 }.count == 300)
        #expect(backend.calls == 300)
        #expect(await ledger.rows.count == 300)
    }

    /// An outcome clawc did not see (no answer, a 5xx, an unreadable 200) leaves the row `issuing`: refused again.
    @Test(arguments: [
        STSError(code: "Unreachable", message: "reset", httpStatus: 0, isUpstreamFailure: true),
        STSError(code: "InternalFailure", message: "5xx", httpStatus: 500, isUpstreamFailure: true),
        STSError(code: "MalformedResponse", message: "truncated", httpStatus: 200, isUpstreamFailure: true),
        STSError(code: "HTTP403", message: "no error code", httpStatus: 403, isUpstreamFailure: false),
    ])
    func anUnknownOutcomeStaysIssuing(error: STSError) async throws {
        let ledger = MemoryLedger()
        let result = await issue(FakeBackend(failAt: .obtain, failure: .sts(error)), ledger, try Self.task("t-1"))
        guard case .failure(let failure) = result, case .outcomeUnknown = failure else { Issue.record("\(result)"); return }
        #expect(failure.exitCode == 3)
        #expect(failure.rendered.contains("stays `issuing`"))
        #expect(await ledger.rows["t-1"]?.state == .issuing)
        let backend = FakeBackend()
        let again = await issue(backend, ledger, try Self.task("t-1"))
        guard case .failure(.refused(let code, _, _)) = again else { Issue.record("\(again)"); return }
        #expect(code == "already-issued")
        #expect(backend.calls == 0)
    }

    /// One SQLite ledger shared by 200 concurrent issuances in one process: 200 rows, no error (on main before the
    /// ledger became an actor, 8 of 64 failed with "cannot start a transaction within a transaction").
    @Test func twoHundredConcurrentIssuancesShareOneSQLiteLedger() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let ledger = try Ledger(path: dir.appendingPathComponent("ledger.sqlite").path)
        let backend = FakeBackend()
        let tasks = try (0..<200).map { try Self.task("shared-\($0)") }
        let failures = await withTaskGroup(of: String?.self) { group in
            for task in tasks {
                group.addTask {
                    do {
                        _ = try await Issuer(rules: Self.prepared, ledger: ledger, backend: backend).issue(task)
                        return nil
                    } catch { return (error as? IssueFailure)?.rendered ?? "\(error)" }
                }
            }
            return await group.reduce(into: [String]()) { if let failure = $1 { $0.append(failure) } }
        }
        #expect(failures.isEmpty, "\(failures.prefix(3))")
        #expect(try await ledger.entries(in: [.sealed]).count == 200)
        guard case .intact(let records) = try await ledger.verifyAudit(expecting: nil) else { Issue.record("audit chain broken"); return }
        #expect(records == 600, "issuing, issued and sealed for each")
    }
}

/// Review findings on STS's XML: two `<Credentials>` mixed one's key ID with the other's secret, and an
/// `Expiration` in 2001 or 2999 was accepted. Either is now an unknown outcome (the row stays `issuing`).
@Suite struct STSAnswerTests {
    static func answer(_ credentials: String) -> Data {
        Data("""
            <AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult>
            \(credentials)
            <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/agents/a@t-1</Arn><AssumedRoleId>AROA1:a@t-1</AssumedRoleId></AssumedRoleUser>
            </AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>
            """.utf8)
    }

    static func credentials(key: String, secret: String, expiration: String) -> String {
        "<Credentials><AccessKeyId>\(key)</AccessKeyId><SecretAccessKey>\(secret)</SecretAccessKey><SessionToken>tok</SessionToken><Expiration>\(expiration)</Expiration></Credentials>"
    }

    @Test func twoCredentialsElementsAreAmbiguous() {
        let expiry = AWSDate.format(Date().addingTimeInterval(900))
        let parsed = XMLFields.parseChecked(Self.answer(
            Self.credentials(key: "ASIAONE", secret: "s1", expiration: expiry) + Self.credentials(key: "ASIATWO", secret: "s2", expiration: expiry)))
        #expect(parsed.wellFormed)
        #expect(parsed.duplicates.isSuperset(of: ["Credentials", "AccessKeyId", "SecretAccessKey"]))
        let single = XMLFields.parseChecked(Self.answer(Self.credentials(key: "ASIAONE", secret: "s1", expiration: expiry)))
        #expect(single.duplicates.isDisjoint(with: XMLFields.singular))
    }

    @Test(arguments: ["2001-01-01T00:00:00Z", "2999-01-01T00:00:00Z"])
    func anExpirationOutsideTheRequestIsRefused(expiration: String) throws {
        let values = XMLFields.parse(Self.answer(Self.credentials(key: "ASIA", secret: "s", expiration: expiration)))
        #expect(throws: STSError.self) { try STSClient.credentials(from: values, requestedSeconds: 900) }
        let good = XMLFields.parse(Self.answer(Self.credentials(key: "ASIA", secret: "s", expiration: AWSDate.format(Date().addingTimeInterval(900)))))
        #expect(try STSClient.credentials(from: good, requestedSeconds: 900).accessKeyID == "ASIA")
    }
}
