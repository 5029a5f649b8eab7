import AsyncHTTPClient
import ClawcDiagnostics
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// clawc's HTTP client for STS, IAM and an issuer's discovery document and JWKS: every answer is untrusted bytes,
/// so each request is bounded in time and size, and no redirect is followed (a 3xx is an answer like any other
/// non-200, so an issuer's keys or an STS answer can't be fetched from somewhere else).
///
/// Named `HTTPTransport`, not `HTTPClient`, because it sits on AsyncHTTPClient, whose class of that name is
/// visible in every file that imports both modules: one name for one thing keeps call sites unambiguous.
///
/// - `timeout` is a total deadline: connecting, sending and receiving the whole body must finish within it. A
///   server that trickles a byte a second is cut at the deadline, not kept alive one read at a time.
/// - `maxBytes` caps the body while it is read: a `Content-Length` over it is refused before any body byte is
///   read, and a chunked or unframed body is cut as soon as it passes it, so memory never grows with what the
///   peer sends.
/// - Requests share one pooled client per process (keep-alive to the same host), on SwiftNIO's event loops:
///   waiting on a slow peer costs no CPU.
public struct HTTPTransport: Sendable {
    /// Seconds for the whole exchange: connect, send, receive the complete body.
    public var timeout: TimeInterval
    /// The most body bytes accepted.
    public var maxBytes: Int

    public init(timeout: TimeInterval = 10, maxBytes: Int = 1 << 20) {
        self.timeout = timeout
        self.maxBytes = maxBytes
    }

    /// One request: method, address, headers and an optional body.
    public struct Request: Sendable {
        public var method: String
        public var url: URL
        public var headers: [(String, String)]
        public var body: Data?

        public init(method: String, url: URL, headers: [(String, String)] = [], body: Data? = nil) {
            self.method = method
            self.url = url
            self.headers = headers
            self.body = body
        }
    }

    public struct Response: Sendable {
        public var status: Int
        public var body: Data
    }

    /// Why no answer came. Every case is "no usable answer": callers treat each as a failure upstream.
    public enum Failure: Error, CustomStringConvertible, Sendable {
        case unreachable(String, String)
        case tooLarge(String)
        /// The address and the deadline in seconds.
        case deadline(String, TimeInterval)

        public var description: String {
            switch self {
            case let .unreachable(url, reason): "cannot reach `\(Self.shown(url))`: \(HostileText.escape(reason))"
            case let .tooLarge(url): "`\(Self.shown(url))` answered with more than the allowed size"
            case let .deadline(url, seconds):
                "`\(Self.shown(url))` did not answer in full within \(Self.seconds(seconds)) (the whole exchange is bounded)"
            }
        }

        /// An address fit for one line of stderr.
        static func shown(_ url: String) -> String { HostileText.escape(HostileText.clipped(url, to: 200)) }

        static func seconds(_ value: TimeInterval) -> String {
            value == value.rounded() ? "\(Int(value)) s" : String(format: "%.1f s", value)
        }
    }

    public func get(_ url: URL) async throws(Failure) -> Response {
        try await send(Request(method: "GET", url: url))
    }

    /// Sends `request` and reads the whole answer, within `timeout` and `maxBytes`.
    public func send(_ request: Request) async throws(Failure) -> Response {
        let url = request.url.absoluteString
        let seconds = timeout
        // AsyncHTTPClient's deadline covers connecting and the response head only (it is cancelled once the head
        // arrives), so the body is raced against a timer of our own: whichever finishes first wins, and the
        // loser is cancelled (a cancelled body read closes the connection).
        let bounded = seconds.isFinite ? max(0, min(seconds, 86_400)) : 0
        let nanoseconds = UInt64(bounded * 1_000_000_000)
        let deadline = NIODeadline.now() + .nanoseconds(Int64(nanoseconds))
        let client = SharedClient.instance.client()
        let limit = maxBytes
        do {
            return try await withThrowingTaskGroup(of: Response?.self) { group in
                group.addTask { try await Self.exchange(request, client: client, deadline: deadline, maxBytes: limit) }
                group.addTask {
                    try await Task.sleep(nanoseconds: nanoseconds)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let response = first else { throw Failure.deadline(url, seconds) }
                return response
            }
        } catch let failure as Failure {
            throw failure
        } catch let error as HTTPClientError where error == .deadlineExceeded {
            throw .deadline(url, seconds)
        } catch {
            throw .unreachable(url, Self.reason(error))
        }
    }

    /// One exchange on the shared client; the body is collected chunk by chunk and refused once over `maxBytes`.
    static func exchange(_ request: Request, client: AsyncHTTPClient.HTTPClient, deadline: NIODeadline, maxBytes: Int) async throws -> Response {
        let url = request.url.absoluteString
        var outgoing = HTTPClientRequest(url: url)
        outgoing.method = HTTPMethod(rawValue: request.method)
        for (name, value) in request.headers { outgoing.headers.add(name: name, value: value) }
        if let body = request.body { outgoing.body = .bytes(ByteBuffer(bytes: body)) }

        let response = try await client.execute(outgoing, deadline: deadline)
        let declared = response.headers.first(name: "content-length").flatMap { Int($0) }
        if let declared, declared > maxBytes { throw Failure.tooLarge(url) }
        var body = Data()
        body.reserveCapacity(min(declared ?? 0, maxBytes))
        // Leaving this loop early (too large, or cancelled at the deadline) drops the iterator, which makes
        // AsyncHTTPClient stop reading and close the connection.
        for try await chunk in response.body {
            guard chunk.readableBytes <= maxBytes - body.count else { throw Failure.tooLarge(url) }
            body.append(contentsOf: chunk.readableBytesView)
        }
        // A body read cut short by cancellation ends like a complete one: never return it as an answer.
        try Task.checkCancellation()
        return Response(status: Int(response.status.code), body: body)
    }

    /// A short, lowercase reason for a transport error, made from values clawc chose (no peer text).
    static func reason(_ error: any Error) -> String {
        switch error {
        case let error as HTTPClientError:
            return error.shortDescription.lowercased()
        case let error as NIOConnectionError:
            if error.dnsAError != nil || error.dnsAAAAError != nil { return "cannot resolve the host name" }
            if let first = error.connectionErrors.first { return reason(first.error) }
            return "cannot connect"
        case let error as IOError:
            return String(cString: strerror(error.errnoCode)).lowercased()
        case is CancellationError:
            return "cancelled"
        case let error as ChannelError:
            return "connection failed (\(error))"
        default:
            // TLS errors come from NIOSSL, whose text carries BoringSSL's source paths: say what happened instead.
            if String(reflecting: type(of: error)).hasPrefix("NIOSSL.") {
                let text = String(describing: error)
                if text.contains("CERTIFICATE_VERIFY_FAILED") { return "the TLS handshake failed: the server's certificate does not verify" }
                if text.lowercased().contains("hostname") { return "the TLS handshake failed: the server's certificate is for another host name" }
                return "the TLS handshake failed"
            }
            return HostileText.escape(HostileText.clipped(String(describing: error), to: 200))
        }
    }

    /// Closes the process's pooled connections. Call once, when the command is done; a request made later opens
    /// a new pool.
    public static func shutdown() async {
        await SharedClient.instance.shutdown()
    }
}

/// The process's one AsyncHTTPClient, made on first use on SwiftNIO's shared event loops.
///
/// Not `AsyncHTTPClient.HTTPClient.shared`: that one follows redirects and decompresses bodies, and clawc wants
/// neither (a redirect could send a key fetch elsewhere; a decompressed body is not the size that was checked).
final class SharedClient: @unchecked Sendable {
    static let instance = SharedClient()

    private let lock = NSLock()
    private var current: AsyncHTTPClient.HTTPClient?

    func client() -> AsyncHTTPClient.HTTPClient {
        lock.withLock {
            if let current { return current }
            var configuration = AsyncHTTPClient.HTTPClient.Configuration(
                redirectConfiguration: .disallow,
                // The request's own deadline bounds everything; these only keep AsyncHTTPClient's defaults from
                // being longer than it.
                timeout: .init(connect: .seconds(10)),
                decompression: .disabled)
            // A refused connection fails the request at once, as a closed port should, instead of being retried
            // with backoff until the deadline; STSClient retries what is worth retrying.
            configuration.connectionPool.retryConnectionEstablishment = false
            let made = AsyncHTTPClient.HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
            current = made
            return made
        }
    }

    func shutdown() async {
        let client: AsyncHTTPClient.HTTPClient? = lock.withLock {
            defer { current = nil }
            return current
        }
        // Nothing is in flight when this is called; an error here leaves nothing to clean up.
        try? await client?.shutdown()
    }
}

/// `application/x-www-form-urlencoded` as AWS's query APIs read it (RFC 3986 unreserved characters kept).
public enum FormEncoding {
    public static func encode(_ fields: [(String, String)]) -> String {
        fields.map { "\(escape($0.0))=\(escape($0.1))" }.joined(separator: "&")
    }

    public static func escape(_ text: String) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count * 2)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.append(byte)
            default:
                out += [UInt8(ascii: "%"), digits[Int(byte >> 4)], digits[Int(byte & 0x0f)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Trimming ASCII whitespace (space, tab, CR, LF) without Foundation's character sets, for values on every request.
public enum ASCIIText {
    public static func trimmed<S: StringProtocol>(_ text: S) -> String {
        let bytes = Array(text.utf8)
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D }
        guard let first = bytes.firstIndex(where: { !isSpace($0) }), let last = bytes.lastIndex(where: { !isSpace($0) }) else { return "" }
        if first == 0 && last == bytes.count - 1 { return String(text) }
        return String(decoding: bytes[first...last], as: UTF8.self)
    }
}

/// Where an issuer may live: `https://`, or plain `http://` on a loopback address (for local tests).
public enum EndpointPolicy {
    public static func isAllowedIssuer(_ url: URL) -> Bool {
        guard let scheme = url.scheme?.lowercased(), let host = url.host?.lowercased() else { return false }
        if scheme == "https" { return true }
        return scheme == "http" && ["127.0.0.1", "::1", "[::1]", "localhost"].contains(host)
    }
}
