import CSQLite
import Foundation

/// A thin, safe wrapper over the SQLite C API: one connection, prepared statements, typed errors.
///
/// Not thread-safe by itself in the sense that matters: SQLite's mutex serializes single calls, not a
/// `BEGIN … COMMIT`. Whoever owns a connection must run one transaction at a time on it (the ledger does, under a
/// lock, and never across an `await`).
final class SQLiteDatabase {
    private var handle: OpaquePointer?

    struct Failure: Error, CustomStringConvertible {
        var code: Int32
        var message: String
        var description: String { "SQLite error \(code): \(message)" }
        /// A constraint failed: a unique task ID or token ID was already taken.
        var isConstraint: Bool { code & 0xFF == SQLITE_CONSTRAINT }
        /// Another connection holds a lock (or recovery or a checkpoint is running): worth trying again later.
        var isBusy: Bool { code & 0xFF == SQLITE_BUSY || code & 0xFF == SQLITE_LOCKED }
    }

    enum Value {
        case text(String)
        case int(Int64)
        case null
    }

    /// Opens `path`; creates the file only when `create` is true. `busyTimeout` is how long one statement waits
    /// for another connection's lock inside SQLite (which sleeps its thread) before answering BUSY; keep it short
    /// and retry above it.
    init(path: String, create: Bool, busyTimeout: Duration) throws(Failure) {
        let flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_FULLMUTEX
        let status = sqlite3_open_v2(path, &handle, flags, nil)
        guard status == SQLITE_OK else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close(handle)
            handle = nil
            throw Failure(code: status, message: message)
        }
        let (seconds, attoseconds) = busyTimeout.components
        sqlite3_busy_timeout(handle, Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000))
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
        var rows: [[String: Value]] = []
        try forEachRow(sql, values) { row in
            rows.append(row)
            return true
        }
        return rows
    }

    /// Runs one statement with bound values and hands each row to `body` as it is read; `body` returns false to
    /// stop early. For results too long to hold at once, such as an audit chain.
    func forEachRow(_ sql: String, _ values: [Value] = [], _ body: ([String: Value]) -> Bool) throws(Failure) {
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
            guard body(row) else { break }
        }
    }

    /// Rows changed by the last INSERT, UPDATE or DELETE on this connection.
    var changes: Int { Int(sqlite3_changes(handle)) }

    enum TransactionKind {
        /// Reads only; a consistent snapshot for its whole length.
        case read
        /// Takes the write lock at once (`BEGIN IMMEDIATE`), so writers queue at the start instead of failing halfway.
        case write
    }

    /// Runs `body` in one transaction: committed when it returns, rolled back when it throws. One attempt: a BUSY
    /// answer (at the start, or at commit) comes back as a `Failure` for the caller to retry later.
    func transaction<T>(_ kind: TransactionKind, _ body: () throws -> T) throws -> T {
        try execute(kind == .write ? "BEGIN IMMEDIATE" : "BEGIN")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            if sqlite3_get_autocommit(handle) == 0 { try? execute("ROLLBACK") }
            throw error
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
