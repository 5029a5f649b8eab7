import ClawcDiagnostics
import ClawcSyntax
import Foundation

/// Every rule in a rules folder, by purpose, with the shared settings from `clawc.yaml`.
public struct RuleSet: Sendable {
    public var rules: [Rule]
    public var settings: Settings

    public func rule(for purpose: String) -> Rule? { rules.first { $0.purpose.value == purpose } }

    /// The name of the settings file inside a rules folder.
    public static let settingsFileName = "clawc.yaml"

    /// Reads every `*.yaml` file of `directory` (shown as `displayPath`). Errors in any file are reported.
    public static func load(directory: String, displayPath: String) -> (RuleSet?, [Diagnostic]) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            return (nil, [.fileError("rules-not-found", "no rules folder `\(displayPath)`", path: displayPath,
                                     help: "pass the folder that holds the rule files with `--rules DIR`")])
        }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
                .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }
                .sorted()
        } catch {
            return (nil, [.fileError("unreadable-file", "cannot list `\(displayPath)`", path: displayPath)])
        }
        var diagnostics: [Diagnostic] = []
        var rules: [Rule] = []
        var settings = Settings()
        for name in names {
            let path = (directory as NSString).appendingPathComponent(name)
            let shown = displayPath.hasSuffix("/") ? displayPath + name : displayPath + "/" + name
            let source: YAMLSource
            switch YAMLSource.load(path: path, displayPath: shown) {
            case .failure(let diagnostic):
                diagnostics.append(diagnostic)
                continue
            case .success(let loaded):
                source = loaded
            }
            if name == settingsFileName {
                let (parsed, found) = SyntaxReader.settings(source)
                diagnostics += found
                if let parsed { settings = parsed }
                continue
            }
            let (rule, found) = SyntaxReader.rule(source)
            diagnostics += found
            guard let rule else { continue }
            if let first = rules.first(where: { $0.purpose.value == rule.purpose.value }) {
                diagnostics.append(.error(
                    "duplicate-purpose", "purpose `\(rule.purpose.value)` has two rules", at: rule.purpose.span,
                    help: "keep one rule file per purpose", notes: [.init("the other rule is here", at: first.purpose.span)]))
                continue
            }
            rules.append(rule)
        }
        if names.isEmpty {
            diagnostics.append(.fileError("no-rules", "`\(displayPath)` holds no rule files (`*.yaml`)", path: displayPath))
        }
        if diagnostics.contains(where: { $0.severity == .error }) { return (nil, diagnostics) }
        // `clawc.yaml` may come before or after a rule in the listing: its default callers are applied once all is read.
        if let defaults = settings.defaultCallers {
            for index in rules.indices where rules[index].callers == nil { rules[index].callers = defaults }
        }
        return (RuleSet(rules: rules, settings: settings), diagnostics)
    }
}
