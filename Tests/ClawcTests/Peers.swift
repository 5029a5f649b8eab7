import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The local peers for integration tests: moto as STS/IAM and the repository's OIDC test issuer, both started
/// once per test run by `Tests/peers/peers.py` on free loopback ports. The child exits when our pipe to its
/// stdin closes, so it never outlives the test process; `stop()` kills it outright (SIGKILL).
final class Peers: @unchecked Sendable {
    let sts: URL
    let issuer: URL
    private let process: Process
    private let stdin: Pipe

    static let shared: Result<Peers, PeersError> = Result { try Peers() }.mapError { $0 as? PeersError ?? PeersError(description: "\($0)") }

    struct PeersError: Error, CustomStringConvertible {
        var description: String
    }

    private init() throws {
        let (process, stdin, object) = try Self.launch("Tests/peers/peers.py")
        guard let sts = object["sts"].flatMap(URL.init(string:)), let issuer = object["issuer"].flatMap(URL.init(string:)) else {
            process.terminate()
            throw PeersError(description: "Tests/peers/peers.py did not start (install Tests/peers/requirements.txt): got `\(object)`")
        }
        self.sts = sts
        self.issuer = issuer
        self.process = process
        self.stdin = stdin
    }

    /// Starts a peer script and reads its first stdout line, a JSON object of addresses.
    static func launch(_ script: String, arguments: [String] = []) throws -> (Process, Pipe, [String: String]) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Repo.path(script)] + arguments
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        // The first line is `{"sts": URL, "issuer": URL}`.
        var line = Data()
        let handle = stdout.fileHandleForReading
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let byte = handle.readData(ofLength: 1)
            if byte.isEmpty { break }
            if byte == Data("\n".utf8) { break }
            line.append(byte)
        }
        guard let object = try? JSONSerialization.jsonObject(with: line) as? [String: String] else {
            process.terminate()
            throw PeersError(description: "\(script) did not start: got `\(String(decoding: line, as: UTF8.self))`")
        }
        return (process, stdin, object)
    }

    static func get() throws -> Peers { try shared.get() }

    /// The peers, with the OIDC issuer serving its keys normally (a test before may have left it failing).
    static func withNormalKeys() throws -> Peers {
        let peers = try get()
        _ = try peers.control("jwks-mode", ["mode": "normal"])
        return peers
    }

    /// POSTs JSON to the issuer's control API and returns the decoded answer.
    func control(_ path: String, _ body: [String: Any] = [:]) throws -> [String: Any] {
        var request = URLRequest(url: issuer.appendingPathComponent(path))
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = try JSONSerialization.data(withJSONObject: body)
        let data = try Self.send(request)
        return (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
    }

    func get(_ path: String) throws -> Data {
        try Self.send(URLRequest(url: issuer.appendingPathComponent(path)))
    }

    /// A token from the test issuer. `claims` override the defaults; `NSNull()` removes a claim.
    func mint(_ claims: [String: Any] = [:], alg: String = "RS256", extra: [String: Any] = [:]) throws -> String {
        var body: [String: Any] = ["claims": claims, "alg": alg]
        for (k, v) in extra { body[k] = v }
        guard let token = try control("mint", body)["token"] as? String else { throw PeersError(description: "mint returned no token") }
        return token
    }

    static func send(_ request: URLRequest) throws -> Data {
        let box = ResultBox()
        let semaphore = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: request) { data, _, error in
            box.result = data.map { .success($0) } ?? .failure(error ?? PeersError(description: "no data"))
            semaphore.signal()
        }.resume()
        semaphore.wait()
        return try box.result.get()
    }

    final class ResultBox: @unchecked Sendable {
        var result: Result<Data, Error> = .failure(PeersError(description: "not run"))
    }
}

/// The local STS endpoint for `GetScopedCredentials` (`Tests/peers/scoped_sts.py`, on botocore 1.44.8's model).
final class ScopedPeer: @unchecked Sendable {
    let url: URL
    private let process: Process
    private let stdin: Pipe

    static let shared: Result<ScopedPeer, Peers.PeersError> = Result { try ScopedPeer() }.mapError { $0 as? Peers.PeersError ?? Peers.PeersError(description: "\($0)") }

    private init() throws {
        let (process, stdin, object) = try Peers.launch("Tests/peers/scoped_sts.py")
        guard let url = object["scoped_sts"].flatMap(URL.init(string:)) else {
            process.terminate()
            throw Peers.PeersError(description: "Tests/peers/scoped_sts.py did not start: got `\(object)`")
        }
        self.url = url
        self.process = process
        self.stdin = stdin
    }

    static func get() throws -> ScopedPeer { try shared.get() }

    /// A caller session registered with the endpoint: the orchestrator's own role session.
    func session(arn: String = "arn:aws:sts::123456789012:assumed-role/orchestrator/orch-1", expiresIn: Int = 3600, longTerm: Bool = false) throws -> [String: String] {
        var request = URLRequest(url: url.appendingPathComponent("control/session"))
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = try JSONSerialization.data(withJSONObject: ["arn": arn, "expires_in": expiresIn, "long_term": longTerm])
        let data = try Peers.send(request)
        return (try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]).compactMapValues { $0 as? String }
    }

    /// The successful GetScopedCredentials calls made for a task (its ID is in the call's ScopedSessionDescription).
    func calls(forTask task: String) throws -> [[String: Any]] {
        try calls().filter { ($0["status"] as? Int) == 200 && String(describing: $0).contains("task=\(task) ") }
    }

    /// Every GetScopedCredentials call the endpoint received.
    func calls() throws -> [[String: Any]] {
        let data = try Peers.send(URLRequest(url: url.appendingPathComponent("control/calls")))
        let object = try JSONSerialization.jsonObject(with: data)
        return (object as? [[String: Any]]) ?? ((object as? [String: Any])?["calls"] as? [[String: Any]]) ?? []
    }
}
