import CSQLite
import ClawcRuntime
import Foundation
import Testing

/// A ledger store under test, with what the suite cannot do through the protocol: edit a stored audit record
/// behind the store's back, as an attacker with write access to the storage would.
struct StoreUnderTest: Sendable {
    var store: any LedgerStore
    /// Changes audit record `seq`'s stored contents without touching its hash.
    var tamperWithAuditRecord: @Sendable (Int64) async throws -> Void
    var cleanUp: @Sendable () async -> Void
}

/// Makes fresh, empty stores of one kind. Every test in `LedgerConformanceTests` runs once per factory in `all`:
/// SQLite always, PostgreSQL when `CLAWC_TEST_POSTGRES` names a server (else a loud warning says it was skipped).
struct LedgerStoreFactory: Sendable, CustomTestStringConvertible {
    var name: String
    /// A fresh, empty store whose audit chain is keyed with the key given, or unkeyed.
    var makeKeyed: @Sendable (AuditKey?) async throws -> StoreUnderTest
    /// The same storage as `subject`, opened again by another store value with another key (or none).
    var reopen: @Sendable (StoreUnderTest, AuditKey?) async throws -> any LedgerStore
    var testDescription: String { name }

    func make() async throws -> StoreUnderTest { try await makeKeyed(nil) }

    static let all: [LedgerStoreFactory] = {
        TestPostgres.warning
        return TestPostgres.available ? [.sqlite, .postgres] : [.sqlite]
    }()

    static let sqlite = LedgerStoreFactory(
        name: "SQLite",
        makeKeyed: { key in
            let dir = try temporaryDirectory()
            let path = dir.appendingPathComponent("ledger.sqlite").path
            return StoreUnderTest(
                store: try Ledger(path: path, auditKey: key),
                tamperWithAuditRecord: { seq in
                    try RawSQLite(path).execute("UPDATE audit SET event = event || '-edited' WHERE seq = \(seq)")
                },
                cleanUp: { try? FileManager.default.removeItem(at: dir) })
        },
        reopen: { subject, key in
            guard let ledger = subject.store as? Ledger else { throw RawSQLite.Failure(description: "not an SQLite ledger") }
            return try Ledger(path: ledger.path, auditKey: key)
        })
}

/// A raw SQLite connection, apart from the store's own code: to edit a ledger behind its back, or hold its lock.
final class RawSQLite: @unchecked Sendable {
    private var handle: OpaquePointer?

    struct Failure: Error, CustomStringConvertible { var description: String }

    init(_ path: String) throws {
        guard sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE, nil) == SQLITE_OK else {
            defer { sqlite3_close(handle) }
            throw Failure(description: "cannot open `\(path)`")
        }
        sqlite3_busy_timeout(handle, 5_000)
    }

    deinit { sqlite3_close(handle) }

    func execute(_ sql: String) throws {
        var error: UnsafeMutablePointer<CChar>?
        guard sqlite3_exec(handle, sql, nil, nil, &error) == SQLITE_OK else {
            defer { sqlite3_free(error) }
            throw Failure(description: error.map { String(cString: $0) } ?? "failed")
        }
    }
}

/// What `body` was refused with, or nil when it was not.
func refusal(_ body: () async throws(LedgerRefusal) -> Void) async -> LedgerRefusal? {
    do {
        try await body()
        return nil
    } catch {
        return error
    }
}

/// An entry with whole-second times (the ledger keeps seconds), distinct per task unless told otherwise.
func ledgerEntry(_ task: String, jti: String? = nil, now: Date = Date(timeIntervalSince1970: 1_795_000_000)) -> LedgerEntry {
    var entry = LedgerEntry(
        taskID: task, purpose: "inventory-query", subject: "system:serviceaccount:agents:bot", jwtID: jti ?? "jti-\(task)",
        policySHA256: String(repeating: "a", count: 64), sessionName: "bot@\(task)", roleARN: "arn:aws:iam::123456789012:role/agents",
        via: .webIdentity, tokenExpiresAt: now.addingTimeInterval(600), now: now)
    entry.policy = #"{"Version":"2012-10-17","Statement":[]}"#
    return entry
}

/// What every `LedgerStore` must do, whatever holds its rows. The SQLite-only behaviour (lock bounds, file modes)
/// is in `LedgerStoreTests`.
@Suite struct LedgerConformanceTests {
    /// Runs `body` against a fresh store and cleans up after it.
    func with(_ factory: LedgerStoreFactory, _ body: (StoreUnderTest) async throws -> Void) async throws {
        let subject = try await factory.make()
        do {
            try await body(subject)
        } catch {
            await subject.store.close()
            await subject.cleanUp()
            throw error
        }
        await subject.store.close()
        await subject.cleanUp()
    }

    /// The credential sealed under its token is kept verbatim, for a repeat request; a row without one has nil.
    @Test(arguments: LedgerStoreFactory.all)
    func aSealedCredentialIsKeptVerbatim(factory: LedgerStoreFactory) async throws {
        try await with(factory) { subject async throws in
            let store = subject.store
            try await store.begin(ledgerEntry("t-1"))
            try await store.begin(ledgerEntry("t-2"))
            let sealed = "v1." + Data((0..<200).map { UInt8($0) }).base64EncodedString()
            try await store.recordIssued(task: "t-1", accessKeyID: "ASIA1", sessionID: nil, expiresAt: Date(timeIntervalSince1970: 1_795_000_900),
                                         state: .pending, roleARN: nil, sealed: sealed, now: Date(timeIntervalSince1970: 1_795_000_001))
            try await store.recordIssued(task: "t-2", accessKeyID: "ASIA2", sessionID: nil, expiresAt: Date(timeIntervalSince1970: 1_795_000_900),
                                         state: .pending, now: Date(timeIntervalSince1970: 1_795_000_001))
            #expect(try await store.entry(task: "t-1")?.sealedCredential == sealed)
            #expect(try await store.entry(task: "t-2")?.sealedCredential == nil)
            #expect(try await store.entries(in: [.pending]).map(\.sealedCredential) == [sealed, nil])
        }
    }

    /// A keyed chain verifies under its key only; with no key or another one, the store refuses to write or verify
    /// rather than mix an unkeyed record into it; and an unkeyed chain that holds records takes no key later.
    @Test(arguments: LedgerStoreFactory.all)
    func aKeyedChainIsUsedWithItsKeyOnly(factory: LedgerStoreFactory) async throws {
        let key = AuditKey(bytes: Array(repeating: 7, count: 32)), other = AuditKey(bytes: Array(repeating: 8, count: 32))
        let subject = try await factory.makeKeyed(key)
        try await subject.store.begin(ledgerEntry("t-1"))
        try await subject.store.transition(task: "t-1", to: .failed, event: "failed", detail: [:], now: Date(timeIntervalSince1970: 1_795_000_001))
        #expect(try await subject.store.verifyAudit() == .intact(records: 2))
        for wrong in [nil, other] as [AuditKey?] {
            let store = try await factory.reopen(subject, wrong)
            #expect(await refusal { () throws(LedgerRefusal) in try await store.begin(ledgerEntry("t-2")) }?.code == "ledger-unavailable")
            #expect(await refusal { () throws(LedgerRefusal) in _ = try await store.verifyAudit() }?.code == "ledger-unavailable")
        }
        #expect(try await subject.store.entry(task: "t-2") == nil)
        try await subject.tamperWithAuditRecord(2)
        if case .broken(2, _) = try await subject.store.verifyAudit() {} else { Issue.record("an edited keyed record verified") }
        await subject.store.close()
        await subject.cleanUp()

        let plain = try await factory.make()
        try await plain.store.begin(ledgerEntry("t-1"))
        let late = try await factory.reopen(plain, key)
        #expect(await refusal { () throws(LedgerRefusal) in try await late.begin(ledgerEntry("t-2")) }?.code == "ledger-unavailable")
        #expect(try await plain.store.verifyAudit() == .intact(records: 1))
        await late.close()
        await plain.store.close()
        await plain.cleanUp()
    }

    @Test(arguments: LedgerStoreFactory.all)
    func aSecondBeginOfATaskIsRefused(factory: LedgerStoreFactory) async throws {
        try await with(factory) { subject async throws in
            let store = subject.store
            try await store.begin(ledgerEntry("t-1"))
            #expect(await refusal { () throws(LedgerRefusal) in try await store.begin(ledgerEntry("t-1", jti: "other")) } == .taskAlreadyIssued("t-1", .issuing))
            try await store.recordIssued(task: "t-1", accessKeyID: "ASIA1", sessionID: "AROA:bot@t-1", expiresAt: Date(timeIntervalSince1970: 1_795_000_900),
                                         state: .sealed, now: Date(timeIntervalSince1970: 1_795_000_001))
            let again = await refusal { () throws(LedgerRefusal) in try await store.begin(ledgerEntry("t-1", jti: "third")) }
            #expect(again == .taskAlreadyIssued("t-1", .sealed))
            #expect(again?.code == "already-issued")
            #expect(try await store.entry(task: "t-1")?.jwtID == "jti-t-1", "the refused begins changed nothing")
        }
    }

    @Test(arguments: LedgerStoreFactory.all)
    func aTokenIsUsedOnce(factory: LedgerStoreFactory) async throws {
        try await with(factory) { subject async throws in
            let store = subject.store
            try await store.begin(ledgerEntry("t-1", jti: "shared"))
            let second = await refusal { () throws(LedgerRefusal) in try await store.begin(ledgerEntry("t-2", jti: "shared")) }
            #expect(second == .tokenAlreadyUsed("shared"))
            #expect(second?.code == "token-reused")
            #expect(try await store.entry(task: "t-2") == nil)
            // No token ID: never a reuse.
            try await store.begin(ledgerEntry("t-3", jti: nil).withoutToken())
            try await store.begin(ledgerEntry("t-4", jti: nil).withoutToken())
        }
    }

    @Test(arguments: LedgerStoreFactory.all)
    func aFailedRowIsReplacedByANewBegin(factory: LedgerStoreFactory) async throws {
        try await with(factory) { subject async throws in
            let store = subject.store
            try await store.begin(ledgerEntry("t-1"))
            try await store.transition(task: "t-1", to: .failed, event: "failed", detail: ["code": "sts-refused"], now: Date(timeIntervalSince1970: 1_795_000_010))
            var retry = ledgerEntry("t-1", now: Date(timeIntervalSince1970: 1_795_000_020))
            retry.purpose = "log-analysis"
            try await store.begin(retry)
            let entry = try #require(try await store.entry(task: "t-1"))
            #expect(entry.state == .issuing)
            #expect(entry.purpose == "log-analysis")
            #expect(entry.createdAt == Date(timeIntervalSince1970: 1_795_000_020))
            #expect(try await store.entries(in: Set(LedgerState.allCases)).count == 1)
            #expect(await refusal { () throws(LedgerRefusal) in try await store.begin(ledgerEntry("t-1", jti: "again")) } == .taskAlreadyIssued("t-1", .issuing))
        }
    }

    @Test(arguments: LedgerStoreFactory.all)
    func transitionsAndRecordedCredentialsAreRead(factory: LedgerStoreFactory) async throws {
        try await with(factory) { subject async throws in
            let store = subject.store
            var first = ledgerEntry("t-1", now: Date(timeIntervalSince1970: 1_795_000_000))
            first.layers = 2
            first.parentTask = "t-0"
            first.via = .scoped
            try await store.begin(first)
            try await store.begin(ledgerEntry("t-2", now: Date(timeIntervalSince1970: 1_795_000_005)))
            let expires = Date(timeIntervalSince1970: 1_795_000_900)
            try await store.recordIssued(task: "t-1", accessKeyID: "ASIAONE", sessionID: "AROA1:bot@t-1", expiresAt: expires, state: .pending,
                                         now: Date(timeIntervalSince1970: 1_795_000_030))
            var expected = first
            expected.accessKeyID = "ASIAONE"
            expected.sessionID = "AROA1:bot@t-1"
            expected.expiresAt = expires
            expected.state = .pending
            expected.updatedAt = Date(timeIntervalSince1970: 1_795_000_030)
            #expect(try await store.entry(task: "t-1") == expected)
            #expect(try await store.entries(in: [.pending]).map(\.taskID) == ["t-1"])
            #expect(try await store.entries(in: [.issuing]).map(\.taskID) == ["t-2"])

            try await store.transition(task: "t-1", to: .sealed, event: "sealed", detail: ["by": "test"], now: Date(timeIntervalSince1970: 1_795_000_040))
            try await store.transition(task: "t-2", to: .failed, event: "failed", detail: [:], now: Date(timeIntervalSince1970: 1_795_000_041))
            #expect(try await store.entry(task: "t-1")?.state == .sealed)
            #expect(try await store.entries(in: [.pending]).isEmpty)
            #expect(try await store.entries(in: [.sealed, .failed]).map(\.taskID) == ["t-1", "t-2"], "oldest first")
            #expect(try await store.entries(in: []).isEmpty)
            #expect(try await store.entry(task: "nope") == nil)
        }
    }

    /// The audit log never tells of a change that did not happen.
    @Test(arguments: LedgerStoreFactory.all)
    func changingATaskWithNoRowIsRefused(factory: LedgerStoreFactory) async throws {
        try await with(factory) { subject async throws in
            let store = subject.store
            let moved = await refusal { () throws(LedgerRefusal) in
                try await store.transition(task: "ghost", to: .sealed, event: "sealed", detail: [:], now: Date())
            }
            #expect(moved?.code == "ledger-unavailable")
            let recorded = await refusal { () throws(LedgerRefusal) in
                try await store.recordIssued(task: "ghost", accessKeyID: "ASIA", sessionID: nil, expiresAt: Date(), state: .pending, now: Date())
            }
            #expect(recorded?.code == "ledger-unavailable")
            let head = try await store.auditHead()
            #expect(head == nil, "nothing was written")
        }
    }

    @Test(arguments: LedgerStoreFactory.all)
    func theAuditChainHoldsAndNamesTheFirstEditedRecord(factory: LedgerStoreFactory) async throws {
        try await with(factory) { subject async throws in
            let store = subject.store
            for index in 0..<30 {
                let task = "t-\(index)"
                try await store.begin(ledgerEntry(task))
                try await store.recordIssued(task: task, accessKeyID: "ASIA\(index)", sessionID: nil, expiresAt: Date(timeIntervalSince1970: 1_795_000_900),
                                             state: .pending, now: Date(timeIntervalSince1970: 1_795_000_001))
                try await store.transition(task: task, to: .sealed, event: "sealed", detail: ["by": "test"], now: Date(timeIntervalSince1970: 1_795_000_002))
            }
            try await store.audit("revoked-before", task: nil, detail: ["roleArn": "arn:aws:iam::123456789012:role/agents", "before": "2026-11-29T00:00:00Z"],
                                  now: Date(timeIntervalSince1970: 1_795_000_003))
            #expect(try await store.verifyAudit() == .intact(records: 91))
            try await subject.tamperWithAuditRecord(47)
            guard case let .broken(seq, reason) = try await store.verifyAudit() else {
                Issue.record("an edited record went unnoticed")
                return
            }
            #expect(seq == 47)
            #expect(reason == "its contents do not match its hash")
        }
    }

    @Test(arguments: LedgerStoreFactory.all)
    func theAuditHeadAdvancesWithEachChange(factory: LedgerStoreFactory) async throws {
        try await with(factory) { subject async throws in
            let store = subject.store
            #expect(try await store.auditHead() == nil)
            #expect(try await store.verifyAudit(expecting: (0, AuditChain.genesis)) == .intact(records: 0))
            var heads: [(seq: Int64, hash: String)] = []
            func changed() async throws {
                let head = try #require(try await store.auditHead())
                #expect(head.seq == Int64(heads.count + 1))
                #expect(head.hash.count == 64 && head.hash != heads.last?.hash)
                heads.append(head)
            }
            try await store.begin(ledgerEntry("t-1"))
            try await changed()
            try await store.recordIssued(task: "t-1", accessKeyID: "ASIA", sessionID: nil, expiresAt: Date(), state: .pending, now: Date())
            try await changed()
            try await store.transition(task: "t-1", to: .sealed, event: "sealed", detail: [:], now: Date())
            try await changed()
            try await store.audit("revoked-before", task: nil, detail: ["before": "now"], now: Date())
            try await changed()
            _ = await refusal { () throws(LedgerRefusal) in try await store.begin(ledgerEntry("t-1")) }
            #expect(try await store.auditHead()?.seq == 4, "a refused begin writes nothing")

            // Every earlier head is an anchor the chain still contains.
            for head in heads { #expect(try await store.verifyAudit(expecting: head) == .intact(records: 4)) }
            #expect(try await store.verifyAudit(expecting: (2, String(repeating: "f", count: 64))) ==
                .broken(seq: 2, reason: "its hash is not the expected head's: the chain was rewritten up to this record"))
            #expect(try await store.verifyAudit(expecting: (9, heads[0].hash)) ==
                .broken(seq: 9, reason: "the chain ends at record 4, before the expected head: records were removed"))
        }
    }

    /// One store value shared by 200 tasks at once: every begin lands, none trips over another's transaction.
    @Test(arguments: LedgerStoreFactory.all)
    func twoHundredConcurrentBeginsOfDistinctTasks(factory: LedgerStoreFactory) async throws {
        try await with(factory) { subject async throws in
            let store = subject.store
            let clock = ContinuousClock()
            let start = clock.now
            let failures = await withTaskGroup(of: LedgerRefusal?.self) { group in
                for index in 0..<200 {
                    group.addTask { await outcome(of: ledgerEntry("task-\(index)"), on: store) }
                }
                return await group.reduce(into: [LedgerRefusal]()) { if let failure = $1 { $0.append(failure) } }
            }
            let elapsed = clock.now - start
            print("ledger conformance (\(factory.name)): 200 concurrent begins on one store took \(elapsed)")
            #expect(failures.isEmpty, "\(failures.prefix(3))")
            #expect(try await store.entries(in: [.issuing]).count == 200)
            #expect(try await store.verifyAudit() == .intact(records: 200))
        }
    }

    /// 200 tasks racing for one task ID: exactly one credential may follow.
    @Test(arguments: LedgerStoreFactory.all)
    func twoHundredConcurrentBeginsOfOneTask(factory: LedgerStoreFactory) async throws {
        try await with(factory) { subject async throws in
            let store = subject.store
            let outcomes = await withTaskGroup(of: LedgerRefusal?.self) { group in
                for index in 0..<200 {
                    group.addTask { await outcome(of: ledgerEntry("the-task", jti: "jti-\(index)"), on: store) }
                }
                return await group.reduce(into: [LedgerRefusal?]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 == nil }.count == 1)
            #expect(outcomes.filter { $0 == .taskAlreadyIssued("the-task", .issuing) }.count == 199)
            #expect(try await store.verifyAudit() == .intact(records: 1))
        }
    }

    /// 50 tasks racing with one token: one issuance.
    @Test(arguments: LedgerStoreFactory.all)
    func fiftyConcurrentBeginsWithOneToken(factory: LedgerStoreFactory) async throws {
        try await with(factory) { subject async throws in
            let store = subject.store
            let outcomes = await withTaskGroup(of: LedgerRefusal?.self) { group in
                for index in 0..<50 {
                    group.addTask { await outcome(of: ledgerEntry("task-\(index)", jti: "one-token"), on: store) }
                }
                return await group.reduce(into: [LedgerRefusal?]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 == nil }.count == 1)
            #expect(outcomes.filter { $0 == .tokenAlreadyUsed("one-token") }.count == 49)
        }
    }
}

/// What one `begin` came to: nil when it was written, else its refusal.
func outcome(of entry: LedgerEntry, on store: any LedgerStore) async -> LedgerRefusal? {
    do {
        try await store.begin(entry)
        return nil
    } catch {
        return error
    }
}

extension LedgerEntry {
    func withoutToken() -> LedgerEntry {
        var entry = self
        entry.jwtID = nil
        return entry
    }
}

/// The audit chain on its own: the record format existing ledgers were written with, and verification.
@Suite struct AuditChainTests {
    /// Hashes computed outside clawc (Python's hashlib over the documented format): changing the format would
    /// break every existing ledger's chain, so it is pinned here.
    @Test func theRecordHashFormatIsFixed() {
        let first = AuditChain.record(after: nil, event: "issuing", taskID: "t-1",
                                      detail: ["roleArn": "arn:aws:iam::123456789012:role/agents", "jti": ""],
                                      at: Date(timeIntervalSince1970: 1_795_000_000.9))
        #expect(first.seq == 1 && first.at == 1_795_000_000 && first.prev == AuditChain.genesis)
        #expect(first.detail == #"{"jti":"","roleArn":"arn:aws:iam::123456789012:role/agents"}"#)
        #expect(first.hash == "7f5507acc7f21e93f6dd772ae8530a9bc74923e2c0d2931c31cd8ba7c8b57276")
        let second = AuditChain.record(after: (first.seq, first.hash), event: "revoked-before", taskID: nil,
                                       detail: ["before": "2026-11-29T00:00:00Z"], at: Date(timeIntervalSince1970: 1_795_000_060))
        #expect(second.hash == "51701336135e914bde3c4a5772d17a7bcf73f9ab9ae32e1295f32134a0050803")
        #expect(AuditChain.verify([first, second]) == .intact(records: 2))
        #expect(AuditChain.verify([first, second], expecting: (2, second.hash)) == .intact(records: 2))
    }

    @Test func verificationNamesTheFirstRecordThatDoesNotHold() {
        var records: [AuditChain.Record] = []
        for index in 0..<5 {
            records.append(AuditChain.record(after: records.last.map { ($0.seq, $0.hash) }, event: "e\(index)", taskID: "t", detail: [:],
                                             at: Date(timeIntervalSince1970: 1_795_000_000)))
        }
        var missing = records
        missing.remove(at: 2)
        #expect(AuditChain.verify(missing) == .broken(seq: 4, reason: "record 3 is missing"))
        var relinked = records
        relinked[3].prev = relinked[1].hash
        #expect(AuditChain.verify(relinked) == .broken(seq: 4, reason: "it does not link to the record before it"))
        var edited = records
        edited[1].event = "forged"
        #expect(AuditChain.verify(edited) == .broken(seq: 2, reason: "its contents do not match its hash"))
        // Rewritten from record 2 on, every link holds again; only the anchor kept elsewhere tells.
        var rewritten = Array(records.prefix(1))
        for index in 1..<5 {
            rewritten.append(AuditChain.record(after: (rewritten[index - 1].seq, rewritten[index - 1].hash), event: "forged\(index)", taskID: "t",
                                               detail: [:], at: Date(timeIntervalSince1970: 1_795_000_000)))
        }
        #expect(AuditChain.verify(rewritten) == .intact(records: 5))
        #expect(AuditChain.verify(rewritten, expecting: (4, records[3].hash)) ==
            .broken(seq: 4, reason: "its hash is not the expected head's: the chain was rewritten up to this record"))
        #expect(AuditChain.verify([], expecting: (0, AuditChain.genesis)) == .intact(records: 0))
        #expect(AuditChain.verify([], expecting: (0, records[0].hash)) != .intact(records: 0))
    }

    @Test func headsAreReadAndPrinted() {
        #expect(AuditChain.format(head: nil) == "0 " + String(repeating: "0", count: 64))
        let hash = String(repeating: "ab", count: 32)
        #expect(AuditChain.format(head: (12, hash)) == "12 \(hash)")
        #expect(AuditChain.parseHead("12:\(hash)").map { "\($0.seq) \($0.hash)" } == "12 \(hash)")
        for bad in ["12 \(hash)", "12:\(hash.uppercased())", "-1:\(hash)", "12:\(hash.dropLast())", "x:\(hash)", "12:\(hash):1", ""] {
            #expect(AuditChain.parseHead(bad) == nil, "\(bad)")
        }
    }
}
