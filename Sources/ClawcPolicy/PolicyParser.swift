import Foundation

/// Reads a policy JSON document (a golden file, or `clawc diff` input) into a `Policy`.
///
/// Only what clawc emits is accepted: Allow statements with `Action` and `Resource`. Deny, `NotAction`,
/// `NotResource` and `Principal` are refused rather than misread.
public enum PolicyParser {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public static func parse(_ data: Data) throws(Failure) -> Policy {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw Failure(description: "not valid JSON")
        }
        guard let document = object as? [String: Any] else { throw Failure(description: "a policy must be a JSON object") }
        let raw: [Any]
        switch document["Statement"] {
        case let list as [Any]: raw = list
        case let one as [String: Any]: raw = [one]
        default: throw Failure(description: "the policy has no `Statement`")
        }
        var statements: [Statement] = []
        for (index, item) in raw.enumerated() {
            guard let statement = item as? [String: Any] else { throw Failure(description: "statement \(index + 1) is not an object") }
            for refused in ["NotAction", "NotResource", "Principal", "NotPrincipal"] where statement[refused] != nil {
                throw Failure(description: "statement \(index + 1) uses `\(refused)`, which clawc does not read")
            }
            guard statement["Effect"] as? String == "Allow" else {
                throw Failure(description: "statement \(index + 1) is not an Allow; clawc reads Allow-only session policies")
            }
            let actions = try strings(statement["Action"], "Action", index)
            let resources = try strings(statement["Resource"], "Resource", index)
            var conditions = ConditionBlock()
            if let block = statement["Condition"] {
                guard let ops = block as? [String: Any] else { throw Failure(description: "statement \(index + 1): `Condition` is not an object") }
                for (op, keys) in ops {
                    guard let keys = keys as? [String: Any] else { throw Failure(description: "statement \(index + 1): `\(op)` is not an object") }
                    for (key, values) in keys { conditions.add(op, key, try strings(values, key, index)) }
                }
            }
            statements.append(Statement(sid: statement["Sid"] as? String, actions: actions, resources: resources, conditions: conditions))
        }
        return Policy(statements: statements)
    }

    static func strings(_ value: Any?, _ name: String, _ index: Int) throws(Failure) -> [String] {
        switch value {
        case let one as String: return [one]
        case let list as [Any]:
            var out: [String] = []
            for item in list {
                guard let text = item as? String else { throw Failure(description: "statement \(index + 1): `\(name)` holds a non-string") }
                out.append(text)
            }
            return out
        case let number as NSNumber: return [number.stringValue]
        default: throw Failure(description: "statement \(index + 1) has no `\(name)`")
        }
    }
}
