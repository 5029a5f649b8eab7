import Foundation

/// The ledger's audit log as a hash chain, apart from any store: how a record is hashed, what follows a head, and
/// how a chain is checked. Every `LedgerStore` writes and verifies records through this type, so a chain written by
/// one store verifies under another, and the format stays what existing ledgers were written with.
///
/// A record's hash is SHA-256 (lowercase hex) of its fields joined by `\n`: the sequence number, the time in
/// whole seconds since 1970, the event, the task ID (empty when none), the detail as canonical JSON (sorted keys,
/// slashes unescaped) and the previous record's hash; the first record's previous hash is `genesis`. Changing any
/// of this breaks every existing ledger's chain.
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

    /// The detail map as the chain hashes it: JSON with sorted keys and unescaped slashes.
    public static func canonical(_ detail: [String: String]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: detail, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    public static func hash(seq: Int64, at: Int64, event: String, taskID: String?, detail: String, prev: String) -> String {
        Hex.sha256([String(seq), String(at), event, taskID ?? "", detail, prev].joined(separator: "\n"))
    }

    /// The record that follows `head` (nil: the chain is empty).
    public static func record(after head: (seq: Int64, hash: String)?, event: String, taskID: String?, detail: [String: String], at: Date)
        -> Record
    {
        let seq = (head?.seq ?? 0) + 1
        let prev = head?.hash ?? genesis
        let at = Int64(at.timeIntervalSince1970.rounded(.down))
        let detail = canonical(detail)
        return Record(seq: seq, at: at, event: event, taskID: taskID, detail: detail, prev: prev,
                      hash: hash(seq: seq, at: at, event: event, taskID: taskID, detail: detail, prev: prev))
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
        /// Set at the first record that does not hold; later records are not looked at.
        public private(set) var failure: LedgerAuditVerdict?

        public init(expecting anchor: (seq: Int64, hash: String)? = nil) {
            self.anchor = anchor
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
            let hash = AuditChain.hash(seq: record.seq, at: record.at, event: record.event, taskID: record.taskID, detail: record.detail, prev: prev)
            guard record.hash == hash else {
                failure = .broken(seq: record.seq, reason: "its contents do not match its hash")
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
    public static func verify(_ records: some Sequence<Record>, expecting anchor: (seq: Int64, hash: String)? = nil) -> LedgerAuditVerdict {
        var verifier = Verifier(expecting: anchor)
        for record in records where !verifier.check(record) { break }
        return verifier.finish()
    }
}
