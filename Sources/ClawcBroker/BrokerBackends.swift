import ClawcRuntime
import Foundation

/// `--via scoped` in the broker: the task's credential is cut from the broker's own role session, and the caller
/// is the holder of a validated token for the broker's audience. The token is keyed in the ledger like on the web
/// identity path (one token, one issuance; a repeat with the same token gets the same credential back).
struct BrokerScopedBackend: CredentialBackend {
    var inner: ScopedBackend
    var claims: IdentityClaims
    var token: String

    var path: IssuancePath { .scoped }
    var recordedState: Ledger.State { inner.recordedState }

    func authorize(_ request: IssueRequest, ledger: any LedgerStore, explain: (String) -> Void) async throws(IssueFailure) -> Authorization {
        try WebIdentityBackend.checkBinding(claims, taskID: request.task.taskId.value)
        try CallerAdmission.check(claims, rule: request.rule, explain: explain)
        var authorization = try await inner.authorize(request, ledger: ledger, explain: explain)
        let identity = WebIdentityBackend.tokenIdentity(claims, token: token)
        authorization.tokenID = identity.tokenID
        authorization.tokenExpiresAt = claims.expiresAt
        authorization.sealingSecret = identity.sealingSecret
        return authorization
    }

    func obtain(_ request: IssueRequest, _ authorization: Authorization) async throws(IssueFailure) -> ObtainedCredential {
        try await inner.obtain(request, authorization)
    }

    func afterIssue(_ request: IssueRequest, _ authorization: Authorization, ledger: any LedgerStore, explain: (String) -> Void) async
        -> (state: Ledger.State, warnings: [String])
    {
        await inner.afterIssue(request, authorization, ledger: ledger, explain: explain)
    }
}

/// Counts each STS call's outcome for `/metrics`, and tells the node's STS limit when STS throttles.
struct MeteredBackend: CredentialBackend {
    var inner: any CredentialBackend
    var metrics: BrokerMetrics
    var limit: UpstreamLimit

    var path: IssuancePath { inner.path }
    var recordedState: Ledger.State { inner.recordedState }

    func authorize(_ request: IssueRequest, ledger: any LedgerStore, explain: (String) -> Void) async throws(IssueFailure) -> Authorization {
        try await inner.authorize(request, ledger: ledger, explain: explain)
    }

    func obtain(_ request: IssueRequest, _ authorization: Authorization) async throws(IssueFailure) -> ObtainedCredential {
        do {
            let obtained = try await inner.obtain(request, authorization)
            metrics.upstream(service: "sts", outcome: "ok")
            return obtained
        } catch {
            if case .sts(let sts) = error, sts.isRetryable { limit.throttled() }
            metrics.upstream(service: "sts", outcome: error.isDefiniteRefusal ? "refused" : "unknown")
            throw error
        }
    }

    func afterIssue(_ request: IssueRequest, _ authorization: Authorization, ledger: any LedgerStore, explain: (String) -> Void) async
        -> (state: Ledger.State, warnings: [String])
    {
        await inner.afterIssue(request, authorization, ledger: ledger, explain: explain)
    }
}
