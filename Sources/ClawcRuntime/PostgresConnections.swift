import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO

/// A small pool of connections to one PostgreSQL server: opened on demand, kept for reuse, at most `maximum` at once.
///
/// Unlike a pool that waits out an outage by retrying in the background, a connection that cannot be opened fails the
/// call at once: an issuer that cannot reach its ledger must refuse now (`ledger-unavailable`), not in a minute.
/// Every use is bounded by a deadline; a connection whose call ran past it is closed, which also ends any
/// transaction it had open on the server.
final class PostgresConnections: Sendable {
    let configuration: PostgresConnection.Configuration
    let location: PostgresLocation
    let maximum: Int
    private let state: State
    private let logger = Logger(label: "clawc.ledger.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    /// The deadline ran out: the call was abandoned and its connection closed.
    struct Timeout: Error {}
    /// The connection was closed (by the server, or the network) before the call could start on it.
    struct Closed: Error {}

    init(location: PostgresLocation, maximum: Int) throws(LedgerRefusal) {
        self.location = location
        self.maximum = max(1, maximum)
        let tls: PostgresConnection.Configuration.TLS
        do {
            tls = try Self.tls(for: location)
        } catch {
            throw .storage("the TLS settings for \(location) cannot be used: \(error)")
        }
        var configuration = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.user, password: location.password, database: location.database, tls: tls)
        configuration.options.connectTimeout = .nanoseconds(Int64(location.connectTimeout.components.seconds) * 1_000_000_000)
        configuration.options.additionalStartupParameters = [("application_name", location.applicationName)]
        if location.sslMode == .verifyFull, !Self.isIPAddress(location.host) {
            // The name the certificate must carry (an IP address is checked against the certificate's IP entries).
            configuration.options.tlsServerName = location.host
        }
        self.configuration = configuration
        state = State(maximum: self.maximum)
    }

    /// libpq's `sslmode`, as NIOSSL settings. `allow` and `prefer` try TLS and accept a plaintext server, without
    /// checking the certificate (as libpq); `require` needs TLS; `verify-ca` also checks the chain against
    /// `sslrootcert` (or the system's roots); `verify-full` also checks the host name (or address).
    static func tls(for location: PostgresLocation) throws -> PostgresConnection.Configuration.TLS {
        var settings = TLSConfiguration.makeClientConfiguration()
        if let root = location.sslRootCert {
            guard FileManager.default.isReadableFile(atPath: root) else { throw Message("sslrootcert `\(root)` cannot be read") }
            settings.trustRoots = .file(root)
        }
        switch location.sslMode {
        case .disable: return .disable
        case .allow, .prefer:
            settings.certificateVerification = .none
            return .prefer(try NIOSSLContext(configuration: settings))
        case .require:
            settings.certificateVerification = .none
            return .require(try NIOSSLContext(configuration: settings))
        case .verifyCA:
            settings.certificateVerification = .noHostnameVerification
            return .require(try NIOSSLContext(configuration: settings))
        case .verifyFull:
            settings.certificateVerification = .fullVerification
            return .require(try NIOSSLContext(configuration: settings))
        }
    }

    struct Message: Error, CustomStringConvertible { var description: String; init(_ text: String) { description = text } }

    static func isIPAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }

    /// Runs `body` on a connection, within `timeout` from the moment a connection is in hand (opening one is
    /// bounded by `connect_timeout`). The connection goes back to the pool if `body` finished or threw a
    /// `LedgerRefusal` with the connection outside any transaction; otherwise it is closed.
    func withConnection<T: Sendable>(timeout: Duration, _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let connection = try await lease()
        do {
            let value = try await Self.bounded(connection, timeout: timeout, body)
            await release(connection, reusable: !connection.isClosed)
            return value
        } catch let refusal as LedgerRefusal where !connection.isClosed {
            // Refused by the ledger's own rules, with any transaction already rolled back: the connection is sound.
            await release(connection, reusable: true)
            throw refusal
        } catch {
            await release(connection, reusable: false)
            try? await connection.close()
            throw error
        }
    }

    /// Races `body` against the deadline; past it, closes the connection (failing whatever `body` waits for) and
    /// throws `Timeout` at once, without waiting for `body` to notice.
    static func bounded<T: Sendable>(_ connection: PostgresConnection, timeout: Duration, _ body: @escaping @Sendable (PostgresConnection) async throws -> T)
        async throws -> T
    {
        // A query on a connection already closed waits for nothing that will come (PostgresNIO does not fail it):
        // refuse it here instead of at the deadline.
        guard !connection.isClosed else { throw Closed() }
        return try await race(timeout: timeout, onTimeout: { try? await connection.close() }) { try await body(connection) }
    }

    /// The first of `body`'s outcome and the deadline. At the deadline `onTimeout` runs and `Timeout` is thrown;
    /// `body` is cancelled and left to finish on its own; a value it returns after that goes to `discard`.
    static func race<T: Sendable>(timeout: Duration, onTimeout: @escaping @Sendable () async -> Void,
                                  discard: @escaping @Sendable (T) async -> Void = { _ in }, _ body: @escaping @Sendable () async throws -> T)
        async throws -> T
    {
        let outcome = Outcome<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                outcome.install(continuation)
                let work = Task {
                    do {
                        let value = try await body()
                        // Too late: the caller has gone on without it.
                        if !outcome.finish(.success(value)) { await discard(value) }
                    } catch {
                        outcome.finish(.failure(error))
                    }
                }
                let timer = Task {
                    try await Task.sleep(for: timeout)
                    if outcome.finish(.failure(Timeout())) {
                        work.cancel()
                        await onTimeout()
                    }
                }
                outcome.onFinish { timer.cancel() }
            }
        } onCancel: {
            outcome.finish(.failure(CancellationError()))
        }
    }

    /// One continuation, resumed once, by whichever side comes first.
    final class Outcome<T: Sendable>: @unchecked Sendable {
        private let lock = NSLock()
        private var continuation: CheckedContinuation<T, any Error>?
        private var result: Result<T, any Error>?
        private var finished: (@Sendable () -> Void)?

        func install(_ continuation: CheckedContinuation<T, any Error>) {
            let early: Result<T, any Error>? = lock.withLock {
                if let result { return result }
                self.continuation = continuation
                return nil
            }
            if let early { continuation.resume(with: early) }
        }

        /// Sets the outcome if none is set yet; true if this call set it.
        @discardableResult
        func finish(_ value: Result<T, any Error>) -> Bool {
            let (first, waiting, after): (Bool, CheckedContinuation<T, any Error>?, (@Sendable () -> Void)?) = lock.withLock {
                guard result == nil else { return (false, nil, nil) }
                result = value
                defer { continuation = nil }
                return (true, continuation, finished)
            }
            waiting?.resume(with: value)
            if first { after?() }
            return first
        }

        func onFinish(_ action: @escaping @Sendable () -> Void) {
            let done = lock.withLock {
                if result != nil { return true }
                finished = action
                return false
            }
            if done { action() }
        }
    }

    /// A connection from the pool, or a new one while fewer than `maximum` are open; else waits for one.
    func lease() async throws -> PostgresConnection {
        while true {
            switch try await state.acquire() {
            case .idle(let connection):
                if connection.isClosed {
                    await state.release(nil)
                    continue
                }
                return connection
            case .open:
                do {
                    let id = await state.nextID()
                    let (configuration, logger) = (self.configuration, self.logger)
                    // The TCP connect has its own timeout; TLS and authentication are bounded here, so a server that
                    // accepts and then says nothing cannot hold the call. A connection made after the deadline is closed.
                    return try await Self.race(timeout: location.connectTimeout, onTimeout: {}, discard: { try? await $0.close() }) {
                        try await PostgresConnection.connect(configuration: configuration, id: id, logger: logger)
                    }
                } catch {
                    await state.release(nil)
                    throw error
                }
            }
        }
    }

    func release(_ connection: PostgresConnection, reusable: Bool) async {
        await state.release(reusable ? connection : nil)
    }

    /// Closes the idle connections (the leased ones close when their users are done with them).
    func shutdown() async {
        for connection in await state.drain() { try? await connection.close() }
    }

    /// Who holds which connection; waiters are served first come, first served.
    private actor State {
        enum Grant: Sendable {
            case idle(PostgresConnection)
            /// Permission to open one more connection.
            case open
        }

        let maximum: Int
        var idle: [PostgresConnection] = []
        var open = 0
        var lastID = 0
        var waiters: [(id: Int, continuation: CheckedContinuation<Grant, any Error>)] = []
        var lastWaiter = 0

        init(maximum: Int) { self.maximum = maximum }

        /// A pool let go without `shutdown()`: its idle connections are closed, each kept alive until its close is
        /// done (PostgresNIO requires a connection to be closed before it is released).
        deinit {
            for connection in idle {
                connection.close().whenComplete { _ in withExtendedLifetime(connection) {} }
            }
        }

        func nextID() -> Int {
            lastID += 1
            return lastID
        }

        func acquire() async throws -> Grant {
            if let connection = idle.popLast() { return .idle(connection) }
            if open < maximum {
                open += 1
                return .open
            }
            lastWaiter += 1
            let id = lastWaiter
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { continuation in
                    if Task.isCancelled {
                        continuation.resume(throwing: CancellationError())
                    } else {
                        waiters.append((id, continuation))
                    }
                }
            } onCancel: {
                Task { await self.cancel(id) }
            }
        }

        private func cancel(_ id: Int) {
            guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
            waiters.remove(at: index).continuation.resume(throwing: CancellationError())
        }

        /// Takes back a connection (nil: the connection is gone, or was never opened).
        func release(_ connection: PostgresConnection?) {
            if !waiters.isEmpty {
                let waiter = waiters.removeFirst()
                // The slot passes to the waiter: as the connection itself, or as permission to open a new one.
                waiter.continuation.resume(returning: connection.map { .idle($0) } ?? .open)
                return
            }
            if let connection {
                idle.append(connection)
            } else {
                open -= 1
            }
        }

        func drain() -> [PostgresConnection] {
            defer {
                open -= idle.count
                idle = []
            }
            return idle
        }
    }
}

