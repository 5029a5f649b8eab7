import CSQLite
import Foundation

/// A thin, safe wrapper over the SQLite C API: one connection, prepared statements, typed errors.
final class SQLiteDatabase {
    private var handle: OpaquePointer?

    struct Failure: Error, CustomStringConvertible {
        var code: Int32
        var message: String
        var description: String { "SQLite error \(code): \(message)" }
        /// A constraint failed: a unique task ID or token ID was already taken.
        var isConstraint: Bool { code & 0xFF == SQLITE_CONSTRAINT }
        /// Another connection holds a lock.
        var isBusy: Bool { code & 0xFF == SQLITE_BUSY || code & 0xFF == SQLITE_LOCKED }
    }

    enum Value {
        case text(String)
        case int(Int64)
        case null
    }

    init(path: String) throws(Failure) {
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX
        let status = sqlite3_open_v2(path, &handle, flags, nil)
        guard status == SQLITE_OK else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close(handle)
            handle = nil
            throw Failure(code: status, message: message)
        }
        sqlite3_busy_timeout(handle, 30_000)
    }

    deinit { sqlite3_close(handle) }

    func execute(_ sql: String) throws(Failure) {
        var error: UnsafeMutablePointer<CChar>?
        let status = sqlite3_exec(handle, sql, nil, nil, &error)
        if status != SQLITE_OK {
            let message = error.map { String(cString: $0) } ?? "failed"
            sqlite3_free(error)
            throw Failure(code: status, message: message)
        }
    }

    /// Runs one statement with bound values; returns its rows as column name → value.
    @discardableResult
    func query(_ sql: String, _ values: [Value] = []) throws(Failure) -> [[String: Value]] {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &statement, nil) == SQLITE_OK else { throw lastError() }
        defer { sqlite3_finalize(statement) }
        let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
        for (index, value) in values.enumerated() {
            let position = Int32(index + 1)
            switch value {
            case .text(let text): sqlite3_bind_text(statement, position, text, -1, transient)
            case .int(let number): sqlite3_bind_int64(statement, position, number)
            case .null: sqlite3_bind_null(statement, position)
            }
        }
        var rows: [[String: Value]] = []
        while true {
            let status = sqlite3_step(statement)
            if status == SQLITE_DONE { break }
            guard status == SQLITE_ROW else { throw lastError(status) }
            var row: [String: Value] = [:]
            for column in 0..<sqlite3_column_count(statement) {
                let name = String(cString: sqlite3_column_name(statement, column))
                switch sqlite3_column_type(statement, column) {
                case SQLITE_INTEGER: row[name] = .int(sqlite3_column_int64(statement, column))
                case SQLITE_NULL: row[name] = .null
                default: row[name] = .text(sqlite3_column_text(statement, column).map { String(cString: $0) } ?? "")
                }
            }
            rows.append(row)
        }
        return rows
    }

    /// Runs `body` in a write transaction taken at once (`BEGIN IMMEDIATE`), so writers queue instead of racing.
    func transaction<T>(_ body: () throws -> T) throws -> T {
        // The busy handler covers most waits; in WAL mode SQLite can still answer BUSY at once (during recovery
        // or a checkpoint), so starting the transaction is retried for a few seconds too.
        try retryingWhileBusy(attempts: 300) { () throws(Failure) in try execute("BEGIN IMMEDIATE") }
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    /// Runs `body`, again after a short random pause each time it fails because another connection holds a lock.
    func retryingWhileBusy(attempts: Int, _ body: () throws(Failure) -> Void) throws(Failure) {
        var attempt = 0
        while true {
            let outcome: Failure?
            do {
                try body()
                outcome = nil
            } catch {
                outcome = error
            }
            guard let failure = outcome else { return }
            attempt += 1
            guard failure.isBusy, attempt < attempts else { throw failure }
            usleep(useconds_t(10_000 + Int.random(in: 0..<20_000)))
        }
    }

    private func lastError(_ status: Int32? = nil) -> Failure {
        Failure(code: status ?? sqlite3_errcode(handle), message: String(cString: sqlite3_errmsg(handle)))
    }
}

extension SQLiteDatabase.Value {
    var text: String? { if case .text(let t) = self { t } else { nil } }
    var int: Int64? { if case .int(let n) = self { n } else { nil } }
}
