import ClawcCompiler
import ClawcPolicy
import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The ledger's audit log as a hash chain, apart from any store: how a record is hashed, what follows a head, and
/// how a chain is checked. Every `LedgerStore` writes and verifies records through this type, so a chain written by
/// one store verifies under another, and the format stays what existing ledgers were written with.
///
/// A record's hash is SHA-256 (lowercase hex) of its fields joined by `\n`: the sequence number, the time in
/// whole seconds since 1970, the event, the task ID (empty when none), the detail as canonical JSON (sorted keys,
/// slashes unescaped) and the previous record's hash; the first record's previous hash is `genesis`. Changing any
/// of this breaks every existing ledger's chain.
///
/// A keyed chain (an `AuditKey` kept outside the ledger) hashes the same text with HMAC-SHA256 under the key instead:
/// whoever can write the ledger but does not hold the key cannot recompute the chain after an edit. A ledger's chain
/// is keyed from its first record or not at all; the store records which key (by its ID, never the key).
public enum AuditChain {
    /// The previous hash of the first record, and the head hash of an empty chain: 64 zeros.
    public static let genesis = String(repeating: "0", count: 64)

    /// One audit record as stored.
    public struct Record: Sendable, Equatable {
        public var seq: Int64
        /// Seconds since 1970, rounded down.
        public var at: Int64
        public var event: String
        public var taskID: String?
        /// The detail as `canonical(_:)` wrote it; kept as text so verification hashes exactly what was stored.
        public var detail: String
        public var prev: String
        public var hash: String

        public init(seq: Int64, at: Int64, event: String, taskID: String?, detail: String, prev: String, hash: String) {
            self.seq = seq
            self.at = at
            self.event = event
            self.taskID = taskID
            self.detail = detail
            self.prev = prev
            self.hash = hash
        }
    }

    /// The detail map as the chain hashes it: a JSON object, keys in UTF-8 byte order, strings escaped by the policy
    /// writer (`"`, `\` and control characters; slashes and non-ASCII as they are). Records store this text and
    /// verification hashes the stored text, so records written by earlier versions (JSONSerialization's spelling)
    /// verify as before. Written by hand: JSONSerialization was a tenth of the broker's CPU per issuance.
    public static func canonical(_ detail: [String: String]) -> String {
        let keys = detail.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        return "{" + keys.map { PolicyJSON.string($0) + ":" + PolicyJSON.string(detail[$0]!) }.joined(separator: ",") + "}"
    }

    public static func hash(seq: Int64, at: Int64, event: String, taskID: String?, detail: String, prev: String, key: AuditKey? = nil) -> String {
        let text = [String(seq), String(at), event, taskID ?? "", detail, prev].joined(separator: "\n")
        guard let key else { return Hex.sha256(text) }
        return Hex.string(HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: key.key))
    }

    /// The record that follows `head` (nil: the chain is empty).
    public static func record(after head: (seq: Int64, hash: String)?, event: String, taskID: String?, detail: [String: String], at: Date,
                              key: AuditKey? = nil) -> Record
    {
        let seq = (head?.seq ?? 0) + 1
        let prev = head?.hash ?? genesis
        let at = Int64(at.timeIntervalSince1970.rounded(.down))
        let detail = canonical(detail)
        return Record(seq: seq, at: at, event: event, taskID: taskID, detail: detail, prev: prev,
                      hash: hash(seq: seq, at: at, event: event, taskID: taskID, detail: detail, prev: prev, key: key))
    }

    /// `SEQ HASH`, as `clawc audit head` prints it; an empty chain is `0` and the genesis hash.
    public static func format(head: (seq: Int64, hash: String)?) -> String {
        "\(head?.seq ?? 0) \(head?.hash ?? genesis)"
    }

    /// Reads an anchor written `SEQ:HASH` (as `clawc audit verify --expect-head` takes it), or nil.
    public static func parseHead(_ text: String) -> (seq: Int64, hash: String)? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let seq = Int64(parts[0]), seq >= 0 else { return nil }
        let hash = String(parts[1])
        guard hash.utf8.count == 64, hash.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else { return nil }
        return (seq, hash)
    }

    /// Checks records one at a time, in sequence order, so a store can stream a long chain instead of loading it.
    public struct Verifier: Sendable {
        private var prev = AuditChain.genesis
        private var expectedSeq: Int64 = 1
        private var anchor: (seq: Int64, hash: String)?
        private var anchorSeen = false
        private let key: AuditKey?
        /// Set at the first record that does not hold; later records are not looked at.
        public private(set) var failure: LedgerAuditVerdict?

        public init(expecting anchor: (seq: Int64, hash: String)? = nil, key: AuditKey? = nil) {
            self.anchor = anchor
            self.key = key
        }

        /// Takes the next record; false once the chain is broken (stop feeding it).
        public mutating func check(_ record: Record) -> Bool {
            guard failure == nil else { return false }
            guard record.seq == expectedSeq else {
                failure = .broken(seq: record.seq, reason: "record \(expectedSeq) is missing")
                return false
            }
            guard record.prev == prev else {
                failure = .broken(seq: record.seq, reason: "it does not link to the record before it")
                return false
            }
            let hash = AuditChain.hash(seq: record.seq, at: record.at, event: record.event, taskID: record.taskID, detail: record.detail, prev: prev, key: key)
            guard record.hash == hash else {
                failure = .broken(seq: record.seq, reason: key == nil ? "its contents do not match its hash" : "its contents do not match its keyed hash")
                return false
            }
            if let anchor, anchor.seq == record.seq {
                anchorSeen = true
                guard anchor.hash == hash else {
                    failure = .broken(seq: record.seq, reason: "its hash is not the expected head's: the chain was rewritten up to this record")
                    return false
                }
            }
            prev = hash
            expectedSeq += 1
            return true
        }

        /// The verdict once every record was fed.
        public func finish() -> LedgerAuditVerdict {
            if let failure { return failure }
            let records = Int(expectedSeq - 1)
            if let anchor, !anchorSeen {
                if anchor.seq == 0 {
                    guard anchor.hash == AuditChain.genesis else {
                        return .broken(seq: 0, reason: "the expected head `0:\(anchor.hash)` is not the empty chain's, whose hash is the genesis hash (64 zeros)")
                    }
                } else {
                    return .broken(seq: anchor.seq, reason: "the chain ends at record \(records), before the expected head: records were removed")
                }
            }
            return .intact(records: records)
        }
    }

    /// Verifies a whole chain held in memory.
    public static func verify(_ records: some Sequence<Record>, expecting anchor: (seq: Int64, hash: String)? = nil, key: AuditKey? = nil)
        -> LedgerAuditVerdict
    {
        var verifier = Verifier(expecting: anchor, key: key)
        for record in records where !verifier.check(record) { break }
        return verifier.finish()
    }
}

/// The secret an audit chain is keyed with, read from a file kept outside the ledger (`--audit-key`, `CLAWC_AUDIT_KEY`).
///
/// The file holds at least 32 bytes (say `openssl rand -hex 32`), at most 4 KiB; trailing white space is not part of
/// the key. It must not be readable by group or others, as for an SSH key. The key's ID, a digest that does not
/// reveal it, is what a ledger records to tell which key its chain is keyed with.
public struct AuditKey: Sendable {
    let key: SymmetricKey
    /// 16 hex digits naming the key.
    public let id: String

    public static let environmentVariable = "CLAWC_AUDIT_KEY"

    public init(bytes: [UInt8]) {
        key = SymmetricKey(data: bytes)
        id = String(Hex.sha256(Data("clawc audit key id\n".utf8) + Data(bytes)).prefix(16))
    }

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    public static func load(path: String) throws(Failure) -> AuditKey {
        var info = stat()
        guard stat(path, &info) == 0 else { throw Failure(message: "cannot read the audit key `\(path)`: \(String(cString: strerror(errno)))") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw Failure(message: "the audit key `\(path)` is not a regular file") }
        guard info.st_mode & 0o077 == 0 else {
            throw Failure(message: "the audit key `\(path)` is readable or writable by group or others (mode \(String(info.st_mode & 0o777, radix: 8))); run `chmod 600` on it")
        }
        guard info.st_size <= 4096 else { throw Failure(message: "the audit key `\(path)` is over 4 KiB; it should hold one key, such as `openssl rand -hex 32`") }
        guard let data = FileManager.default.contents(atPath: path) else { throw Failure(message: "cannot read the audit key `\(path)`") }
        var bytes = Array(data)
        while let last = bytes.last, last == 0x20 || (0x09...0x0d).contains(last) { bytes.removeLast() }
        guard bytes.count >= 32 else {
            throw Failure(message: "the audit key `\(path)` holds \(bytes.count) bytes; a key needs at least 32 (make one with `openssl rand -hex 32`)")
        }
        return AuditKey(bytes: bytes)
    }
}
