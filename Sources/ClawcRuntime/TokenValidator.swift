import ClawcDiagnostics
import Crypto
import Foundation
import JWTKit

/// The claims clawc uses from a validated workload token.
public struct IdentityClaims: Sendable, Equatable {
    public var issuer: String
    public var subject: String
    public var audience: [String]
    public var expiresAt: Date
    public var jwtID: String?
    /// Session tags from `https://aws.amazon.com/tags` → `principal_tags`, first value of each.
    public var sessionTags: [String: String]
    /// The header's algorithm, `RS256` or `ES256`.
    public var algorithm: String
    /// What the token's `TaskID` session tag says, keys compared without case (IAM tag keys are case-insensitive).
    public var taskBinding: TaskBinding = .none

    /// A token's binding to one task through its session tags.
    public enum TaskBinding: Sendable, Equatable {
        /// No tag whose key is `TaskID` in any case.
        case none
        /// Exactly one such tag, holding exactly one string.
        case task(String)
        /// A `TaskID`-like tag that is not one string (`TaskId` and `taskid` both, `[]`, `[7]`, two values):
        /// the token is refused, since clawc cannot tell which task it is bound to.
        case unclear(String)
    }
}

/// Why a token was refused. Every case names the problem without echoing the token.
public enum TokenRefusal: Error, Equatable, CustomStringConvertible {
    case tooLarge(Int)
    case malformed(String)
    case algorithm(String)
    case missingKeyID
    case untrustedIssuer(String)
    case wrongIssuer(expected: String, found: String)
    case issuerUnavailable(String)
    case unknownKeyID(String)
    case keyMismatch(String)
    case badSignature
    case expired(Date)
    case notYetValid(Date)
    case issuedInFuture(Date)
    case wrongAudience(expected: String, found: [String])
    case missingSubject
    case missingExpiry
    /// A claim clawc relies on has the wrong type or an impossible value.
    case badClaim(String)

    public var code: String {
        switch self {
        case .tooLarge: "token-too-large"
        case .malformed: "token-malformed"
        case .algorithm: "token-algorithm"
        case .missingKeyID, .unknownKeyID, .keyMismatch: "token-key"
        case .untrustedIssuer, .wrongIssuer: "token-issuer"
        case .issuerUnavailable: "issuer-unavailable"
        case .badSignature: "token-signature"
        case .expired, .missingExpiry: "token-expired"
        case .notYetValid, .issuedInFuture: "token-not-yet-valid"
        case .wrongAudience: "token-audience"
        case .missingSubject: "token-subject"
        case .badClaim: "token-claim"
        }
    }

    public var description: String {
        switch self {
        case .tooLarge(let n): "the token is \(n) bytes, more than any workload token should be"
        case .malformed(let why): "the token is not a JWT: \(why)"
        case .algorithm(let alg): "the token is signed with `\(alg)`; only RS256 and ES256 are accepted"
        case .missingKeyID: "the token's header names no key (`kid`)"
        case .untrustedIssuer(let iss): "issuer `\(iss)` is not https (plain http is allowed only on a loopback address)"
        case let .wrongIssuer(expected, found): "the token's issuer is `\(found)`, not the configured `\(expected)`"
        case .issuerUnavailable(let why): "cannot get the issuer's signing keys: \(why)"
        case .unknownKeyID(let kid): "the issuer publishes no key `\(kid)` (checked again after a refresh)"
        case .keyMismatch(let why): "the issuer's key does not fit the token: \(why)"
        case .badSignature: "the token's signature does not verify"
        case .expired(let date): "the token expired at \(AWSDate.format(date))"
        case .missingExpiry: "the token has no expiry (`exp`)"
        case .notYetValid(let date): "the token is not valid before \(AWSDate.format(date))"
        case .issuedInFuture(let date): "the token claims to be issued in the future, at \(AWSDate.format(date))"
        case let .wrongAudience(expected, found): "the token is for audience \(found.map { "`\($0)`" }.joined(separator: ", ")), not `\(expected)`"
        case .missingSubject: "the token has no subject (`sub`)"
        case .badClaim(let why): "the token's claims cannot be trusted: \(why)"
        }
    }
}

/// Fetches and caches an issuer's JWKS: kept for `ttl`, fetched again when a token names an unknown key, but at
/// most once per `minRefreshInterval` (a stream of tokens with made-up `kid`s costs the IdP one request per
/// interval, not one each). Concurrent callers share one fetch.
public actor JWKSCache {
    public let ttl: TimeInterval
    /// The least time between two fetches forced by an unknown `kid`.
    public let minRefreshInterval: TimeInterval
    let http: HTTPTransport
    private var entries: [String: (jwks: JWKS, fetched: Date)] = [:]
    /// When an unknown `kid` last made clawc fetch each issuer's keys: the next such fetch waits `minRefreshInterval`.
    private var lastForced: [String: Date] = [:]
    private var inFlight: [String: _Concurrency.Task<Result<JWKS, TokenRefusal>, Never>] = [:]
    /// Fetches made, for tests and metrics.
    public private(set) var fetches = 0

    public init(ttl: TimeInterval = 300, minRefreshInterval: TimeInterval = 30,
                http: HTTPTransport = HTTPTransport(timeout: 10, maxBytes: 256 * 1024)) {
        self.ttl = ttl
        self.minRefreshInterval = minRefreshInterval
        self.http = http
    }

    /// The JWKS of `issuer`, from the cache unless stale or `refresh` (and the last fetch is old enough).
    public func keys(issuer: String, refresh: Bool = false, now: Date = Date()) async throws(TokenRefusal) -> JWKS {
        if let entry = entries[issuer] {
            let fresh = now.timeIntervalSince(entry.fetched) < ttl
            let recentlyForced = lastForced[issuer].map { now.timeIntervalSince($0) < minRefreshInterval } ?? false
            if fresh && (!refresh || recentlyForced) { return entry.jwks }
            if fresh && refresh { lastForced[issuer] = now }
        }
        let result: Result<JWKS, TokenRefusal>
        if let running = inFlight[issuer] {
            result = await running.value
        } else {
            fetches += 1
            let fetching = _Concurrency.Task { () -> Result<JWKS, TokenRefusal> in
                do throws(TokenRefusal) { return .success(try await self.fetch(issuer: issuer)) } catch { return .failure(error) }
            }
            inFlight[issuer] = fetching
            result = await fetching.value
            inFlight[issuer] = nil
            if case .success(let jwks) = result { entries[issuer] = (jwks, now) }
        }
        switch result {
        case .success(let jwks): return jwks
        case .failure(let error):
            // Through an IdP outage the last good key set stays in use, for a bounded time.
            if case .issuerUnavailable = error, let entry = entries[issuer], now.timeIntervalSince(entry.fetched) < Self.keepThroughOutage {
                return entry.jwks
            }
            throw error
        }
    }

    /// How long the last good key set is used while the IdP cannot be reached.
    public static let keepThroughOutage: TimeInterval = 3600

    private func fetch(issuer: String) async throws(TokenRefusal) -> JWKS {
        let base = issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer
        guard let discoveryURL = URL(string: base + "/.well-known/openid-configuration") else { throw .untrustedIssuer(issuer) }
        let discovery: Response
        do { discovery = try await http.get(discoveryURL) } catch { throw .issuerUnavailable(error.description) }
        guard discovery.status == 200 else { throw .issuerUnavailable("discovery answered HTTP \(discovery.status)") }
        struct Discovery: Decodable {
            var issuer: String
            var jwks_uri: String
        }
        guard let document = try? JSONDecoder().decode(Discovery.self, from: discovery.body) else {
            throw .issuerUnavailable("the discovery document is not valid")
        }
        // `issuer` and `jwks_uri` are the network's text and end up on stderr: escaped and clipped.
        guard document.issuer == issuer else { throw .issuerUnavailable("the discovery document names issuer `\(Self.shown(document.issuer))`") }
        guard let jwksURL = URL(string: document.jwks_uri), EndpointPolicy.isAllowedIssuer(jwksURL) else {
            throw .issuerUnavailable("the JWKS address `\(Self.shown(document.jwks_uri))` is not https")
        }
        let answer: Response
        do { answer = try await http.get(jwksURL) } catch { throw .issuerUnavailable(error.description) }
        guard answer.status == 200 else { throw .issuerUnavailable("the JWKS endpoint answered HTTP \(answer.status)") }
        return try Self.usableKeys(answer.body)
    }

    /// The keys of a JWKS that clawc can use. RFC 7517 §5: a key of a type or algorithm the reader does not know
    /// (an `oct` key, `RSA-OAEP-256`, `secp256k1`, `X25519`) is ignored, not a reason to refuse the whole set.
    static func usableKeys(_ body: Data) throws(TokenRefusal) -> JWKS {
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any], let list = object["keys"] as? [Any] else {
            throw .issuerUnavailable("the JWKS endpoint did not answer with a JSON Web Key Set")
        }
        var keys: [JWK] = []
        for item in list {
            guard let key = item as? [String: Any], ["RSA", "EC"].contains(key["kty"] as? String ?? ""),
                (key["use"] as? String).map({ $0 == "sig" }) ?? true,
                let data = try? JSONSerialization.data(withJSONObject: key), let jwk = try? JSONDecoder().decode(JWK.self, from: data)
            else { continue }
            keys.append(jwk)
        }
        return JWKS(keys: keys)
    }

    typealias Response = HTTPTransport.Response

    static func shown(_ text: String) -> String { HostileText.escape(HostileText.clipped(text, to: 200)) }
}

/// Validates a workload OIDC token: structure, algorithm, issuer, key, signature, then claims.
public struct TokenValidator: Sendable {
    public var issuer: String
    public var audience: String
    /// Clock skew allowed on `exp`, `nbf` and `iat`, in seconds.
    public var leeway: TimeInterval
    public var cache: JWKSCache

    /// STS's own limit on `WebIdentityToken`.
    public static let maxTokenBytes = 20_000

    public init(issuer: String, audience: String, leeway: TimeInterval = 60, cache: JWKSCache = JWKSCache()) {
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.cache = cache
    }

    public func validate(_ token: String, now: Date = Date()) async throws(TokenRefusal) -> IdentityClaims {
        let token = ASCIIText.trimmed(token)
        guard token.utf8.count <= Self.maxTokenBytes else { throw .tooLarge(token.utf8.count) }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw .malformed("it has \(parts.count) parts, not 3") }
        guard let headerData = Base64URL.decode(parts[0]),
            let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any]
        else { throw .malformed("the header is not base64url JSON") }
        guard let payloadData = Base64URL.decode(parts[1]),
            let payload = try? JSONSerialization.jsonObject(with: payloadData) as? [String: Any]
        else { throw .malformed("the payload is not base64url JSON") }
        let alg = header["alg"] as? String ?? "(none)"
        guard alg == "RS256" || alg == "ES256" else { throw .algorithm(alg) }
        // RFC 7515 §4.1.11: a header extension the recipient must understand, and clawc understands none.
        guard header["crit"] == nil else { throw .malformed("the header has `crit` extensions, which clawc does not implement") }
        guard let kid = header["kid"] as? String, !kid.isEmpty else { throw .missingKeyID }

        // The issuer is checked before any request, so a token can't send clawc to an address of its choosing.
        let iss = payload["iss"] as? String ?? ""
        guard iss == issuer else { throw .wrongIssuer(expected: issuer, found: iss) }
        guard let issuerURL = URL(string: issuer), EndpointPolicy.isAllowedIssuer(issuerURL) else { throw .untrustedIssuer(issuer) }

        var jwks = try await cache.keys(issuer: issuer, now: now)
        if !jwks.keys.contains(where: { $0.keyIdentifier?.string == kid }) {
            jwks = try await cache.keys(issuer: issuer, refresh: true, now: now)
        }
        let named = jwks.keys.filter { $0.keyIdentifier?.string == kid }
        guard !named.isEmpty else { throw .unknownKeyID(kid) }
        // Several keys may share a `kid` (during a rotation, or by mistake): the token is good if one that fits
        // its algorithm verifies it.
        let expectedType: JWK.KeyType = alg == "RS256" ? .rsa : .ecdsa
        let fitting = named.filter { jwk in
            jwk.keyType == expectedType && (jwk.algorithm.map { $0.rawValue == alg } ?? true)
                && (alg != "ES256" || jwk.curve == nil || jwk.curve == .ecdsa(.p256))
        }
        guard !fitting.isEmpty else {
            throw .keyMismatch("no key `\(kid)` is a\(alg == "RS256" ? "n RSA" : " P-256 EC") key for \(alg)")
        }
        var verified = false
        for jwk in fitting where !verified {
            let keys = JWTKeyCollection()
            var publicKey = jwk
            publicKey.privateExponent = nil
            do {
                try await keys.add(jwk: publicKey)
                _ = try await keys.verify(token, as: UncheckedClaims.self)
                verified = true
            } catch {
                continue
            }
        }
        guard verified else { throw .badSignature }

        // Times far outside any real token (`exp: 1e19`) are refused before any arithmetic on them.
        for name in ["exp", "nbf", "iat"] where payload[name] != nil {
            guard let value = Self.number(payload[name]), value.isFinite, abs(value) <= Self.latestTime else {
                throw .badClaim("`\(name)` is not a time between 1970 and 9999")
            }
        }
        guard let exp = Self.number(payload["exp"]) else { throw .missingExpiry }
        let expiry = Date(timeIntervalSince1970: exp)
        guard now.timeIntervalSince(expiry) <= leeway else { throw .expired(expiry) }
        if let nbf = Self.number(payload["nbf"]), Date(timeIntervalSince1970: nbf).timeIntervalSince(now) > leeway {
            throw .notYetValid(Date(timeIntervalSince1970: nbf))
        }
        if let iat = Self.number(payload["iat"]), Date(timeIntervalSince1970: iat).timeIntervalSince(now) > leeway {
            throw .issuedInFuture(Date(timeIntervalSince1970: iat))
        }
        let audiences: [String] = (payload["aud"] as? String).map { [$0] } ?? (payload["aud"] as? [String]) ?? []
        guard audiences.contains(audience) else { throw .wrongAudience(expected: audience, found: audiences) }
        guard let sub = payload["sub"] as? String, !sub.isEmpty else { throw .missingSubject }
        // A `jti` that is not a string can't be compared as the ledger compares token IDs: refused, not ignored.
        if let jti = payload["jti"], !(jti is String) { throw .badClaim("`jti` is not a string") }
        var tags: [String: String] = [:]
        var binding = IdentityClaims.TaskBinding.none
        if let claim = payload["https://aws.amazon.com/tags"] as? [String: Any], let principal = claim["principal_tags"] as? [String: Any] {
            for (key, value) in principal {
                if let list = value as? [String], let first = list.first { tags[key] = first } else if let text = value as? String { tags[key] = text }
            }
            binding = Self.taskBinding(principal)
        }
        var claims = IdentityClaims(
            issuer: iss, subject: sub, audience: audiences, expiresAt: expiry, jwtID: payload["jti"] as? String,
            sessionTags: tags, algorithm: alg)
        claims.taskBinding = binding
        return claims
    }

    /// 9999-12-31T23:59:59Z, the latest time a token claim may name.
    static let latestTime: Double = 253_402_300_799

    /// The `TaskID` session tag, its key compared without case as IAM compares tag keys.
    static func taskBinding(_ principalTags: [String: Any]) -> IdentityClaims.TaskBinding {
        let matching = principalTags.filter { $0.key.lowercased() == "taskid" }
        guard let (key, value) = matching.first else { return .none }
        guard matching.count == 1 else { return .unclear("it has \(matching.count) tags named `TaskID` in different cases") }
        if let text = value as? String { return .task(text) }
        if let list = value as? [Any], list.count == 1, let text = list[0] as? String { return .task(text) }
        return .unclear("its tag `\(key)` does not hold exactly one string")
    }

    static func number(_ value: Any?) -> Double? {
        if let n = value as? NSNumber, !(value is Bool) { return n.doubleValue }
        return nil
    }
}

/// jwt-kit checks only the signature; clawc checks the claims itself, with its own messages.
struct UncheckedClaims: JWTPayload {
    init(from decoder: Decoder) throws {}
    func encode(to encoder: Encoder) throws {}
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

enum Base64URL {
    static func decode(_ text: Substring) -> Data? {
        var base = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base.count % 4 != 0 { base += "=" }
        return Data(base64Encoded: base)
    }
}
