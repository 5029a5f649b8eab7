import ClawcRuntime
import Foundation
import Logging
import PostgresNIO
import Testing

/// The PostgreSQL server the tests use: `CLAWC_TEST_POSTGRES`, a URL with rights to create databases (`.ci/run`
/// starts one with `Tests/peers/pg.sh` and always sets it), and `CLAWC_TEST_POSTGRES_CA`, the CA its TLS
/// certificate is signed by (for the name `localhost` only). Each test gets a database of its own.
///
/// Unset, the PostgreSQL tests are skipped and say so loudly; the SQLite half of every suite still runs.
enum TestPostgres {
    static let url: String? = ProcessInfo.processInfo.environment["CLAWC_TEST_POSTGRES"].flatMap { $0.isEmpty ? nil : $0 }
    static let caFile: String? = ProcessInfo.processInfo.environment["CLAWC_TEST_POSTGRES_CA"].flatMap { $0.isEmpty ? nil : $0 }
    static var available: Bool { url != nil }

    /// Printed once per run when the server is missing, so a skipped half never passes unnoticed.
    static let warning: Void = {
        if url == nil {
            print("""
                ************************************************************************************************
                WARNING: CLAWC_TEST_POSTGRES is unset: every PostgreSQL ledger test is SKIPPED.
                Start a server with `Tests/peers/pg.sh start DIR` and export the URL it prints (CI always does).
                ************************************************************************************************
                """)
        }
    }()

    struct Failure: Error, CustomStringConvertible { var description: String }

    /// Runs one SQL statement on a connection of its own (not the store's), and returns the first row's first
    /// value as text ("" when there is none). Async on purpose: a blocking child process (psql) in a test would hold
    /// one of the few threads every test shares.
    @discardableResult
    static func sql(_ url: String, _ statement: String) async throws -> String {
        let location = try PostgresLocation.parse(url, environment: [:])
        var configuration = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.user, password: location.password, database: location.database,
            tls: .disable)
        configuration.options.connectTimeout = .seconds(10)
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        do {
            let rows = try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger).collect()
            try await connection.close()
            guard let cell = rows.first?.first else { return "" }
            if let text = try? cell.decode(String?.self) { return text ?? "" }
            if let number = try? cell.decode(Int64.self) { return String(number) }
            if let flag = try? cell.decode(Bool.self) { return flag ? "t" : "f" }
            return "?"
        } catch {
            try? await connection.close()
            throw Failure(description: "SQL failed: \(String(reflecting: error))")
        }
    }

    static let logger = Logger(label: "clawc.tests.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    /// `url` with its database replaced by `database`, and other parts kept.
    static func url(_ url: String, database: String, query: String? = nil) -> String {
        var components = URLComponents(string: url)!
        components.path = "/" + database
        if let query { components.percentEncodedQuery = query }
        return components.string!
    }

    /// A database of its own for one test: its URL, and how to drop it (connections to it are ended first).
    static func freshDatabase() async throws -> (url: String, drop: @Sendable () async -> Void) {
        guard let admin = url else { throw Failure(description: "CLAWC_TEST_POSTGRES is unset") }
        let name = "clawc_t_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")
        try await sql(admin, "CREATE DATABASE \(name)")
        return (url(admin, database: name), { _ = try? await sql(admin, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)") })
    }

    static func ledger(_ url: String, create: Bool = true, key: AuditKey? = nil, timeout: Duration = .seconds(10)) throws -> PostgresLedger {
        try PostgresLedger(location: try PostgresLocation.parse(url, environment: [:]), create: create, auditKey: key, operationTimeout: timeout)
    }
}

extension LedgerStoreFactory {
    static let postgres = LedgerStoreFactory(
        name: "PostgreSQL",
        makeKeyed: { key in
            let (url, drop) = try await TestPostgres.freshDatabase()
            let store = try TestPostgres.ledger(url, key: key)
            return StoreUnderTest(
                store: store,
                tamperWithAuditRecord: { seq in
                    try await TestPostgres.sql(url, "UPDATE clawc.audit SET event = event || '-edited' WHERE seq = \(seq)")
                },
                cleanUp: drop)
        },
        reopen: { subject, key in
            guard let ledger = subject.store as? PostgresLedger else { throw TestPostgres.Failure(description: "not a PostgreSQL ledger") }
            return try PostgresLedger(location: ledger.location, auditKey: key)
        })
}
