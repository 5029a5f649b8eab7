import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where the ledger is, per the ledger-location contract: `--ledger LOCATION`, else `CLAWC_LEDGER`, else
/// `${XDG_STATE_HOME:-$HOME/.local/state}/clawc/ledger.sqlite`.
///
/// Every command that uses the ledger resolves it here, so `issue`, `revoke`, `sweep` and `audit` always agree on
/// which file "the ledger" is; disagreeing would let one task be issued twice, once per file.
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

    public var path: String
    public var source: Source

    public init(path: String, source: Source) {
        self.path = path
        self.source = source
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
        switch source {
        case .flag: "ledger: \(path) (from --ledger)"
        case .environment: "ledger: \(path) (from CLAWC_LEDGER)"
        case .stateHome: "ledger: \(path) (the default: $XDG_STATE_HOME/clawc/ledger.sqlite)"
        case .home: "ledger: \(path) (the default: $HOME/.local/state/clawc/ledger.sqlite, as XDG_STATE_HOME is not set to an absolute path)"
        }
    }

    /// Works out the location from `--ledger` (`flag`) and the environment. Empty environment values count as
    /// unset, as shells and CI systems often export them empty. URLs are refused by scheme only, never echoed:
    /// a `postgres://` URL may carry a password.
    public static func resolve(flag: String?, environment: [String: String]) throws(Failure) -> LedgerLocation {
        if let flag {
            guard !flag.isEmpty else {
                throw Failure(code: "ledger-error", message: "`--ledger` is empty", help: "pass the ledger's file path, or leave --ledger out to use the default")
            }
            try refuseURL(flag, from: "--ledger")
            return LedgerLocation(path: flag, source: .flag)
        }
        if let value = environment[environmentVariable], !value.isEmpty {
            try refuseURL(value, from: environmentVariable)
            return LedgerLocation(path: value, source: .environment)
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

    private static func refuseURL(_ location: String, from origin: String) throws(Failure) {
        guard let range = location.range(of: "://") else { return }
        let scheme = location[..<range.lowerBound].lowercased()
        guard !scheme.isEmpty, scheme.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+.-".contains($0)) }) else { return }
        if scheme == "postgres" || scheme == "postgresql" {
            throw Failure(
                code: "ledger-error", message: "\(origin) names a PostgreSQL ledger (`\(scheme)://…`), and PostgreSQL ledgers are not supported yet",
                help: "use an SQLite ledger file (a path) for now; machines that must share one ledger cannot yet")
        }
        throw Failure(code: "ledger-error", message: "\(origin) is a `\(scheme)://` URL; a ledger is a file path (or, later, a postgres:// URL)",
                      help: "pass the ledger's file path")
    }

    private static func join(_ base: String, _ relative: String) -> String {
        (base.hasSuffix("/") ? String(base.dropLast()) : base) + "/" + relative
    }

    /// Makes sure the location can hold a ledger before it is opened for writing. For the default location the
    /// missing folders are created, mode 0700 (the XDG base-directory rule for state), so the ledger's folder is the
    /// user's alone; an explicit location's folder must exist already, so a typo does not grow a new tree. The file
    /// itself is created 0600 by `Ledger(path:create:)`.
    public func prepareForWriting() throws(Failure) {
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
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw Failure(code: "ledger-error", message: "there is no ledger at `\(path)` (\(sourceText))",
                          help: "pass the ledger's path with --ledger or CLAWC_LEDGER; `clawc audit` reads an existing ledger and never creates one")
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
