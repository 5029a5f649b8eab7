import Foundation

/// The AWS action catalog: services, their actions, resource types and condition keys.
///
/// Loaded from a folder of JSON files (`index.json` and one file per service, see docs/catalog.md). Each service
/// file is read the first time a rule names that service, so compiling a rule over two services reads two files.
/// The folder is the one shipped with clawc, or one named explicitly; nothing else is ever consulted.
public final class Catalog: @unchecked Sendable {
    /// Where the catalog was read from.
    public let directory: URL
    public let index: CatalogIndex
    private var services: [String: Service] = [:]
    private let lock = NSLock()

    /// Reads `index.json` from `directory`.
    public init(directory: URL) throws(CatalogError) {
        self.directory = directory
        let url = directory.appendingPathComponent("index.json")
        guard let data = try? Data(contentsOf: url) else { throw .unreadable(url.path) }
        do {
            index = try JSONDecoder().decode(CatalogIndex.self, from: data)
        } catch {
            throw .malformed(url.path, String(describing: error))
        }
        guard index.format == 1 else { throw .malformed(url.path, "format \(index.format) is not supported (expected 1)") }
    }

    /// The catalog shipped with clawc.
    public static func bundled() throws(CatalogError) -> Catalog {
        guard let url = Bundle.module.url(forResource: "catalog", withExtension: nil) else {
            throw .unreadable("the catalog shipped with clawc")
        }
        return try Catalog(directory: url)
    }

    /// A service by its action prefix (`s3`, `logs`), case-insensitive; nil when the catalog has none.
    public func service(_ prefix: String) throws(CatalogError) -> Service? {
        let key = prefix.lowercased()
        lock.lock()
        defer { lock.unlock() }
        if let cached = services[key] { return cached }
        guard let entry = index.services[key] else { return nil }
        let url = directory.appendingPathComponent(entry.file)
        guard let data = try? Data(contentsOf: url) else { throw .unreadable(url.path) }
        do {
            let service = try Service(decoding: data)
            services[key] = service
            return service
        } catch {
            throw .malformed(url.path, String(describing: error))
        }
    }

    /// Every service prefix, for suggestions.
    public var servicePrefixes: [String] { index.services.keys.sorted() }

    /// A global condition key's type (`aws:SourceIp` → `IPAddress`), matching `${TagKey}` templates; nil if not global.
    public func globalKeyType(_ key: String) -> String? {
        for (name, info) in index.globalConditionKeys where ConditionKeyName.matches(template: name, key) { return info.type }
        return nil
    }
}

/// Why the catalog could not be used.
public enum CatalogError: Error, CustomStringConvertible, Sendable {
    case unreadable(String)
    case malformed(String, String)

    public var description: String {
        switch self {
        case .unreadable(let path): "cannot read the action catalog at `\(path)`"
        case .malformed(let path, let detail): "the action catalog at `\(path)` is malformed: \(detail)"
        }
    }
}

/// `index.json`: where the data came from, the services, and the global condition keys.
public struct CatalogIndex: Decodable, Sendable {
    public var format: Int
    public var source: String
    public var sourceVersion: String
    public var services: [String: Entry]
    public var globalConditionKeys: [String: KeyInfo]

    public struct Entry: Decodable, Sendable {
        public var name: String
        public var file: String
    }
}

/// A condition key's type as the service authorization reference gives it: `String`, `ARN`, `ArrayOfString`, ...
public struct KeyInfo: Decodable, Sendable {
    public var type: String
}

/// One AWS service's actions, resource types and condition keys.
public struct Service: Sendable {
    public var prefix: String
    public var name: String
    public var actions: [String: Action]
    public var resourceTypes: [String: ResourceType]
    public var conditionKeys: [String: KeyInfo]
    /// Lowercased action name → canonical name.
    private var canonicalNames: [String: String]

    init(decoding data: Data) throws {
        struct Raw: Decodable {
            var prefix: String
            var name: String
            var actions: [String: Action]
            var resourceTypes: [String: ResourceType]?
            var conditionKeys: [String: KeyInfo]?
        }
        let raw = try JSONDecoder().decode(Raw.self, from: data)
        prefix = raw.prefix
        name = raw.name
        actions = raw.actions
        resourceTypes = raw.resourceTypes ?? [:]
        conditionKeys = raw.conditionKeys ?? [:]
        canonicalNames = Dictionary(raw.actions.keys.map { ($0.lowercased(), $0) }, uniquingKeysWith: { a, b in a < b ? a : b })
    }

    /// The canonical name of an action (`getobject` → `GetObject`); nil when the service has no such action.
    public func canonicalName(_ action: String) -> String? { canonicalNames[action.lowercased()] }

    /// The action names, sorted.
    public var actionNames: [String] { actions.keys.sorted() }

    /// The type of a service-specific condition key, matching `${TagKey}`-style templates.
    public func keyType(_ key: String) -> String? {
        for (name, info) in conditionKeys where ConditionKeyName.matches(template: name, key) { return info.type }
        return nil
    }
}

/// An action: its access level, the resource types it can name, and the condition keys its requests carry.
public struct Action: Decodable, Sendable {
    public var access: String
    /// Resource types the action can be scoped to; empty means it works only with `Resource: "*"`.
    public var resources: [ResourceRef]
    public var conditionKeys: [String]
    public var dependentActions: [String]

    public struct ResourceRef: Decodable, Sendable {
        public var type: String
        public var required: Bool
        public var conditionKeys: [String]?
    }

    enum CodingKeys: String, CodingKey { case access, resources, conditionKeys, dependentActions }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        access = try c.decode(String.self, forKey: .access)
        resources = try c.decodeIfPresent([ResourceRef].self, forKey: .resources) ?? []
        conditionKeys = try c.decodeIfPresent([String].self, forKey: .conditionKeys) ?? []
        dependentActions = try c.decodeIfPresent([String].self, forKey: .dependentActions) ?? []
    }
}

/// A resource type: its ARN format and the condition keys that describe it.
public struct ResourceType: Decodable, Sendable {
    public var arn: String
    public var conditionKeys: [String]

    enum CodingKeys: String, CodingKey { case arn, conditionKeys }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        arn = try c.decode(String.self, forKey: .arn)
        conditionKeys = try c.decodeIfPresent([String].self, forKey: .conditionKeys) ?? []
    }

    /// The ARN format as a wildcard pattern: every `${Variable}` becomes `*`.
    public var arnPattern: String {
        var out = ""
        var rest = Substring(arn)
        while let open = rest.range(of: "${") {
            out += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].firstIndex(of: "}") else { break }
            out += "*"
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }
}

/// Condition key names: case-insensitive, with `${TagKey}`-style placeholders standing for any text.
public enum ConditionKeyName {
    /// Whether `key` (as written in a rule) is an instance of `template` (as written in the catalog).
    public static func matches(template: String, _ key: String) -> Bool {
        let t = template.lowercased(), k = key.lowercased()
        guard let open = t.range(of: "${") else { return t == k }
        let prefix = t[..<open.lowerBound]
        return k.hasPrefix(prefix) && k.count > prefix.count
    }

    /// The part of a key before its placeholder: `aws:ResourceTag/` for `aws:ResourceTag/${TagKey}`.
    public static func family(_ template: String) -> String {
        guard let open = template.range(of: "${") else { return template }
        return String(template[..<open.lowerBound])
    }
}
