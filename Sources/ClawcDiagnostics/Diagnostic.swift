/// How bad a diagnostic is.
public enum Severity: String, Sendable, Comparable {
    case error, warning, note

    private var rank: Int {
        switch self {
        case .error: 0
        case .warning: 1
        case .note: 2
        }
    }

    public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
}

/// One finding about the user's input: where, what, a stable code, and optionally how to fix it.
///
/// Message text follows one style: lowercase start, no final period, user input in backticks.
public struct Diagnostic: Sendable, Error {
    public var severity: Severity
    /// A stable kebab-case code, such as `unknown-key` or `target-outside-envelope`.
    public var code: String
    public var message: String
    /// Where the problem is; nil only for problems that have no place in a file (a missing directory).
    public var span: SourceSpan?
    /// Where to look when the span alone is not enough, such as a file that is named but not readable.
    public var path: String?
    public var help: String?
    /// Further located remarks, such as the first of two duplicate keys.
    public var notes: [Note]

    /// A located remark attached to a diagnostic.
    public struct Note: Sendable {
        public var message: String
        public var span: SourceSpan?

        public init(_ message: String, at span: SourceSpan?) {
            self.message = message
            self.span = span
        }
    }

    public init(
        _ severity: Severity = .error, code: String, _ message: String, at span: SourceSpan?,
        path: String? = nil, help: String? = nil, notes: [Note] = []
    ) {
        self.severity = severity
        self.code = code
        self.message = message
        self.span = span
        self.path = path ?? span?.file.path
        self.help = help
        self.notes = notes
    }

    public static func error(_ code: String, _ message: String, at span: SourceSpan?, help: String? = nil, notes: [Note] = []) -> Diagnostic {
        Diagnostic(.error, code: code, message, at: span, help: help, notes: notes)
    }

    /// An error about a file as a whole (unreadable, missing), located by path only.
    public static func fileError(_ code: String, _ message: String, path: String, help: String? = nil) -> Diagnostic {
        Diagnostic(.error, code: code, message, at: nil, path: path, help: help)
    }
}

/// Collects diagnostics during one run and reports them in source order.
public struct DiagnosticBag: Sendable {
    public private(set) var items: [Diagnostic] = []
    /// The most errors a run keeps; past it, one more line says how many were left out.
    public var limit: Int

    public init(limit: Int = 50) { self.limit = limit }

    public var hasErrors: Bool { items.contains { $0.severity == .error } }
    public var errorCount: Int { items.filter { $0.severity == .error }.count }

    public mutating func add(_ diagnostic: Diagnostic) { items.append(diagnostic) }
    public mutating func add(contentsOf other: [Diagnostic]) { items.append(contentsOf: other) }

    /// The diagnostics ordered by path, line and column; ties keep the order they were found in.
    public var sorted: [Diagnostic] {
        items.enumerated().sorted { a, b in
            let ka = (a.element.path ?? "", a.element.span?.start.line ?? 0, a.element.span?.start.column ?? 0)
            let kb = (b.element.path ?? "", b.element.span?.start.line ?? 0, b.element.span?.start.column ?? 0)
            if ka != kb { return ka < kb }
            return a.offset < b.offset
        }.map(\.element)
    }
}
