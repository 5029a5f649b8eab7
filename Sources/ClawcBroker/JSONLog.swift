import ClawcPolicy
import Foundation
import Logging

/// swift-log's handler for the broker: one JSON object per line on stderr, keys in a fixed order (`time`,
/// `level`, `message`, then metadata sorted by key). Values are written with clawc's JSON string writer, so a hostile
/// subject or task ID is one escaped string, never a second line. Nothing secret is ever logged: callers pass
/// metadata only from `BrokerLog` fields (no token, no credential, no request body).
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    let label: String
    static let lock = NSLock()

    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        var line = "{\"time\":" + PolicyJSON.string(AWSDateFormat.now()) + ",\"level\":" + PolicyJSON.string(event.level.rawValue)
            + ",\"message\":" + PolicyJSON.string(event.message.description)
        for key in merged.keys.sorted() {
            line += "," + PolicyJSON.string(key) + ":" + Self.value(merged[key]!)
        }
        line += "}\n"
        Self.lock.withLock { FileHandle.standardError.write(Data(line.utf8)) }
    }

    static func value(_ value: Logger.MetadataValue) -> String {
        switch value {
        case .string(let text): PolicyJSON.string(text)
        case .stringConvertible(let item):
            if let number = item as? any BinaryInteger { "\(number)" }
            else if let number = item as? Double, number.isFinite { String(format: "%.6g", number) }
            else { PolicyJSON.string(item.description) }
        case .array(let items): "[" + items.map(Self.value).joined(separator: ",") + "]"
        case .dictionary(let items): "{" + items.keys.sorted().map { PolicyJSON.string($0) + ":" + Self.value(items[$0]!) }.joined(separator: ",") + "}"
        }
    }
}

/// Millisecond UTC timestamps for log lines.
enum AWSDateFormat {
    static func now() -> String {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        var seconds = time_t(time.tv_sec)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                      parts.tm_hour, parts.tm_min, parts.tm_sec, Int(time.tv_nsec / 1_000_000))
    }
}
