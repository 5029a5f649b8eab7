import ClawcDiagnostics
import Yams

/// Who may ask for a purpose: token claims matched as `*`/`?` globs; any one entry admits (DESIGN section 9).
///
/// ```yaml
/// callers:
///   - {sub: "system:serviceaccount:agents:*"}
///   - {sub: "repo:acme/infra:*", aud: "clawc"}
/// ```
public struct Callers: Sendable {
    public var entries: [CallerEntry]
    /// Where the list was written: the rule's own `callers`, or `defaults.callers` in `clawc.yaml`.
    public var span: SourceSpan
    public var fromDefaults: Bool

    public init(entries: [CallerEntry], span: SourceSpan, fromDefaults: Bool) {
        self.entries = entries
        self.span = span
        self.fromDefaults = fromDefaults
    }

    /// The first entry that admits a token with these claims, or nil: nobody listed may ask.
    public func admitting(issuer: String, subject: String, audiences: [String]) -> CallerEntry? {
        entries.first { $0.admits(issuer: issuer, subject: subject, audiences: audiences) }
    }
}

/// One `callers` entry: every claim it names must match (an audience list matches when one of its values does).
public struct CallerEntry: Sendable {
    public enum Claim: String, Sendable, CaseIterable {
        case sub, aud, iss
    }

    public var span: SourceSpan
    public var patterns: [(claim: Claim, pattern: Located<String>)]

    public func admits(issuer: String, subject: String, audiences: [String]) -> Bool {
        patterns.allSatisfy { entry in
            let pattern = entry.pattern.value
            switch entry.claim {
            case .sub: return Wildcard.matches(pattern: pattern, subject)
            case .iss: return Wildcard.matches(pattern: pattern, issuer)
            case .aud: return audiences.contains { Wildcard.matches(pattern: pattern, $0) }
            }
        }
    }

    /// `{sub: "…", aud: "…"}` for messages.
    public var shown: String {
        "{" + patterns.map { "\($0.claim.rawValue): \"\(HostileText.clipped($0.pattern.value, to: 80))\"" }.joined(separator: ", ") + "}"
    }
}

extension SyntaxReader {
    /// The most entries one `callers` list may hold, and the longest pattern: matching stays cheap per request.
    static let maxCallerEntries = 256
    static let maxCallerPattern = 512

    static func parseCallers(_ node: Node, fromDefaults: Bool, _ reader: inout NodeReader) -> Callers? {
        let context = fromDefaults ? "`defaults.callers`" : "`callers`"
        guard case .sequence(let items) = node else {
            reader.wrongType(node, expected: "a list of claim patterns such as `{sub: \"system:serviceaccount:agents:*\"}`", context: context)
            return nil
        }
        if items.isEmpty {
            reader.diagnostics.append(.error(
                "invalid-callers", "\(context) is empty: no token could ask for this purpose", at: reader.span(of: node),
                help: "list who may ask, such as `- {sub: \"system:serviceaccount:agents:*\"}`, or leave `callers` out"))
            return nil
        }
        if items.count > maxCallerEntries {
            reader.diagnostics.append(.error(
                "invalid-callers", "\(context) has \(items.count) entries, more than \(maxCallerEntries)", at: reader.span(of: node),
                help: "match many subjects with one glob, such as `system:serviceaccount:agents:*`"))
            return nil
        }
        var entries: [CallerEntry] = []
        let before = reader.diagnostics.count
        for item in items {
            let names = CallerEntry.Claim.allCases.map(\.rawValue)
            guard let fields = reader.fields(item, context: "each entry of \(context)", allowed: names) else { continue }
            if fields.isEmpty {
                // An empty entry would admit every token of the issuer: say so explicitly instead.
                reader.diagnostics.append(.error(
                    "invalid-callers", "an entry of \(context) names no claim, so it would admit every token", at: reader.span(of: item),
                    help: "name the claims to match, such as `{sub: \"system:serviceaccount:agents:*\"}`; `{sub: \"*\"}` admits every subject"))
                continue
            }
            var patterns: [(claim: CallerEntry.Claim, pattern: Located<String>)] = []
            for name in names {
                guard let pair = fields[name], let claim = CallerEntry.Claim(rawValue: name) else { continue }
                guard let value = reader.string(pair.value, context: "`\(name)` in \(context)") else { continue }
                if value.value.isEmpty || value.value.unicodeScalars.count > maxCallerPattern {
                    reader.diagnostics.append(.error(
                        "invalid-callers", "the `\(name)` pattern must be 1 to \(maxCallerPattern) characters", at: value.span))
                    continue
                }
                if let bad = value.value.unicodeScalars.firstIndex(where: { $0.value < 0x20 || $0.value == 0x7F }) {
                    let offset = value.value.unicodeScalars.distance(from: value.value.unicodeScalars.startIndex, to: bad)
                    reader.diagnostics.append(.error(
                        "invalid-callers", "the `\(name)` pattern holds a control character", at: value.span(ofScalarsAt: offset, count: 1)))
                    continue
                }
                patterns.append((claim, value))
            }
            entries.append(CallerEntry(span: reader.span(of: item), patterns: patterns))
        }
        guard reader.diagnostics.count == before else { return nil }
        return Callers(entries: entries, span: reader.span(of: node), fromDefaults: fromDefaults)
    }
}
