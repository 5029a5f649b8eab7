// A fast STS peer for the broker benchmark (bench/broker.sh), not part of the product: answers
// GetScopedCredentials and AssumeRoleWithWebIdentity with fresh credentials after a fixed added latency, over
// keep-alive HTTP/1.1 on 127.0.0.1, so that the broker, not the peer, is what a load test measures.
//
//     bench-sts [--port N] [--delay-ms D] [--threads T]
//
// Prints `{"sts": "http://127.0.0.1:PORT"}` on stdout once listening (port 0: a free port), then serves until
// killed. It checks nothing (no signatures, no policies): the tests use moto and Tests/peers/scoped_sts.py for that.
// The answer's XML has the shape of STS's, with the request's DurationSeconds honoured in `Expiration`.
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

struct Options {
    var port = 0
    var delayMilliseconds = 0
    var threads = 1

    init(_ arguments: [String]) {
        var rest = arguments.dropFirst()
        while let flag = rest.popFirst() {
            guard let value = rest.popFirst().flatMap({ Int($0) }), value >= 0 else {
                FileHandle.standardError.write(Data("bench-sts: \(flag) needs a number\n".utf8))
                exit(2)
            }
            switch flag {
            case "--port": port = value
            case "--delay-ms": delayMilliseconds = value
            case "--threads": threads = max(1, value)
            default:
                FileHandle.standardError.write(Data("bench-sts: unknown option \(flag)\n".utf8))
                exit(2)
            }
        }
    }
}

/// Reads one form-encoded STS request and answers it after the configured delay.
final class STSHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let delay: TimeAmount
    private var body: ByteBuffer?
    private var keepAlive = true
    private static let counter = ManagedAtomicCounter()

    init(delay: TimeAmount) { self.delay = delay }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            keepAlive = head.isKeepAlive
            body = context.channel.allocator.buffer(capacity: 1024)
        case .body(var chunk):
            body?.writeBuffer(&chunk)
        case .end:
            let text = body.map { String(buffer: $0) } ?? ""
            body = nil
            let (status, xml) = Self.answer(form: text)
            let keepAlive = self.keepAlive
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            let respond = {
                let context = loopBound.value
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: "text/xml")
                headers.add(name: "Content-Length", value: String(xml.utf8.count))
                headers.add(name: "x-amzn-RequestId", value: UUID().uuidString)
                if !keepAlive { headers.add(name: "Connection", value: "close") }
                context.write(self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
                context.write(self.wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: xml)))), promise: nil)
                context.writeAndFlush(self.wrapOutboundOut(.end(nil))).whenComplete { _ in
                    if !keepAlive { context.close(promise: nil) }
                }
            }
            if delay == .zero { respond() } else { context.eventLoop.scheduleTask(in: delay, respond) }
        }
    }

    static func answer(form: String) -> (HTTPResponseStatus, String) {
        var fields: [String: String] = [:]
        for pair in form.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            let value = parts.count > 1 ? (String(parts[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "") : ""
            fields[name] = value
        }
        let action = fields["Action"] ?? ""
        guard action == "GetScopedCredentials" || action == "AssumeRoleWithWebIdentity" else {
            return (.badRequest, "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>"
                + "<Code>InvalidAction</Code><Message>bench-sts answers GetScopedCredentials and AssumeRoleWithWebIdentity</Message></Error>"
                + "<RequestId>0</RequestId></ErrorResponse>")
        }
        let seconds = fields["DurationSeconds"].flatMap { Int($0) } ?? 3600
        let expiration = Date().addingTimeInterval(TimeInterval(seconds))
        let n = counter.next()
        let key = "ASIABENCH" + String(format: "%011d", n)
        let secret = "benchsecret" + String(format: "%029d", n)
        let token = "FwoGZXIvYXdzEBench" + String(repeating: "x", count: 300) + String(n)
        let credentials = "<Credentials><AccessKeyId>\(key)</AccessKeyId><SecretAccessKey>\(secret)</SecretAccessKey>"
            + "<SessionToken>\(token)</SessionToken><Expiration>\(iso8601(expiration))</Expiration></Credentials>"
        let result: String
        if action == "GetScopedCredentials" {
            result = credentials + "<SessionInfo><ScopedSessionId>scoped-\(n)</ScopedSessionId>"
                + "<Arn>arn:aws:sts::123456789012:assumed-role/broker/bench</Arn></SessionInfo><ScopedPoliciesCount>1</ScopedPoliciesCount>"
        } else {
            let session = fields["RoleSessionName"] ?? "bench"
            let role = fields["RoleArn"] ?? "arn:aws:iam::123456789012:role/bench"
            let name = role.split(separator: "/").last.map(String.init) ?? "bench"
            result = credentials + "<SubjectFromWebIdentityToken>bench</SubjectFromWebIdentityToken>"
                + "<AssumedRoleUser><AssumedRoleId>AROABENCH:\(xmlEscape(session))</AssumedRoleId>"
                + "<Arn>arn:aws:sts::123456789012:assumed-role/\(xmlEscape(name))/\(xmlEscape(session))</Arn></AssumedRoleUser>"
                + "<Audience>sts.amazonaws.com</Audience>"
        }
        return (.ok, "<\(action)Response xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><\(action)Result>\(result)</\(action)Result>"
            + "<ResponseMetadata><RequestId>\(n)</RequestId></ResponseMetadata></\(action)Response>")
    }

    static func iso8601(_ date: Date) -> String {
        var time = time_t(date.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&time, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
                      Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
    }

    static func xmlEscape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}

/// A process-wide counter for distinct access key IDs.
final class ManagedAtomicCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int { lock.withLock { value += 1; return value } }
}

let options = Options(CommandLine.arguments)
let group = MultiThreadedEventLoopGroup(numberOfThreads: options.threads)
let delay = TimeAmount.milliseconds(Int64(options.delayMilliseconds))
let channel = try ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 1024)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { channel in
        channel.pipeline.configureHTTPServerPipeline().flatMap { channel.pipeline.addHandler(STSHandler(delay: delay)) }
    }
    .bind(host: "127.0.0.1", port: options.port)
    .wait()
FileHandle.standardOutput.write(Data("{\"sts\": \"http://127.0.0.1:\(channel.localAddress?.port ?? 0)\"}\n".utf8))
try channel.closeFuture.wait()
