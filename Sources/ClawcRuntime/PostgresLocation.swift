import Foundation

/// A PostgreSQL ledger's location, read from a libpq connection URL:
/// `postgres[ql]://[USER[:PASSWORD]@]HOST[:PORT][/DATABASE][?PARAM=VALUE&…]`.
///
/// The password comes from the URL, else `PGPASSWORD`; the user from the URL, else `PGUSER`, else `USER`; the
/// database from the URL, else the user's name (as libpq). Parameters understood: `sslmode` (`disable`, `allow`,
/// `prefer` — libpq's default —, `require`, `verify-ca`, `verify-full`), `sslrootcert`, `connect_timeout` (seconds)
/// and `application_name`. Any other parameter is refused rather than ignored: a misspelled `sslmode` must not
/// quietly connect without TLS.
///
/// The password is never part of `description` or any error: URLs end up in logs.
public struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    public enum SSLMode: String, Sendable, CaseIterable {
        case disable, allow, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var sslMode: SSLMode
    /// A file of PEM certificates to trust for `verify-ca` and `verify-full` (else the system's roots).
    public var sslRootCert: String?
    public var connectTimeout: Duration
    public var applicationName: String

    /// The location without its password: `postgres://user@host:port/database?sslmode=…`.
    public var description: String {
        let hostText = host.contains(":") ? "[\(host)]" : host
        return "postgres://\(user)@\(hostText):\(port)/\(database)?sslmode=\(sslMode.rawValue)"
    }

    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Whether `text` names a PostgreSQL ledger (by its scheme).
    public static func isURL(_ text: String) -> Bool {
        let lower = text.prefix(16).lowercased()
        return lower.hasPrefix("postgres://") || lower.hasPrefix("postgresql://")
    }

    /// Reads a libpq URL. Errors name the part that is wrong and never repeat the URL (it may hold a password).
    public static func parse(_ url: String, environment: [String: String]) throws(Failure) -> PostgresLocation {
        guard url.utf8.count <= 4096 else { throw Failure(message: "the PostgreSQL URL is over 4096 bytes") }
        guard let schemeEnd = url.range(of: "://") else { throw Failure(message: "a PostgreSQL URL starts with postgres://") }
        var rest = Substring(url[schemeEnd.upperBound...])
        var query = Substring("")
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        if rest.contains("#") { throw Failure(message: "a PostgreSQL URL has no fragment (`#…`)") }
        var userInfo: Substring?
        if let at = rest.lastIndex(of: "@") {
            userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
        }
        var databasePart: Substring?
        if let slash = rest.firstIndex(of: "/") {
            databasePart = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        // Host and port; IPv6 literals in brackets.
        var host = ""
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw Failure(message: "the PostgreSQL URL's IPv6 host has no closing `]`") }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw Failure(message: "unexpected text after the PostgreSQL URL's IPv6 host") }
                portText = after.dropFirst()
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = try decode(rest[..<colon], part: "host")
            portText = rest[rest.index(after: colon)...]
        } else {
            host = try decode(rest, part: "host")
        }
        if host.contains(",") { throw Failure(message: "the PostgreSQL URL names several hosts; clawc connects to one (the primary)") }
        guard !host.isEmpty else {
            throw Failure(message: "the PostgreSQL URL names no host; clawc connects over TCP, so give one (such as 127.0.0.1)")
        }
        guard !host.hasPrefix("/") else { throw Failure(message: "the PostgreSQL URL's host is a socket folder; clawc connects over TCP only") }
        var port = 5432
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value) else {
                throw Failure(message: "the PostgreSQL URL's port `\(portText.prefix(8))` is not a number from 1 to 65535")
            }
            port = value
        }
        var user = environment["PGUSER"].flatMap { $0.isEmpty ? nil : $0 } ?? environment["USER"] ?? ""
        var password = environment["PGPASSWORD"].flatMap { $0.isEmpty ? nil : $0 }
        if let userInfo {
            if let colon = userInfo.firstIndex(of: ":") {
                user = try decode(userInfo[..<colon], part: "user")
                password = try decode(userInfo[userInfo.index(after: colon)...], part: "password")
            } else {
                user = try decode(userInfo, part: "user")
            }
        }
        guard !user.isEmpty else { throw Failure(message: "the PostgreSQL URL names no user, and neither PGUSER nor USER is set") }
        var database = ""
        if let databasePart { database = try decode(databasePart, part: "database") }
        if database.isEmpty { database = user }
        var location = PostgresLocation(
            host: host, port: port, user: user, password: password, database: database, sslMode: .prefer, sslRootCert: nil,
            connectTimeout: .seconds(10), applicationName: "clawc")
        if let mode = environment["PGSSLMODE"], !mode.isEmpty {
            guard let parsed = SSLMode(rawValue: mode) else { throw Failure(message: "PGSSLMODE `\(mode.prefix(20))` is not one of \(modes)") }
            location.sslMode = parsed
        }
        if let root = environment["PGSSLROOTCERT"], !root.isEmpty { location.sslRootCert = root }
        var seen = Set<String>()
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = try decode(parts[0], part: "parameter name")
            var value = ""
            if parts.count == 2 { value = try decode(parts[1], part: "parameter `\(name.prefix(40))`") }
            guard seen.insert(name).inserted else { throw Failure(message: "the PostgreSQL URL gives `\(name.prefix(40))` twice") }
            switch name {
            case "sslmode":
                guard let mode = SSLMode(rawValue: value) else { throw Failure(message: "sslmode `\(value.prefix(20))` is not one of \(modes)") }
                location.sslMode = mode
            case "sslrootcert":
                guard !value.isEmpty else { throw Failure(message: "sslrootcert is empty") }
                location.sslRootCert = value
            case "connect_timeout":
                guard let seconds = Int(value), (1...300).contains(seconds) else {
                    throw Failure(message: "connect_timeout `\(value.prefix(8))` is not a number of seconds from 1 to 300")
                }
                location.connectTimeout = .seconds(seconds)
            case "application_name":
                location.applicationName = String(value.prefix(63))
            default:
                throw Failure(message: "the PostgreSQL URL's parameter `\(name.prefix(40))` is not one clawc understands (sslmode, sslrootcert, connect_timeout, application_name)")
            }
        }
        if location.sslRootCert != nil, location.sslMode == .require {
            // As libpq: `require` with a root certificate verifies the server's certificate against it.
            location.sslMode = .verifyCA
        }
        return location
    }

    private static var modes: String { SSLMode.allCases.map(\.rawValue).joined(separator: ", ") }

    private static func decode(_ text: Substring, part: String) throws(Failure) -> String {
        guard let decoded = String(text).removingPercentEncoding else { throw Failure(message: "the PostgreSQL URL's \(part) has a bad %-escape") }
        guard !decoded.utf8.contains(0) else { throw Failure(message: "the PostgreSQL URL's \(part) holds a NUL byte") }
        return decoded
    }
}
