import ClawcRuntime
import Foundation
import Testing

/// The SQLite ledger beyond the conformance suite: bounded waits for another process's lock, many connections on
/// one new file, the default location and its modes, and `clawc audit` on the command line.
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

    /// Another process holds the write lock and keeps it: `begin` gives up after the 10 s bound with `ledger-unavailable`,
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
            time.sleep(600)  # killed by the test when done; long enough for any starved wake-up
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
        #expect(refusal?.code == "ledger-unavailable")
        #expect(refusal?.description.contains("another process holds the write lock of the ledger") == true, "\(String(describing: refusal))")
        #expect(refusal?.description.contains("within 10 s") == true, "\(String(describing: refusal))")
        // Never before the bound; the upper limit is loose because other suites running at the same time block
        // threads of the test runner's small pool (they wait for child processes), which delays a sleeping task's
        // wake-up. Alone this takes 10.0 s and a few milliseconds.
        #expect(elapsed >= .seconds(10) && elapsed < .seconds(60), "\(elapsed)")
        #expect(try await ledger.entry(task: "blocked") == nil)
    }

    /// A lock released while `begin` waits is taken: the wait is a retry, not an immediate failure.
    @Test func aWriteLockReleasedInTimeIsWaitedFor() async throws {
        let ledger = try Ledger(path: path)
        try await ledger.begin(ledgerEntry("before"))
        let raw = try RawSQLite(path)
        try raw.execute("BEGIN IMMEDIATE")
        // Released from a thread of its own: the test runner's small task pool may be busy with other suites.
        let released = DispatchSemaphore(value: 0)
        let release = Thread {
            Thread.sleep(forTimeInterval: 1)
            try? raw.execute("COMMIT")
            released.signal()
        }
        release.start()
        let clock = ContinuousClock()
        let start = clock.now
        try await ledger.begin(ledgerEntry("after"))
        let elapsed = clock.now - start
        released.wait()
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
            // Never before the bound; the upper limit only guards against an endless wait (see above).
            #expect(elapsed >= .seconds(1) && elapsed < .seconds(60), "\(elapsed)")
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

    // MARK: where the ledger is

    @Test func theLocationComesFromTheFlagTheEnvironmentOrTheDefault() throws {
        let env = ["CLAWC_LEDGER": "/srv/env.sqlite", "XDG_STATE_HOME": "/state", "HOME": "/home/u"]
        #expect(try LedgerLocation.resolve(flag: "/srv/flag.sqlite", environment: env) == LedgerLocation(path: "/srv/flag.sqlite", source: .flag))
        #expect(try LedgerLocation.resolve(flag: nil, environment: env) == LedgerLocation(path: "/srv/env.sqlite", source: .environment))
        #expect(try LedgerLocation.resolve(flag: nil, environment: ["XDG_STATE_HOME": "/state/", "HOME": "/home/u"])
            == LedgerLocation(path: "/state/clawc/ledger.sqlite", source: .stateHome))
        #expect(try LedgerLocation.resolve(flag: nil, environment: ["HOME": "/home/u"])
            == LedgerLocation(path: "/home/u/.local/state/clawc/ledger.sqlite", source: .home))
        // Empty counts as unset; a relative XDG_STATE_HOME is ignored, as the XDG specification says.
        #expect(try LedgerLocation.resolve(flag: nil, environment: ["CLAWC_LEDGER": "", "XDG_STATE_HOME": "state", "HOME": "/home/u"]).source == .home)
        #expect(try LedgerLocation.resolve(flag: nil, environment: ["HOME": "/home/u"]).explanation.contains("/home/u/.local/state/clawc/ledger.sqlite"))
        #expect(throws: LedgerLocation.Failure.self) { try LedgerLocation.resolve(flag: "", environment: env) }
        do {
            _ = try LedgerLocation.resolve(flag: nil, environment: ["HOME": "", "XDG_STATE_HOME": ""])
            Issue.record("resolved a location from nothing")
        } catch {
            #expect(error.code == "missing-ledger")
        }
    }

    @Test(arguments: ["postgres://clawc:s3cret@db.example.com/ledger", "postgresql://clawc:s3cret@db/ledger?sslmode=require", "POSTGRES://clawc:s3cret@db/x"])
    func postgresURLsNameAPostgresLedgerAndTheirPasswordIsNeverEchoed(url: String) throws {
        for (flag, env) in [(url, [String: String]()), (nil, ["CLAWC_LEDGER": url])] {
            let location = try LedgerLocation.resolve(flag: flag, environment: env)
            #expect(location.postgres?.user == "clawc")
            #expect(location.postgres?.password == "s3cret")
            #expect(!location.path.contains("s3cret") && !location.explanation.contains("s3cret"), "\(location.explanation)")
            #expect(location.explanation.contains("PostgreSQL"))
        }
        // A bad URL is an error that names the part, and never repeats the password.
        do {
            _ = try LedgerLocation.resolve(flag: "postgres://clawc:s3cret@db/ledger?sslmode=verify_full", environment: [:])
            Issue.record("a misspelled sslmode was accepted")
        } catch {
            #expect(error.code == "ledger-error")
            #expect(error.message.contains("sslmode `verify_full`") && !error.message.contains("s3cret"), "\(error.message)")
        }
        #expect(throws: LedgerLocation.Failure.self) { try LedgerLocation.resolve(flag: "mysql://u:p@h/d", environment: [:]) }
    }

    /// Through the binary, with HOME (or XDG_STATE_HOME) in a scratch folder: the default is used, and created
    /// folder 0700, file 0600. `sweep` with nothing to sweep makes no IAM call (the endpoint is a closed port).
    @Test(arguments: [false, true])
    func theDefaultLocationIsCreatedOwnerOnly(viaStateHome: Bool) throws {
        let home = dir.appendingPathComponent("home").path
        let state = dir.appendingPathComponent("state").path
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let environment = [
            "HOME": home, "XDG_STATE_HOME": viaStateHome ? state : "", "CLAWC_LEDGER": "",
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_ENDPOINT_URL_IAM": "http://127.0.0.1:9",
        ]
        let folder = viaStateHome ? state + "/clawc" : home + "/.local/state/clawc"
        let run = try runClawc(["sweep"], environment: environment)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try Self.mode(folder) == 0o700)
        #expect(try Self.mode(folder + "/ledger.sqlite") == 0o600)
        if !viaStateHome {
            #expect(try Self.mode(home + "/.local") == 0o700)
            #expect(try Self.mode(home + "/.local/state") == 0o700)
        }
        let head = try runClawc(["audit", "head"], environment: environment)
        #expect(head.status == 0, "\(head.stderr)")
        #expect(head.stdout == "0 \(AuditChain.genesis)\n")
    }

    // MARK: `clawc audit`

    @Test func auditHeadPrintsSeqAndHash() async throws {
        let ledger = try Ledger(path: path)
        #expect(try runClawc(["audit", "head", "--ledger", path]).stdout == "0 " + String(repeating: "0", count: 64) + "\n", "a new, empty ledger")
        try await ledger.begin(ledgerEntry("t-1"))
        try await ledger.transition(task: "t-1", to: .failed, event: "failed", detail: [:])
        try await ledger.audit("revoked-before", detail: ["before": "now"])
        let head = try #require(try await ledger.auditHead())
        let run = try runClawc(["audit", "head", "--ledger", path])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout == "3 \(head.hash)\n")
        #expect(run.stdout.range(of: #"^3 [0-9a-f]{64}\n$"#, options: .regularExpression) != nil)
        #expect(run.stderr.isEmpty)

        // The printed head is the anchor `audit verify --expect-head` checks against.
        let anchor = run.stdout.dropLast().replacingOccurrences(of: " ", with: ":")
        let verified = try runClawc(["audit", "verify", "--ledger", path, "--expect-head", anchor])
        #expect(verified.status == 0, "\(verified.stderr)")
        // Cut the last record off: every remaining link holds, but the anchor is gone.
        try RawSQLite(path).execute("DELETE FROM audit WHERE seq = 3")
        #expect(try runClawc(["audit", "verify", "--ledger", path]).status == 0)
        let cut = try runClawc(["audit", "verify", "--ledger", path, "--expect-head", anchor])
        #expect(cut.status == 1)
        #expect(cut.stderr.contains("audit record 3 is broken: the chain ends at record 2, before the expected head"), "\(cut.stderr)")
        let malformed = try runClawc(["audit", "verify", "--ledger", path, "--expect-head", "3 \(head.hash)"])
        #expect(malformed.status == 2, "\(malformed.stderr)")
    }

    @Test(arguments: [["audit", "verify"], ["audit", "head"]])
    func auditOnAMissingLedgerIsAnErrorAndCreatesNothing(command: [String]) throws {
        let missing = dir.appendingPathComponent("nowhere/ledger.sqlite").path
        let run = try runClawc(command + ["--ledger", missing])
        #expect(run.status == 1)
        #expect(run.stdout.isEmpty)
        #expect(run.stderr.contains("there is no ledger at `\(missing)`") && run.stderr.contains("[ledger-error]"), "\(run.stderr)")
        #expect(run.stderr.contains("help: "))
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("nowhere").path))

        // The default location, too: no folder appears under HOME.
        let home = dir.appendingPathComponent("home").path
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let byDefault = try runClawc(command, environment: ["HOME": home, "XDG_STATE_HOME": "", "CLAWC_LEDGER": ""])
        #expect(byDefault.status == 1)
        #expect(byDefault.stderr.contains("(the default location)"), "\(byDefault.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: home).isEmpty)
    }

    /// A server that is not PostgreSQL (a man in the middle of an unverified connection) answers with an error whose
    /// message holds terminal escapes and a newline: it reaches the operator escaped, on one line, and nothing is
    /// printed on stdout.
    @Test func aHostileServersErrorIsPrintedEscaped() throws {
        let (impostor, stdin, object) = try Peers.launch("Tests/peers/pg_hostile.py")
        defer {
            try? stdin.fileHandleForWriting.close()
            kill(impostor.processIdentifier, SIGKILL)
        }
        let url = try #require(object["url"])
        for command in [["ledger", "status"], ["audit", "head"], ["ledger", "migrate"]] {
            let run = try runClawc(command + ["--ledger", url])
            #expect(run.status != 0 && run.stdout.isEmpty, "\(command): \(run.status) \(run.stdout)")
            #expect(!run.stderr.contains("\u{1B}"), "\(command): a raw escape reached the terminal: \(run.stderr)")
            #expect(run.stderr.contains("\\u{1B}[2J"), "\(command): \(run.stderr)")
            #expect(!run.stderr.contains("\nclawc: ledger OK"), "\(command): a forged line: \(run.stderr)")
        }
    }

    /// `ledger status` on an SQLite file: nothing is created when it is missing; after issuances it counts rows by
    /// state and prints the same head as `audit head`.
    @Test func ledgerStatusReportsAnSQLiteLedger() async throws {
        let path = dir.appendingPathComponent("status.sqlite").path
        let missing = try runClawc(["ledger", "status", "--ledger", path])
        #expect(missing.status == 1 && missing.stderr.contains("there is no ledger"), "\(missing.stderr)")
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(try runClawc(["ledger", "migrate", "--ledger", path]).status == 0)
        let ledger = try Ledger(path: path)
        try await ledger.begin(ledgerEntry("t-1"))
        let status = try runClawc(["ledger", "status", "--ledger", path])
        #expect(status.status == 0, "\(status.stderr)")
        #expect(status.stdout.contains("(SQLite)") && status.stdout.contains("schema: version 1 (current)") && status.stdout.contains("issuing 1,"),
                "\(status.stdout)")
        let head = try runClawc(["audit", "head", "--ledger", path])
        #expect(status.stdout.contains("audit head: " + head.stdout), "\(status.stdout) vs \(head.stdout)")
    }

    /// A PostgreSQL ledger nobody answers at: refused with `ledger-unavailable`, the URL shown without its password.
    @Test func anUnreachablePostgresLedgerIsRefusedOnTheCommandLine() throws {
        let run = try runClawc(["audit", "head", "--ledger", "postgres://clawc:s3cret@127.0.0.1:9/ledger"])
        #expect(run.status == 1)
        #expect(run.stdout.isEmpty)
        #expect(run.stderr.contains("cannot reach PostgreSQL at postgres://clawc@127.0.0.1:9/ledger") && run.stderr.contains("[ledger-unavailable]"), "\(run.stderr)")
        #expect(!run.stderr.contains("s3cret"))
        let status = try runClawc(["ledger", "status", "--ledger", "postgres://clawc:s3cret@127.0.0.1:9/ledger"])
        #expect(status.status == 3, "\(status.stderr)")
        #expect(!status.stderr.contains("s3cret"))
    }

    /// Review finding: deleting an `issuance` row behind clawc's back re-enabled issuing the task, and `audit verify`
    /// said "intact". The audit log now remembers the task, and verify cross-checks rows against the chain.
    @Test func aDeletedIssuanceRowNeitherReenablesTheTaskNorPassesVerify() async throws {
        let ledger = try Ledger(path: path)
        try await ledger.begin(ledgerEntry("gone-1"))
        try RawSQLite(path).execute("DELETE FROM issuance WHERE task_id = 'gone-1'")
        do {
            try await ledger.begin(ledgerEntry("gone-1"))
            Issue.record("a task whose row was deleted was issued again")
        } catch {
            #expect(error.code == "already-issued")
            #expect(error.description.contains("ledger row is gone"), "\(error.description)")
        }
        guard case .broken(_, let reason) = try await ledger.verifyAudit(expecting: nil) else {
            Issue.record("verify said intact after a row was deleted")
            return
        }
        #expect(reason.contains("`gone-1`"), "\(reason)")
    }

    // MARK: a keyed audit chain

    func keyFile(_ name: String, _ contents: String = String(repeating: "k3y", count: 16), mode: Int = 0o600) throws -> String {
        let file = dir.appendingPathComponent(name).path
        try contents.write(toFile: file, atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: file)
        return file
    }

    func forge(seq: Int, key: String? = nil) throws {
        let run = try runProgram(URL(fileURLWithPath: "/usr/bin/env"),
                                 ["python3", Repo.path("Tests/peers/audit_forge.py"), path, String(seq)] + (key.map { ["--key", $0] } ?? []))
        #expect(run.status == 0, "\(run.stderr)")
    }

    /// Review finding: an attacker who can write the ledger edits a record and recomputes the unkeyed chain, and
    /// `audit verify` says intact. A keyed chain can't be recomputed without the key, which lives outside the ledger.
    @Test func aKeyedChainRecomputedWithoutItsKeyIsBroken() async throws {
        let key = try AuditKey.load(path: try keyFile("audit.key"))
        let ledger = try Ledger(path: path, auditKey: key)
        try await ledger.begin(ledgerEntry("t-1"))
        try await ledger.transition(task: "t-1", to: .failed, event: "failed", detail: [:])
        try await ledger.begin(ledgerEntry("t-2"))
        #expect(try await ledger.verifyAudit() == .intact(records: 3))

        // Unkeyed, the same forgery passes: this is what the key is for.
        let plainPath = dir.appendingPathComponent("plain.sqlite").path
        let plain = try Ledger(path: plainPath)
        try await plain.begin(ledgerEntry("t-1"))
        try await plain.begin(ledgerEntry("t-2"))
        let run = try runProgram(URL(fileURLWithPath: "/usr/bin/env"), ["python3", Repo.path("Tests/peers/audit_forge.py"), plainPath, "1"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try await plain.verifyAudit() == .intact(records: 2), "the forger's script reproduces the chain format")

        try forge(seq: 2)
        guard case .broken(let seq, let reason) = try await ledger.verifyAudit() else { Issue.record("a recomputed keyed chain verified"); return }
        #expect(seq == 2 && reason.contains("keyed hash"), "\(reason)")

        // Recomputed under a guessed key: broken too.
        try forge(seq: 2, key: try keyFile("guess.key", String(repeating: "g", count: 40)))
        guard case .broken(2, _) = try await ledger.verifyAudit() else { Issue.record("a chain keyed with another key verified"); return }

        // Only the real key reproduces it; the test's own forger with the real key shows the format is what it says.
        try forge(seq: 2, key: dir.appendingPathComponent("audit.key").path)
        #expect(try await ledger.verifyAudit() == .intact(records: 3))
    }

    @Test func aKeyedChainIsNeverMixedWithAnUnkeyedOne() async throws {
        let keyPath = try keyFile("audit.key")
        let key = try AuditKey.load(path: keyPath)
        let other = try AuditKey.load(path: try keyFile("other.key", String(repeating: "o", count: 32)))
        let keyed = try Ledger(path: path, auditKey: key)
        try await keyed.begin(ledgerEntry("t-1"))

        // Without the key, or with another: refused before anything is written, reads and writes alike.
        for (name, wrong) in [("no key", nil), ("another key", other)] as [(String, AuditKey?)] {
            let store = try Ledger(path: path, auditKey: wrong)
            await #expect(throws: LedgerRefusal.self, "\(name)") { try await store.begin(ledgerEntry("t-2")) }
            await #expect(throws: LedgerRefusal.self, "\(name)") { _ = try await store.verifyAudit() }
        }
        #expect(try await keyed.entry(task: "t-2") == nil)
        #expect(try await keyed.verifyAudit() == .intact(records: 1))

        // Removing the ledger's record of its key does not make the chain unkeyed to a verifier holding the key.
        try RawSQLite(path).execute("DELETE FROM meta")
        do {
            _ = try await keyed.verifyAudit()
            Issue.record("a keyed chain with its key record removed verified")
        } catch {
            #expect(error.description.contains("not keyed"), "\(error.description)")
        }

        // An unkeyed chain that holds records takes no key later.
        let plainPath = dir.appendingPathComponent("plain.sqlite").path
        try await Ledger(path: plainPath).begin(ledgerEntry("t-1"))
        let late = try Ledger(path: plainPath, auditKey: key)
        do {
            try await late.begin(ledgerEntry("t-2"))
            Issue.record("a key was taken up by an unkeyed chain")
        } catch {
            #expect(error.description.contains("is not keyed"), "\(error.description)")
        }

        // On the command line: the key from --audit-key or CLAWC_AUDIT_KEY; without it, a clear error.
        let bare = try runClawc(["audit", "verify", "--ledger", plainPath])
        #expect(bare.status == 0, "\(bare.stderr)")
        let keyedPath = dir.appendingPathComponent("keyed.sqlite").path
        try await Ledger(path: keyedPath, auditKey: key).begin(ledgerEntry("t-1"))
        let withFlag = try runClawc(["audit", "verify", "--ledger", keyedPath, "--audit-key", keyPath])
        #expect(withFlag.status == 0 && withFlag.stderr.contains("intact: 1 record"), "\(withFlag.stderr)")
        let withEnv = try runClawc(["audit", "verify", "--ledger", keyedPath], environment: ["CLAWC_AUDIT_KEY": keyPath])
        #expect(withEnv.status == 0, "\(withEnv.stderr)")
        let without = try runClawc(["audit", "verify", "--ledger", keyedPath])
        #expect(without.status == 1 && without.stderr.contains("is keyed (key ID \(key.id))") && without.stderr.contains("--audit-key"), "\(without.stderr)")
    }

    @Test(arguments: [("short", "too-short", 0o600, "at least 32"), ("open", String(repeating: "x", count: 40), 0o644, "chmod 600"),
                      ("missing", "", -1, "cannot read")])
    func aBadAuditKeyFileIsAnErrorNotAnUnkeyedChain(name: String, contents: String, mode: Int, message: String) throws {
        _ = try Ledger(path: path)
        let file = mode < 0 ? dir.appendingPathComponent("absent.key").path : try keyFile(name, contents, mode: mode)
        let run = try runClawc(["audit", "head", "--ledger", path, "--audit-key", file])
        #expect(run.status == 1 && run.stderr.contains("[audit-key]") && run.stderr.contains(message), "\(run.stderr)")
        #expect(run.stdout.isEmpty)
        if !contents.isEmpty { #expect(!run.stderr.contains(contents), "the key's bytes are never printed") }
    }
}
