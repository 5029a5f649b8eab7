import ClawcRuntime
import Foundation
import Testing

/// The SQLite ledger beyond the conformance suite: bounded waits for another process's lock, many connections on
/// one new file, file modes.
@Suite struct LedgerStoreTests {
    let dir: URL
    let path: String

    init() throws {
        dir = try temporaryDirectory()
        path = dir.appendingPathComponent("ledger.sqlite").path
    }

    static func mode(_ path: String) throws -> Int {
        try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
    }

    // MARK: locks held by others

    /// Another process holds the write lock and keeps it: `begin` gives up after the 10 s bound with `ledger-error`,
    /// saying who is in the way, instead of waiting for minutes.
    @Test func aWriteLockHeldByAnotherProcessFailsWithinTheBound() async throws {
        let ledger = try Ledger(path: path)
        try await ledger.begin(ledgerEntry("before"))
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        holder.arguments = ["python3", "-c", """
            import sqlite3, sys, time
            db = sqlite3.connect(sys.argv[1], isolation_level=None)
            db.execute("BEGIN IMMEDIATE")
            print("held", flush=True)
            time.sleep(30)
            """, path]
        let out = Pipe()
        holder.standardOutput = out
        try holder.run()
        defer {
            // SIGKILL: a SIGTERM the test runner ignores would be ignored by the child too.
            kill(holder.processIdentifier, SIGKILL)
            holder.waitUntilExit()
        }
        #expect(String(decoding: out.fileHandleForReading.availableData, as: UTF8.self).hasPrefix("held"))

        let clock = ContinuousClock()
        let start = clock.now
        var refusal: LedgerRefusal?
        do {
            try await ledger.begin(ledgerEntry("blocked"))
        } catch {
            refusal = error
        }
        let elapsed = clock.now - start
        print("ledger: begin against a held write lock gave up after \(elapsed)")
        #expect(refusal?.code == "ledger-error")
        #expect(refusal?.description.contains("another process holds the write lock of the ledger") == true, "\(String(describing: refusal))")
        #expect(refusal?.description.contains("within 10 s") == true, "\(String(describing: refusal))")
        // Never before the bound; the upper limit is loose because other suites running at the same time block
        // threads of the test runner's small pool (they wait for child processes), which delays a sleeping task's
        // wake-up. Alone this takes 10.0 s and a few milliseconds.
        #expect(elapsed >= .seconds(10) && elapsed < .seconds(15), "\(elapsed)")
        #expect(try await ledger.entry(task: "blocked") == nil)
    }

    /// A lock released while `begin` waits is taken: the wait is a retry, not an immediate failure.
    @Test func aWriteLockReleasedInTimeIsWaitedFor() async throws {
        let ledger = try Ledger(path: path)
        try await ledger.begin(ledgerEntry("before"))
        let raw = try RawSQLite(path)
        try raw.execute("BEGIN IMMEDIATE")
        let release = Task {
            try await Task.sleep(for: .seconds(1))
            try raw.execute("COMMIT")
        }
        let clock = ContinuousClock()
        let start = clock.now
        try await ledger.begin(ledgerEntry("after"))
        let elapsed = clock.now - start
        try await release.value
        #expect(elapsed >= .seconds(0.9), "it waited for the commit: \(elapsed)")
        #expect(try await ledger.entry(task: "after")?.state == .issuing)
    }

    /// Eight connections (as eight processes would) on one new file, 200 begins between them: setup races and
    /// lock waits are all absorbed, nothing fails.
    @Test func eightConnectionsOnOneNewLedger() async throws {
        let ledgers = try (0..<8).map { _ in try Ledger(path: path) }
        let clock = ContinuousClock()
        let start = clock.now
        let failures = await withTaskGroup(of: LedgerRefusal?.self) { group in
            for index in 0..<200 {
                let ledger = ledgers[index % ledgers.count]
                group.addTask { await outcome(of: ledgerEntry("task-\(index)"), on: ledger) }
            }
            return await group.reduce(into: [LedgerRefusal]()) { if let failure = $1 { $0.append(failure) } }
        }
        print("ledger: 200 begins over 8 connections to one new file took \(clock.now - start)")
        #expect(failures.isEmpty, "\(failures.prefix(3))")
        #expect(try await ledgers[0].entries(in: [.issuing]).count == 200)
        #expect(try await ledgers[3].verifyAudit() == .intact(records: 200))
    }

    @Test func aNewLedgerFileIsOwnerOnly() async throws {
        let ledger = try Ledger(path: path)
        _ = try await ledger.auditHead()
        #expect(try Self.mode(path) == 0o600)
    }

    @Test func openingForAuditCreatesNothing() throws {
        let missing = dir.appendingPathComponent("missing.sqlite").path
        #expect(throws: LedgerRefusal.storage("there is no ledger at `\(missing)`")) { try Ledger(path: missing, create: false) }
        #expect(!FileManager.default.fileExists(atPath: missing))
        // A file that is not a ledger is refused, and left as it was.
        try Data().write(to: URL(fileURLWithPath: missing))
        #expect(throws: LedgerRefusal.storage("`\(missing)` is not a clawc ledger: it has no issuance and audit tables")) {
            try Ledger(path: missing, create: false)
        }
        #expect(try FileManager.default.attributesOfItem(atPath: missing)[.size] as? Int == 0)
    }

    // MARK: the trust-policy lock

    @Test func theFileLockGivesUpAfterItsBound() async throws {
        let lock = dir.appendingPathComponent("iam.lock").path
        let clock = ContinuousClock()
        try await FileLock.withLock(lock) {
            let start = clock.now
            do {
                _ = try await FileLock.withLock(lock, timeout: .seconds(1)) { Issue.record("took a lock held by another descriptor") }
                Issue.record("no failure")
            } catch let failure as RevocationFailure {
                #expect(failure.code == "lock-error")
                #expect(failure.message.contains("another process has held the lock"), "\(failure.message)")
            }
            let elapsed = clock.now - start
            #expect(elapsed >= .seconds(1) && elapsed < .seconds(10), "\(elapsed)")
        }
        // Released: taken at the first try.
        try await FileLock.withLock(lock, timeout: .zero) {}
    }

    @Test func theFileLockIsTakenWhenReleased() async throws {
        let lock = dir.appendingPathComponent("iam.lock").path
        let holding = Task {
            try await FileLock.withLock(lock) { try await Task.sleep(for: .milliseconds(500)) }
        }
        try await Task.sleep(for: .milliseconds(100))
        let clock = ContinuousClock()
        let start = clock.now
        try await FileLock.withLock(lock, timeout: .seconds(5)) {}
        #expect(clock.now - start >= .seconds(0.3))
        try await holding.value
    }
}
