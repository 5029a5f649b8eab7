import Foundation
import Testing
@testable import ClawcCatalog

/// The catalog clawc loads is the pack compiled into it; the catalog people review is the JSON folder. These tests
/// hold the two equal, service by service, so a pack that is stale, hand-edited or mis-generated fails here.
@Suite struct CatalogPackTests {
    static let jsonFolder = Repo.root.appendingPathComponent("Sources/ClawcCatalog/Resources/catalog")

    @Test func thePackHoldsExactlyTheJSONCatalog() throws {
        let json = try Catalog(directory: Self.jsonFolder)
        let pack = try Catalog.bundled()
        #expect(pack.directory == nil)
        #expect(pack.sourceVersion == json.sourceVersion)
        #expect(pack.globalConditionKeys == json.globalConditionKeys)
        #expect(pack.servicePrefixes == json.servicePrefixes)
        #expect(pack.servicePrefixes.count > 400)
        var differing: [String] = []
        for prefix in json.servicePrefixes {
            let fromJSON = try #require(try json.service(prefix)), fromPack = try #require(try pack.service(prefix))
            if fromJSON != fromPack { differing.append(prefix) }
        }
        #expect(differing.isEmpty, "services whose pack entry differs from their JSON file: \(differing.prefix(10))")
        #expect(try pack.service("no-such-service") == nil)
        #expect(try pack.service("S3")?.prefix == "s3", "prefixes are case-insensitive")
        // Between and around the table's entries, the binary search finds nothing rather than a neighbour.
        for probe in ["", "a", "zzzz", "s", "s33", "ec", "ec2a", "\u{00E9}c2"] { #expect(try pack.service(probe) == nil, "\(probe)") }
    }

    /// `arnPattern` (every `${Variable}` a `*`), written byte by byte for speed, against the plain reading of it on
    /// every resource type in the catalog and on unclosed and odd placeholders.
    @Test func arnPatternsMatchTheirPlainReading() throws {
        func reference(_ arn: String) -> String {
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
        let catalog = try Catalog.bundled()
        var checked = 0
        for prefix in catalog.servicePrefixes {
            for type in try #require(try catalog.service(prefix)).resourceTypes.values {
                #expect(type.arnPattern == reference(type.arn), "\(type.arn)")
                checked += 1
            }
        }
        #expect(checked > 1000)
        // Odd placeholders, which the catalog does not have. An unclosed `${` stays as written (the plain reading
        // above repeats the text before it there, so it is not the reference for these).
        let odd = ["": "", "$": "$", "${": "${", "${x": "${x", "a${b}c${": "a*c${", "${}": "*", "$${x}}": "$*}", "é${x}ü": "é*ü",
                   "arn:${P}:s3:::${B}/${K}": "arn:*:s3:::*/*"]
        for (arn, pattern) in odd { #expect(ResourceType(arn: arn, conditionKeys: []).arnPattern == pattern, "\(arn)") }
    }

    /// The committed pack is what the script makes from the committed JSON, byte for byte.
    @Test func theScriptRebuildsTheCommittedPack() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("clawc-pack-\(UUID().uuidString).pack")
        defer { try? FileManager.default.removeItem(at: out) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Repo.path("scripts/build-catalog.py"), "--pack-only", "--pack", out.path]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let rebuilt = try Data(contentsOf: out)
        let committed = try Data(contentsOf: Repo.root.appendingPathComponent("Sources/ClawcCatalogPack/catalog.pack"))
        #expect(rebuilt == committed, "run `python3 scripts/build-catalog.py --pack-only` and commit the pack")
        #expect(committed == Data(CatalogPack.compiledIn), "the binary holds the committed pack")
    }

    /// A damaged pack is an error with a reason, never a crash or a read past its end: every truncation of the
    /// header, and seeded byte changes all through the file, each followed by lookups of several services.
    @Test func aDamagedPackIsAnErrorNeverACrash() throws {
        let original = [UInt8](Data(CatalogPack.compiledIn))
        func open(_ bytes: [UInt8]) -> Bool {
            bytes.withUnsafeBytes { buffer in
                guard let catalog = try? Catalog(pack: buffer) else { return false }
                for prefix in ["s3", "ec2", "logs", "iam", "zzz"] { _ = try? catalog.service(prefix) }
                _ = catalog.servicePrefixes
                return true
            }
        }
        #expect(open(original))
        for length in [0, 7, 8, 23, 24, 100, original.count - 1] { #expect(!open(Array(original.prefix(length))), "cut to \(length)") }
        var wrongMagic = original
        wrongMagic[0] = UInt8(ascii: "X")
        #expect(!open(wrongMagic))
        var wrongFormat = original
        wrongFormat[8] = 2
        #expect(!open(wrongFormat))

        var random = SplitMix64(seed: propertySeed(29))
        for _ in 0..<300 {
            var damaged = original
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                // Mostly the header, the root and the tables, where a changed number moves every read after it.
                let limit = Bool.random(using: &random) ? min(original.count, 40_000) : original.count
                damaged[Int.random(in: 0..<limit, using: &random)] = UInt8.random(in: 0...255, using: &random)
            }
            _ = open(damaged)
        }
        // A count that claims the whole address space is refused before anything is allocated for it.
        var hugeCount = original
        let serviceTable = try CatalogPack(UnsafeRawBufferPointer(start: CatalogPack.compiledIn.baseAddress, count: original.count)).root().services
        let recordWord = CatalogPack.headerBytes + 4 * (serviceTable + 3)
        let record = Int(original[recordWord]) | Int(original[recordWord + 1]) << 8 | Int(original[recordWord + 2]) << 16 | Int(original[recordWord + 3]) << 24
        let actionCount = CatalogPack.headerBytes + 4 * (record + 2)
        for offset in 0..<4 { hugeCount[actionCount + offset] = 0xFF }
        hugeCount.withUnsafeBytes { buffer in
            let catalog = try? Catalog(pack: buffer)
            let first = catalog?.servicePrefixes.first ?? ""
            #expect(throws: CatalogError.self) { try catalog?.service(first) }
        }
    }
}
