import ClawcCatalogPack

/// The catalog in its loading form: the bytes `scripts/build-catalog.py` writes to `catalog.pack` (the layout is
/// described there), compiled into the binary. Nothing is parsed up front; a service is decoded the first time a
/// rule names it, straight into `Service`, with every read bounds-checked, so a damaged pack is an error, never a
/// crash or a wrong answer read past its end.
struct CatalogPack: @unchecked Sendable {
    static let magic: [UInt8] = Array("CLWCPACK".utf8)
    static let format: UInt32 = 1
    static let none: UInt32 = 0xFFFF_FFFF
    static let headerBytes = 24

    let bytes: UnsafeRawBufferPointer
    let wordCount: Int
    let stringCount: Int
    let offsetsStart: Int
    let blobStart: Int
    let blobSize: Int

    /// The pack compiled into clawc.
    static var compiledIn: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: clawc_catalog_pack(), count: Int(clawc_catalog_pack_size()))
    }

    init(_ bytes: UnsafeRawBufferPointer) throws(CatalogFormatError) {
        self.bytes = bytes
        guard bytes.count >= Self.headerBytes, bytes.prefix(8).elementsEqual(Self.magic) else {
            throw CatalogFormatError(what: "not a catalog pack (no CLWCPACK header)")
        }
        func header(_ offset: Int) -> Int { Int(Self.load(bytes, at: offset)) }
        guard header(8) == Self.format else { throw CatalogFormatError(what: "pack format \(header(8)) is not supported (expected 1)") }
        wordCount = header(12)
        stringCount = header(16)
        blobSize = header(20)
        offsetsStart = Self.headerBytes + 4 * wordCount
        blobStart = offsetsStart + 4 * (stringCount + 1)
        guard blobStart + blobSize == bytes.count else {
            throw CatalogFormatError(what: "the pack is \(bytes.count) bytes, its header says \(blobStart + blobSize)")
        }
    }

    /// The little-endian 32-bit word at byte `offset`; callers check the bounds.
    static func load(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> UInt32 {
        UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    /// Word `index` of the word area.
    func word(_ index: Int) throws(CatalogFormatError) -> UInt32 {
        guard index >= 0, index < wordCount else { throw CatalogFormatError(what: "the pack is cut short (word \(index) of \(wordCount))") }
        return Self.load(bytes, at: Self.headerBytes + 4 * index)
    }

    /// String `id`, decoded from the blob; the blob holds only valid UTF-8 (checked here, not assumed).
    func string(_ id: UInt32) throws(CatalogFormatError) -> String {
        guard let text = String(validating: try utf8(id), as: UTF8.self) else { throw CatalogFormatError(what: "string \(id) is not UTF-8") }
        return text
    }

    /// Reads words in order from a position of the word area.
    struct Cursor {
        let pack: CatalogPack
        var at: Int
        /// Strings already decoded by this cursor: a service names the same condition keys many times.
        var strings: [UInt32: String] = [:]

        mutating func next() throws(CatalogFormatError) -> UInt32 {
            defer { at += 1 }
            return try pack.word(at)
        }

        /// A count, bounded by the words left so a damaged count cannot ask for a huge allocation.
        mutating func count() throws(CatalogFormatError) -> Int {
            guard let value = try optionalCount() else { throw CatalogFormatError(what: "a count is missing at word \(at - 1)") }
            return value
        }

        /// A count, or nil where the pack writes `none` (a list that is absent, not empty).
        mutating func optionalCount() throws(CatalogFormatError) -> Int? {
            let word = try next()
            if word == CatalogPack.none { return nil }
            let value = Int(word)
            guard value <= pack.wordCount - at else { throw CatalogFormatError(what: "a count of \(value) runs past the pack's end") }
            return value
        }

        mutating func string() throws(CatalogFormatError) -> String {
            let id = try next()
            if let known = strings[id] { return known }
            let text = try pack.string(id)
            // Up to 15 bytes a String is held inline, so making it again costs less than remembering it.
            if text.utf8.count > 15 { strings[id] = text }
            return text
        }

        mutating func strings(_ count: Int) throws(CatalogFormatError) -> [String] {
            var out: [String] = []
            out.reserveCapacity(count)
            for _ in 0..<count { out.append(try string()) }
            return out
        }
    }

    func cursor(at word: Int) -> Cursor { Cursor(pack: self, at: word) }

    /// Where the root's parts are: read at start, a few words, so a compile that names two services reads two
    /// service records and the table rows its binary search visits, nothing else.
    struct Root {
        var sourceVersion: String
        var globalKeys: Int
        var globalKeyCount: Int
        var services: Int
        var serviceCount: Int
    }

    func root() throws(CatalogFormatError) -> Root {
        var cursor = cursor(at: 0)
        _ = try cursor.next()  // the source package's name
        let version = try cursor.string()
        _ = try cursor.next()  // the source data's SHA-256, for people; index.json has it too
        let globalKeyCount = try cursor.count()
        let globalKeys = cursor.at
        cursor.at += 2 * globalKeyCount
        let serviceCount = try cursor.count()
        guard 4 * serviceCount <= wordCount - cursor.at else { throw CatalogFormatError(what: "the service table runs past the pack's end") }
        return Root(sourceVersion: version, globalKeys: globalKeys, globalKeyCount: globalKeyCount, services: cursor.at, serviceCount: serviceCount)
    }

    /// The bytes of string `id`, unchecked as text: for comparing.
    func utf8(_ id: UInt32) throws(CatalogFormatError) -> UnsafeRawBufferPointer {
        let index = Int(id)
        guard index < stringCount else { throw CatalogFormatError(what: "the pack names string \(id) of \(stringCount)") }
        func offset(_ i: Int) -> Int { Int(Self.load(bytes, at: offsetsStart + 4 * i)) }
        let start = offset(index), end = offset(index + 1)
        guard start <= end, end <= blobSize else { throw CatalogFormatError(what: "string \(id) lies outside the pack") }
        return UnsafeRawBufferPointer(rebasing: bytes[(blobStart + start)..<(blobStart + end)])
    }

    /// The record of the service `prefix` (already lowercased), by binary search of the table, which the script
    /// sorts by the prefixes' bytes; nil when there is none.
    func serviceRecord(_ prefix: String, in root: Root) throws(CatalogFormatError) -> Int? {
        let key = Array(prefix.utf8)
        var low = 0, high = root.serviceCount
        while low < high {
            let middle = (low + high) / 2
            let row = root.services + 4 * middle
            let name = try utf8(try word(row))
            if name.elementsEqual(key) { return Int(try word(row + 3)) }
            if name.lexicographicallyPrecedes(key) { low = middle + 1 } else { high = middle }
        }
        return nil
    }

    /// Every service prefix, in the table's order (sorted).
    func servicePrefixes(in root: Root) throws(CatalogFormatError) -> [String] {
        var out: [String] = []
        out.reserveCapacity(root.serviceCount)
        for row in 0..<root.serviceCount { out.append(try string(try word(root.services + 4 * row))) }
        return out
    }

    /// The global condition keys and their types.
    func globalKeys(in root: Root) throws(CatalogFormatError) -> [String: KeyInfo] {
        var cursor = cursor(at: root.globalKeys)
        var keys: [String: KeyInfo] = [:]
        for _ in 0..<root.globalKeyCount {
            let key = try cursor.string()
            keys[key] = KeyInfo(type: try cursor.string())
        }
        return keys
    }

    /// The service whose record starts at word `record`.
    func service(at record: Int) throws(CatalogFormatError) -> Service {
        var cursor = cursor(at: record)
        let prefix = try cursor.string(), name = try cursor.string()
        var actions: [String: Action] = [:]
        var names: [String] = []
        let actionCount = try cursor.count()
        actions.reserveCapacity(actionCount)
        names.reserveCapacity(actionCount)
        for _ in 0..<actionCount {
            let actionName = try cursor.string(), access = try cursor.string()
            var resources: [Action.ResourceRef] = []
            let refCount = try cursor.count()
            resources.reserveCapacity(refCount)
            for _ in 0..<refCount {
                let type = try cursor.string()
                let required = try cursor.next()
                guard required <= 1 else { throw CatalogFormatError(what: "action `\(actionName)`: `required` is \(required)") }
                var keys: [String]?
                if let count = try cursor.optionalCount() { keys = try cursor.strings(count) }
                resources.append(Action.ResourceRef(type: type, required: required == 1, conditionKeys: keys))
            }
            let conditionKeys = try cursor.strings(try cursor.count())
            let dependent = try cursor.strings(try cursor.count())
            names.append(actionName)
            actions[actionName] = Action(access: access, resources: resources, conditionKeys: conditionKeys, dependentActions: dependent)
        }
        var resourceTypes: [String: ResourceType] = [:]
        for _ in 0..<(try cursor.count()) {
            let typeName = try cursor.string(), arn = try cursor.string()
            resourceTypes[typeName] = ResourceType(arn: arn, conditionKeys: try cursor.strings(try cursor.count()))
        }
        var keys: [String: KeyInfo] = [:]
        for _ in 0..<(try cursor.count()) {
            let key = try cursor.string()
            keys[key] = KeyInfo(type: try cursor.string())
        }
        guard zip(names, names.dropFirst()).allSatisfy({ $0 < $1 }) else { throw CatalogFormatError(what: "service `\(prefix)`: actions are not sorted") }
        return Service(prefix: prefix, name: name, actions: actions, sortedActionNames: names, resourceTypes: resourceTypes, conditionKeys: keys)
    }
}
