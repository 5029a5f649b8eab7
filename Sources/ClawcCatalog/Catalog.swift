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
            index = try CatalogIndex(decoding: data)
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

    /// Reads `index.json` with `JSONSerialization` (faster than `Decodable` for a file read on every cold run).
    init(decoding data: Data) throws {
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let format = root["format"] as? Int, let source = root["source"] as? String,
            let version = root["sourceVersion"] as? String, let services = root["services"] as? [String: Any]
        else { throw CatalogFormatError(what: "index.json lacks `format`, `source`, `sourceVersion` or `services`") }
        self.format = format
        self.source = source
        self.sourceVersion = version
        var entries: [String: Entry] = [:]
        for (prefix, value) in services {
            guard let fields = value as? [String: Any], let name = fields["name"] as? String, let file = fields["file"] as? String else {
                throw CatalogFormatError(what: "service `\(prefix)` in index.json lacks `name` or `file`")
            }
            entries[prefix] = Entry(name: name, file: file)
        }
        self.services = entries
        var keys: [String: KeyInfo] = [:]
        for (key, value) in root["globalConditionKeys"] as? [String: Any] ?? [:] {
            keys[key] = KeyInfo(type: (value as? [String: Any])?["type"] as? String ?? "String")
        }
        self.globalConditionKeys = keys
    }
}

/// A condition key's type as the service authorization reference gives it: `String`, `ARN`, `ArrayOfString`, ...
public struct KeyInfo: Decodable, Sendable {
    public var type: String
}

/// A catalog file that does not have the documented shape.
struct CatalogFormatError: Error, CustomStringConvertible {
    var what: String
    var description: String { what }
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

    /// Reads a service file. `JSONSerialization` and hand-built values: several times faster than `Decodable`
    /// here, which matters because a cold `clawc compile` reads two or three of these files.
    init(decoding data: Data) throws {
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let prefix = root["prefix"] as? String, let name = root["name"] as? String,
            let rawActions = root["actions"] as? [String: Any]
        else { throw CatalogFormatError(what: "a service file lacks `prefix`, `name` or `actions`") }
        self.prefix = prefix
        self.name = name
        var actions: [String: Action] = [:]
        actions.reserveCapacity(rawActions.count)
        for (actionName, value) in rawActions {
            guard let fields = value as? [String: Any], let access = fields["access"] as? String else {
                throw CatalogFormatError(what: "action `\(actionName)` has no access level")
            }
            let resources = (fields["resources"] as? [[String: Any]] ?? []).compactMap { ref -> Action.ResourceRef? in
                guard let type = ref["type"] as? String else { return nil }
                return Action.ResourceRef(type: type, required: ref["required"] as? Bool ?? false, conditionKeys: ref["conditionKeys"] as? [String])
            }
            actions[actionName] = Action(
                access: access, resources: resources, conditionKeys: fields["conditionKeys"] as? [String] ?? [],
                dependentActions: fields["dependentActions"] as? [String] ?? [])
        }
        self.actions = actions
        var resourceTypes: [String: ResourceType] = [:]
        for (typeName, value) in root["resourceTypes"] as? [String: Any] ?? [:] {
            guard let fields = value as? [String: Any], let arn = fields["arn"] as? String else {
                throw CatalogFormatError(what: "resource type `\(typeName)` has no ARN format")
            }
            resourceTypes[typeName] = ResourceType(arn: arn, conditionKeys: fields["conditionKeys"] as? [String] ?? [])
        }
        self.resourceTypes = resourceTypes
        var keys: [String: KeyInfo] = [:]
        for (key, value) in root["conditionKeys"] as? [String: Any] ?? [:] {
            keys[key] = KeyInfo(type: (value as? [String: Any])?["type"] as? String ?? "String")
        }
        self.conditionKeys = keys
        canonicalNames = Dictionary(actions.keys.map { ($0.lowercased(), $0) }, uniquingKeysWith: { a, b in a < b ? a : b })
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

    init(access: String, resources: [ResourceRef], conditionKeys: [String], dependentActions: [String]) {
        self.access = access
        self.resources = resources
        self.conditionKeys = conditionKeys
        self.dependentActions = dependentActions
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

    init(arn: String, conditionKeys: [String]) {
        self.arn = arn
        self.conditionKeys = conditionKeys
    }

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
