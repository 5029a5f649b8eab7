import ClawcCatalog
import ClawcCompiler
import ClawcDiagnostics
import ClawcSyntax
import Foundation

/// The rules the broker serves, prepared once, swapped whole on reload (SIGHUP). A request takes one snapshot
/// and uses it throughout, so no request sees half of an old set and half of a new one.
public final class RuleStore: @unchecked Sendable {
    public struct Snapshot: Sendable {
        public var ruleSet: RuleSet
        public var prepared: PreparedRules
        public var loadedAt: Date
        /// The longest credential any rule may ask for (its `lifetime.max`, else STS's default hour): the parent
        /// session of `--via scoped` is refreshed while it still has more than this left.
        public var longestLifetime: Int
        /// The rules folder's `postgres-schema.json`, for PostgreSQL purposes; nil when there is none.
        public var postgresSchema: PostgresSchema? = nil
    }

    /// Why a rules folder cannot be served: the rendered diagnostics.
    public struct LoadFailure: Error, Sendable {
        public var rendered: String
        public var summary: String
    }

    public let directory: String
    let catalog: Catalog
    private let lock = NSLock()
    private var current: Snapshot

    public init(directory: String, catalog: Catalog) throws(LoadFailure) {
        self.directory = directory
        self.catalog = catalog
        self.current = try Self.load(directory: directory, catalog: catalog)
    }

    public var snapshot: Snapshot { lock.withLock { current } }

    /// Loads the folder again; on success the new set replaces the old one at once, on failure the old one stays.
    public func reload() -> Result<Snapshot, LoadFailure> {
        do {
            let loaded = try Self.load(directory: directory, catalog: catalog)
            lock.withLock { current = loaded }
            return .success(loaded)
        } catch {
            return .failure(error)
        }
    }

    /// Reads and checks a rules folder for serving: every rule parses and lowers without errors, and every rule
    /// names its `callers` (a broker must never serve a purpose to any token the IdP signs).
    public static func load(directory: String, catalog: Catalog) throws(LoadFailure) -> Snapshot {
        let (ruleSet, found) = RuleSet.load(directory: directory, displayPath: directory)
        var bag = DiagnosticBag()
        bag.add(contentsOf: found.filter { $0.severity == .error })
        if let ruleSet {
            for rule in ruleSet.rules {
                let (_, problems) = RuleLowering(catalog: catalog).lower(rule)
                bag.add(contentsOf: problems.filter { $0.severity == .error })
                if rule.callers == nil {
                    bag.add(.error(
                        "no-callers", "rule `\(rule.purpose.value)` names no `callers`, so any token the issuer signs could ask for it",
                        at: rule.purpose.span,
                        help: "list who may ask, such as `callers: [{sub: \"system:serviceaccount:agents:*\"}]`, in the rule or under `defaults:` in clawc.yaml"))
                }
            }
        }
        guard let ruleSet, !bag.hasErrors else {
            let errors = bag.errorCount
            throw LoadFailure(rendered: DiagnosticRenderer.render(bag), summary: "\(errors) error\(errors == 1 ? "" : "s") in `\(directory)`")
        }
        var schema: PostgresSchema?
        switch PostgresSchema.load(rulesDirectory: directory, displayPath: directory) {
        case .success(let loaded): schema = loaded
        case .failure(let diagnostic):
            var failed = DiagnosticBag()
            failed.add(diagnostic)
            throw LoadFailure(rendered: DiagnosticRenderer.render(failed), summary: "`\(PostgresSchema.fileName)` in `\(directory)` cannot be read")
        }
        let longest = ruleSet.rules.map { $0.lifetime.maxSeconds?.value ?? $0.lifetime.defaultSeconds?.value ?? 3600 }.max() ?? 3600
        return Snapshot(ruleSet: ruleSet, prepared: PreparedRules(ruleSet: ruleSet, catalog: catalog), loadedAt: Date(), longestLifetime: longest,
                        postgresSchema: schema)
    }
}
