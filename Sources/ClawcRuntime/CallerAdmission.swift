import ClawcDiagnostics
import ClawcSyntax

/// The `callers` check (DESIGN section 9): a validated token may ask for a purpose only when one entry of its
/// rule's `callers` (or `defaults.callers`) admits its claims. A rule with no list admits every valid token;
/// `clawc check` warns about it and `clawc serve` refuses to start with it.
public enum CallerAdmission {
    public static func check(_ claims: IdentityClaims, rule: Rule, explain: (String) -> Void = { _ in }) throws(IssueFailure) {
        guard let callers = rule.callers else {
            explain("callers: rule `\(rule.purpose.value)` names none, so any valid token may ask")
            return
        }
        if let entry = callers.admitting(issuer: claims.issuer, subject: claims.subject, audiences: claims.audience) {
            explain("callers: admitted by \(HostileText.escape(entry.shown)) (\(entry.span.file.path):\(entry.span.start.line))")
            return
        }
        let audiences = claims.audience.map { "`\(HostileText.escape(HostileText.clipped($0, to: 80)))`" }.joined(separator: ", ")
        throw .refused(
            code: "caller-not-allowed",
            message: "subject `\(HostileText.escape(HostileText.clipped(claims.subject, to: 200)))` (audience \(audiences)) may not ask for purpose `\(rule.purpose.value)`",
            help: "the rule's `callers` (\(callers.span.file.path):\(callers.span.start.line)) admit no such token; add an entry there if this caller should be allowed")
    }
}
