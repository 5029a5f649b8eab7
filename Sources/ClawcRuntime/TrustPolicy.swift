import Foundation

/// Editing a role's trust policy: the Deny statement that lists revoked task IDs.
///
/// Task IDs reach the trust policy through the token's session-tag claim (`https://aws.amazon.com/tags`), which
/// STS exposes as `aws:RequestTag/TaskID`. The Allow requires the tag to be present, so a token without one
/// cannot slip past the Deny.
public enum TrustPolicy {
    public static let denySid = "ClawcRevokedTasks"
    public static let tagKey = "aws:RequestTag/TaskID"
    /// IAM's default limit on a trust policy's size; accounts can raise it to 4,096.
    public static let defaultLimit = 2048

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// The starting trust policy for a role that clawc issues sessions of.
    public static func starting(providerARN: String, audience: String, subjectPattern: String?) -> String {
        var allowConditions: [String: Any] = [
            "StringEquals": ["\(providerHost(providerARN)):aud": audience],
            "Null": [tagKey: "false"],
        ]
        if let subjectPattern { allowConditions["StringLike"] = ["\(providerHost(providerARN)):sub": subjectPattern] }
        let document: [String: Any] = [
            "Version": "2012-10-17",
            "Statement": [
                [
                    "Sid": "ClawcAgents", "Effect": "Allow", "Principal": ["Federated": providerARN],
                    "Action": ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"], "Condition": allowConditions,
                ],
                denyStatement(taskIDs: []),
            ],
        ]
        return serialize(document)
    }

    /// The provider's host and path as IAM names its condition keys: `oidc-provider/HOST` → `HOST`.
    static func providerHost(_ arn: String) -> String {
        guard let range = arn.range(of: ":oidc-provider/") else { return arn }
        return String(arn[range.upperBound...])
    }

    static func denyStatement(taskIDs: [String]) -> [String: Any] {
        // IAM refuses an empty value list, so an unused placeholder keeps the statement in place.
        let values = taskIDs.isEmpty ? ["clawc-none"] : taskIDs.sorted()
        return [
            "Sid": denySid, "Effect": "Deny", "Principal": "*",
            "Action": ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"],
            "Condition": ["StringEquals": [tagKey: values]],
        ]
    }

    /// The task IDs the Deny statement lists.
    public static func revokedTaskIDs(in document: String) throws(Failure) -> Set<String> {
        let (_, statements) = try parse(document)
        guard let deny = statements.first(where: { $0["Sid"] as? String == denySid }),
            let condition = deny["Condition"] as? [String: Any], let equals = condition["StringEquals"] as? [String: Any]
        else { return [] }
        let value = equals[tagKey]
        let ids = (value as? [String]) ?? (value as? String).map { [$0] } ?? []
        return Set(ids.filter { $0 != "clawc-none" })
    }

    /// The document with `add` added to and `remove` removed from the Deny list; other statements untouched.
    public static func updating(_ document: String, add: Set<String>, remove: Set<String> = []) throws(Failure) -> String {
        var (root, statements) = try parse(document)
        let current = try revokedTaskIDs(in: document)
        let next = current.union(add).subtracting(remove)
        statements.removeAll { $0["Sid"] as? String == denySid }
        statements.append(denyStatement(taskIDs: Array(next)))
        root["Statement"] = statements
        return serialize(root)
    }

    static func parse(_ document: String) throws(Failure) -> ([String: Any], [[String: Any]]) {
        guard let root = (try? JSONSerialization.jsonObject(with: Data(document.utf8))) as? [String: Any] else {
            throw Failure(description: "the role's trust policy is not a JSON object")
        }
        let statements = (root["Statement"] as? [[String: Any]]) ?? (root["Statement"] as? [String: Any]).map { [$0] } ?? []
        return (root, statements)
    }

    static func serialize(_ object: [String: Any]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
