import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where the ledger is, per the ledger-location contract: `--ledger LOCATION`, else `CLAWC_LEDGER`, else
/// `${XDG_STATE_HOME:-$HOME/.local/state}/clawc/ledger.sqlite`. LOCATION is an SQLite file's path or a
/// `postgres://` / `postgresql://` URL (`PostgresLocation`).
///
/// Every command that uses the ledger resolves it here, so `issue`, `revoke`, `sweep` and `audit` always agree on
/// which ledger "the ledger" is; disagreeing would let one task be issued twice, once per ledger.
public struct LedgerLocation: Sendable, Equatable {
    /// Where the location came from, for `--explain`.
    public enum Source: Sendable, Equatable {
        case flag
        case environment
        /// `$XDG_STATE_HOME/clawc/ledger.sqlite`.
        case stateHome
        /// `$HOME/.local/state/clawc/ledger.sqlite`, XDG_STATE_HOME being unset, empty or not absolute.
        case home
    }

    /// The SQLite file's path; for a PostgreSQL ledger, its URL without the password.
    public var path: String
    public var source: Source
    /// Set for a PostgreSQL ledger.
    public var postgres: PostgresLocation?

    public init(path: String, source: Source) {
        self.path = path
        self.source = source
    }

    public init(postgres: PostgresLocation, source: Source) {
        self.path = postgres.description
        self.source = source
        self.postgres = postgres
    }

    public static let environmentVariable = "CLAWC_LEDGER"
    public static let defaultRelativePath = "clawc/ledger.sqlite"

    /// Why no usable location could be worked out.
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public var code: String
        public var message: String
        public var help: String
        public var description: String { message }
    }

    public var isDefault: Bool { source == .stateHome || source == .home }

    /// One line for `--explain`: the path and why it is the one.
    public var explanation: String {
        if postgres != nil { return "ledger: \(path) (PostgreSQL, from \(source == .flag ? "--ledger" : "CLAWC_LEDGER"))" }
        switch source {
        case .flag: return "ledger: \(path) (from --ledger)"
        case .environment: return "ledger: \(path) (from CLAWC_LEDGER)"
        case .stateHome: return "ledger: \(path) (the default: $XDG_STATE_HOME/clawc/ledger.sqlite)"
        case .home: return "ledger: \(path) (the default: $HOME/.local/state/clawc/ledger.sqlite, as XDG_STATE_HOME is not set to an absolute path)"
        }
    }

    /// Works out the location from `--ledger` (`flag`) and the environment. Empty environment values count as
    /// unset, as shells and CI systems often export them empty. A URL's password is never echoed in an error.
    public static func resolve(flag: String?, environment: [String: String]) throws(Failure) -> LedgerLocation {
        if let flag {
            guard !flag.isEmpty else {
                throw Failure(code: "ledger-error", message: "`--ledger` is empty", help: "pass the ledger's file path or postgres:// URL, or leave --ledger out to use the default")
            }
            return try location(flag, source: .flag, origin: "--ledger", environment: environment)
        }
        if let value = environment[environmentVariable], !value.isEmpty {
            return try location(value, source: .environment, origin: environmentVariable, environment: environment)
        }
        if let state = environment["XDG_STATE_HOME"], state.hasPrefix("/") {
            return LedgerLocation(path: join(state, defaultRelativePath), source: .stateHome)
        }
        if let home = environment["HOME"], !home.isEmpty {
            return LedgerLocation(path: join(home, ".local/state/" + defaultRelativePath), source: .home)
        }
        throw Failure(
            code: "missing-ledger",
            message: "no ledger: neither --ledger nor CLAWC_LEDGER is given, and neither XDG_STATE_HOME nor HOME is set for the default",
            help: "pass --ledger PATH or set CLAWC_LEDGER; without a ledger clawc cannot promise one credential per task")
    }

    private static func location(_ text: String, source: Source, origin: String, environment: [String: String]) throws(Failure) -> LedgerLocation {
        if PostgresLocation.isURL(text) {
            do {
                return LedgerLocation(postgres: try PostgresLocation.parse(text, environment: environment), source: source)
            } catch {
                throw Failure(code: "ledger-error", message: "\(origin): \(error.message)",
                              help: "a PostgreSQL ledger is a libpq URL such as postgres://clawc@db.internal:5432/clawc?sslmode=verify-full (password from PGPASSWORD)")
            }
        }
        guard let range = text.range(of: "://") else { return LedgerLocation(path: text, source: source) }
        let scheme = text[..<range.lowerBound].lowercased()
        guard !scheme.isEmpty, scheme.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+.-".contains($0)) }) else {
            return LedgerLocation(path: text, source: source)
        }
        throw Failure(code: "ledger-error", message: "\(origin) is a `\(scheme.prefix(20))://` URL; a ledger is an SQLite file path or a postgres:// URL",
                      help: "pass the ledger's file path, or a postgres:// URL")
    }

    private static func join(_ base: String, _ relative: String) -> String {
        (base.hasSuffix("/") ? String(base.dropLast()) : base) + "/" + relative
    }

    /// Makes sure the location can hold a ledger before it is opened for writing. For the default location the
    /// missing folders are created, mode 0700 (the XDG base-directory rule for state), so the ledger's folder is the
    /// user's alone; an explicit location's folder must exist already, so a typo does not grow a new tree. The file
    /// itself is created 0600 by `Ledger(path:create:)`.
    public func prepareForWriting() throws(Failure) {
        guard postgres == nil else { return }
        let folder = (path as NSString).deletingLastPathComponent
        guard !folder.isEmpty else { return }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw Failure(code: "ledger-error", message: "the ledger's folder `\(folder)` is not a folder", help: "remove that file, or choose another ledger location with --ledger")
            }
            return
        }
        guard isDefault else {
            throw Failure(code: "ledger-error", message: "the folder of the ledger `\(path)` does not exist",
                          help: "create `\(folder)` (mode 0700), or pass another --ledger")
        }
        try Self.makeFolders(folder)
    }

    /// `mkdir -p` with mode 0700 for each folder it creates.
    static func makeFolders(_ folder: String) throws(Failure) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue { return }
        let parent = (folder as NSString).deletingLastPathComponent
        if !parent.isEmpty, parent != folder { try makeFolders(parent) }
        if mkdir(folder, 0o700) == 0 {
            chmod(folder, 0o700)
        } else if errno != EEXIST {
            let reason = String(cString: strerror(errno))
            throw Failure(code: "ledger-error", message: "cannot create the ledger's folder `\(folder)`: \(reason)",
                          help: "check that HOME (or XDG_STATE_HOME) points to a folder you can write, or pass --ledger PATH")
        }
    }

    /// Checks that a ledger is there, for commands that read one and must never create it (`clawc audit`).
    public func requireExisting() throws(Failure) {
        guard postgres == nil else { return }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw Failure(code: "ledger-error", message: "there is no ledger at `\(path)` (\(sourceText))",
                          help: "pass the ledger's path with --ledger or CLAWC_LEDGER; `clawc audit` and `clawc ledger status` read an existing ledger and never create one")
        }
    }

    private var sourceText: String {
        switch source {
        case .flag: "from --ledger"
        case .environment: "from CLAWC_LEDGER"
        case .stateHome, .home: "the default location"
        }
    }
}
