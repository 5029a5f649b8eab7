import ClawcDiagnostics
import ClawcRuntime
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals

/// The HTTP side of `clawc serve`, on Hummingbird 2: bounds on every request (header and body time, body size,
/// connections), the broker's answers written whole, SIGHUP reloading the rules and SIGTERM draining.
public struct BrokerServer: Sendable {
    public var broker: Broker
    public var host: String
    public var port: Int
    public var logger: Logger
    /// A connection that sends no complete request part for this long is closed: a client trickling its headers
    /// a byte at a time never completes a part, so this bounds the header read too.
    public var idleTimeout: TimeAmount = .seconds(10)
    /// The whole body must arrive within this.
    public var bodyTimeout: Duration = .seconds(10)
    /// Connections served at once; more wait in the listen backlog.
    public var maxConnections = 1024
    /// How long SIGTERM waits for requests in flight.
    public var drainTimeout: Duration = .seconds(10)

    public init(broker: Broker, host: String, port: Int, logger: Logger) {
        self.broker = broker
        self.host = host
        self.port = port
        self.logger = logger
    }

    /// Serves until SIGTERM or SIGINT, then stops accepting, drains (at most `drainTimeout`) and returns.
    public func run() async throws {
        let responder = BrokerResponder(broker: broker, bodyTimeout: bodyTimeout)
        let logger = self.logger
        var http = HTTP1Channel.Configuration(idleTimeout: idleTimeout)
        // Headers are small: a token is at most 20,000 bytes.
        http.httpDecoder = .init(maxHeaderFieldSize: 32 * 1024, maxHeaderListSize: 64 * 1024, maxHeaderFieldCount: 100)
        var quiet = logger
        quiet.logLevel = .warning
        let app = Application(
            responder: responder,
            server: .http1(configuration: http),
            configuration: .init(address: .hostname(host, port: port), serverName: nil, backlog: 1024,
                                 availableConnectionsDelegate: MaximumAvailableConnections(maxConnections)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                logger.info("listening", metadata: ["address": .string("\(self.host):\(port)"), "via": .string(broker.configuration.via.rawValue)])
            },
            logger: quiet)
        var configuration = ServiceGroupConfiguration(
            services: [.init(service: app), .init(service: ReloadOnHangup(broker: broker, logger: logger)),
                       .init(service: Housekeeping(broker: broker))],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: quiet)
        configuration.maximumGracefulShutdownDuration = drainTimeout
        try await ServiceGroup(configuration: configuration).run()
        logger.info("stopped")
    }
}

/// Hands each request to the broker with its body read under the size and time bounds.
struct BrokerResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let broker: Broker
    let bodyTimeout: Duration

    func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
        let headers = request.headers.map { (name: $0.name.canonicalName, value: $0.value) }
        let path = request.uri.path
        // A declared length over the limit is refused before a byte of the body is read.
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > Broker.maxBody {
            return Self.http(BrokerResponse.error(413, code: "body-too-large", message: "the body is larger than \(Broker.maxBody / 1024) KiB",
                                                  help: "a task is a small JSON object"), close: true)
        }
        var body: [UInt8] = []
        if request.method == .post || request.method == .put || request.method == .patch {
            let limit = Broker.maxBody
            let timeout = bodyTimeout
            let outcome: BodyOutcome = await withTaskGroup(of: BodyOutcome.self) { group in
                group.addTask { [request] in
                    var request = request
                    do {
                        let buffer = try await request.collectBody(upTo: limit)
                        return .read(Array(buffer.readableBytesView))
                    } catch let error as HTTPError where error.status == .contentTooLarge {
                        return .tooLarge
                    } catch {
                        return .failed
                    }
                }
                group.addTask {
                    try? await Task.sleep(for: timeout)
                    return .timedOut
                }
                let first = await group.next() ?? .failed
                group.cancelAll()
                return first
            }
            switch outcome {
            case .read(let bytes): body = bytes
            case .tooLarge:
                return Self.http(BrokerResponse.error(413, code: "body-too-large", message: "the body is larger than \(Broker.maxBody / 1024) KiB",
                                                      help: "a task is a small JSON object"), close: true)
            case .timedOut:
                return Self.http(BrokerResponse.error(408, code: "request-timeout", message: "the body did not arrive within \(timeout)",
                                                      help: "send the whole request at once"), close: true)
            case .failed:
                return Self.http(BrokerResponse.error(400, code: "bad-request", message: "the body could not be read", help: nil), close: true)
            }
        }
        let answer = await broker.handle(BrokerRequest(
            method: request.method.rawValue, path: path, query: request.uri.query, headers: headers, body: body))
        return Self.http(answer, close: false)
    }

    enum BodyOutcome: Sendable {
        case read([UInt8]), tooLarge, timedOut, failed
    }

    static func http(_ answer: BrokerResponse, close: Bool) -> Response {
        var fields = HTTPFields()
        for (name, value) in answer.headers {
            if let field = HTTPField.Name(name) { fields.append(HTTPField(name: field, value: value)) }
        }
        fields[.contentLength] = String(answer.body.count)
        if close { fields[.connection] = "close" }
        return Response(status: .init(code: answer.status), headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: answer.body)))
    }
}

/// SIGHUP: load the rules folder again; on success swap it in whole, otherwise keep the old set and log why.
struct ReloadOnHangup: Service {
    let broker: Broker
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            switch broker.rules.reload() {
            case .success(let snapshot):
                broker.metrics.allow(purposes: snapshot.ruleSet.rules.map(\.purpose.value))
                logger.info("rules reloaded", metadata: ["rules": .stringConvertible(snapshot.ruleSet.rules.count)])
            case .failure(let failure):
                logger.error("rules not reloaded; the previous rules stay in use",
                             metadata: ["reason": .string(failure.summary), "diagnostics": .string(failure.rendered)])
            }
        }
    }
}

/// Keeps the parent session (scoped) fresh between requests, so no request waits on its refresh.
struct Housekeeping: Service {
    let broker: Broker

    func run() async throws {
        // Returns (never throws) on graceful shutdown, so the group stops as soon as requests have drained.
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                if let parent = broker.parent {
                    await parent.refreshIfDue(longestLifetime: broker.rules.snapshot.longestLifetime)
                }
                try await Task.sleep(for: .seconds(15))
            }
        }
    }
}
