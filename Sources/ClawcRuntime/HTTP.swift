import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A small HTTP client over URLSession: bounded time and size, and no redirects followed (a 3xx is an answer like
/// any other non-200, so an issuer's keys or an STS answer can't be fetched from somewhere else).
public struct HTTPClient: Sendable {
    public var timeout: TimeInterval
    public var maxBytes: Int

    public init(timeout: TimeInterval = 10, maxBytes: Int = 1 << 20) {
        self.timeout = timeout
        self.maxBytes = maxBytes
    }

    public struct Response: Sendable {
        public var status: Int
        public var body: Data
    }

    public enum Failure: Error, CustomStringConvertible {
        case unreachable(String, String)
        case tooLarge(String)

        public var description: String {
            switch self {
            case let .unreachable(url, reason): "cannot reach `\(url)`: \(reason)"
            case let .tooLarge(url): "`\(url)` answered with more than the allowed size"
            }
        }
    }

    public func get(_ url: URL) async throws(Failure) -> Response {
        var request = URLRequest(url: url, timeoutInterval: timeout)
        request.httpMethod = "GET"
        return try await send(request)
    }

    public func send(_ request: URLRequest) async throws(Failure) -> Response {
        let url = request.url?.absoluteString ?? "?"
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.timeoutIntervalForResource = timeout
        let session = URLSession(configuration: configuration, delegate: NoRedirects(), delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        do {
            let (data, response) = try await session.data(for: request)
            guard data.count <= maxBytes else { throw Failure.tooLarge(url) }
            let status = (response as? HTTPURLResponse)?.statusCode ?? 0
            return Response(status: status, body: data)
        } catch let failure as Failure {
            throw failure
        } catch {
            throw .unreachable(url, (error as NSError).localizedDescription)
        }
    }
}

/// `application/x-www-form-urlencoded` as AWS's query APIs read it (RFC 3986 unreserved characters kept).
public enum FormEncoding {
    public static func encode(_ fields: [(String, String)]) -> String {
        fields.map { "\(escape($0.0))=\(escape($0.1))" }.joined(separator: "&")
    }

    public static func escape(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            let c = Unicode.Scalar(byte)
            if ("A"..."Z").contains(c) || ("a"..."z").contains(c) || ("0"..."9").contains(c) || "-_.~".unicodeScalars.contains(c) {
                out.unicodeScalars.append(c)
            } else {
                out += String(format: "%%%02X", byte)
            }
        }
        return out
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

/// Refuses every redirect: the 3xx response itself is returned.
final class NoRedirects: NSObject, URLSessionTaskDelegate, @unchecked Sendable {
    func urlSession(
        _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
        newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void
    ) {
        completionHandler(nil)
    }
}
