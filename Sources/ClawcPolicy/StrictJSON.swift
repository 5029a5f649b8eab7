import ClawcDiagnostics

/// A strict RFC 8259 JSON reader that keeps the line and column of every value and key.
///
/// Foundation's `JSONSerialization` keeps one of two duplicate keys without a word and forgets where values
/// were, so a policy read through it can mean something other than what IAM reads, and an error cannot point
/// at its line. This reader refuses instead: duplicate keys in any object, invalid UTF-8 and lone surrogate
/// escapes, nesting deeper than `maxDepth`, documents over `maxBytes`, comments, trailing commas, and anything
/// else RFC 8259 does not allow. It runs in time linear in the input, recurses at most `maxDepth` levels, and
/// never traps on any input.
public enum StrictJSON {
    /// The deepest nesting of objects and lists read. An IAM policy needs four levels; 64 leaves room for any
    /// honest document and keeps the recursion shallow.
    public static let maxDepth = 64
    /// The largest document read, in bytes (1 MiB). IAM policies are a few KiB at most.
    public static let maxBytes = 1 << 20

    /// One JSON value and where it starts.
    public struct Node: Sendable {
        public var value: Value
        /// Where the value starts: its first character.
        public var start: SourceLocation
        /// The value's length in Unicode scalars, for a caret line: a string's or number's whole token, 1 for
        /// an object or a list.
        public var length: Int

        /// What kind of value this is, for messages: "a string", "a number", "a list", ...
        public var kind: String {
            switch value {
            case .object: "an object"
            case .array: "a list"
            case .string: "a string"
            case .number: "a number"
            case .bool: "a boolean"
            case .null: "null"
            }
        }
    }

    /// A JSON value. Objects keep their members in document order.
    public enum Value: Sendable {
        case object([Member])
        case array([Node])
        case string(String)
        /// A number, as written: its text is kept so that nothing is lost or rounded (`1.0` stays `1.0`).
        case number(String)
        case bool(Bool)
        case null
    }

    /// One key and value of an object.
    public struct Member: Sendable {
        public var key: String
        /// Where the key's opening quote is.
        public var keyStart: SourceLocation
        /// The key token's length in Unicode scalars, quotes included.
        public var keyLength: Int
        public var value: Node
    }

    /// Why a document was refused, and where.
    public struct Error: Swift.Error, Sendable, CustomStringConvertible {
        /// A stable kebab-case code: `invalid-json`, `duplicate-key`, `too-deep` or `too-large`.
        public var code: String
        public var message: String
        public var location: SourceLocation
        public var length: Int
        public var help: String?
        /// Another place the message refers to, such as the first of two duplicate keys.
        public var related: (message: String, location: SourceLocation, length: Int)?

        public var description: String { "\(location.line):\(location.column): \(message)" }
    }

    /// Parses one JSON document. The size is checked before anything is copied or read.
    public static func parse<Bytes: Collection<UInt8>>(_ bytes: Bytes) throws(Error) -> Node {
        if bytes.count > maxBytes {
            throw Error(
                code: "too-large", message: "the document is larger than 1 MiB, the most clawc reads",
                location: SourceLocation(line: 1, column: 1), length: 1,
                help: "an IAM session policy is at most 2,048 characters; check that this is the policy file")
        }
        var reader = Reader(bytes: Array(bytes))
        return try reader.document()
    }

    /// User text made safe to quote in one line of a message: control, bidirectional and invisible format
    /// characters escaped as `\n`, `\t` or `\u{1B}`, backslashes doubled, long text cut after `limit` scalars.
    /// With `asciiOnly`, every non-ASCII scalar is escaped too: for messages about how the text is encoded.
    public static func shown(_ text: String, limit: Int = 80, asciiOnly: Bool = false) -> String {
        var out = ""
        var count = 0
        for scalar in text.unicodeScalars {
            if count == limit { return out + "…" }
            count += 1
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\\": out += "\\\\"
            default:
                if isUnsafeToPrint(scalar) || (asciiOnly && !scalar.isASCII) {
                    out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// Scalars that must not reach a terminal or CI log raw: C0 and C1 controls, DEL, bidirectional controls
    /// (which can make a line read differently from what it holds), zero-width and other invisible format
    /// characters, line and paragraph separators, and noncharacters.
    public static func isUnsafeToPrint(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        if v < 0x20 || (0x7F...0x9F).contains(v) { return true }
        if v == 0x061C || v == 0x180E || (0x200B...0x200F).contains(v) || (0x2028...0x202E).contains(v) { return true }
        if (0x2060...0x206F).contains(v) || v == 0xFEFF || (0xFFF9...0xFFFB).contains(v) { return true }
        if (0xFDD0...0xFDEF).contains(v) || v & 0xFFFE == 0xFFFE { return true }
        if (0xE0000...0xE007F).contains(v) { return true }
        return false
    }
}

/// The parser proper: a cursor over the bytes that tracks line and column as it goes.
///
/// Columns count Unicode scalars, as `SourceFile` and the diagnostic renderer do; lines end at `\n` (so
/// `\r\n` ends one line, and a lone `\r` is whitespace inside a line, as `SourceFile` reads it).
private struct Reader {
    let bytes: [UInt8]
    var pos = 0
    var line = 1
    var column = 1
    var depth = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    typealias Node = StrictJSON.Node
    typealias Failure = StrictJSON.Error

    var location: SourceLocation { SourceLocation(line: line, column: column) }

    var current: UInt8? { pos < bytes.count ? bytes[pos] : nil }

    /// Moves past one byte. A UTF-8 continuation byte does not start a new column.
    mutating func advance() {
        guard pos < bytes.count else { return }
        let byte = bytes[pos]
        pos += 1
        if byte == 0x0A {
            line += 1
            column = 1
        } else if byte & 0xC0 != 0x80 {
            column += 1
        }
    }

    mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { advance() }
    }

    func fail(_ message: String, at location: SourceLocation, length: Int = 1, help: String? = nil) -> Failure {
        Failure(code: "invalid-json", message: "invalid JSON: " + message, location: location, length: length, help: help)
    }

    mutating func document() throws(Failure) -> Node {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
            throw fail("the file starts with a UTF-8 byte order mark", at: location, help: "save the file as UTF-8 without a byte order mark")
        }
        skipWhitespace()
        if current == nil {
            throw fail(bytes.isEmpty ? "the file is empty" : "the file holds only whitespace", at: location,
                       help: "a policy file holds one JSON object")
        }
        let node = try value()
        skipWhitespace()
        if current != nil {
            throw fail("\(describeHere()) after the end of the JSON document", at: location,
                       help: "a policy file holds exactly one JSON value; remove what follows it")
        }
        return node
    }

    mutating func value() throws(Failure) -> Node {
        skipWhitespace()
        guard let byte = current else { throw fail("the document ends where a value was expected", at: location) }
        switch byte {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""):
            let (text, start, length) = try string()
            return Node(value: .string(text), start: start, length: length)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"): return try literal()
        default: throw unexpected(expecting: "a value (an object, list, string, number, `true`, `false` or `null`)")
        }
    }

    /// The error for the byte under the cursor when `what` was expected, with a hint for common non-JSON.
    mutating func unexpected(expecting what: String) -> Failure {
        let here = location
        guard let byte = current else { return fail("the document ends where \(what) was expected", at: here) }
        switch byte {
        case UInt8(ascii: "/"):
            return fail("found `/` where \(what) was expected; JSON has no comments", at: here, help: "remove the comment")
        case UInt8(ascii: "'"):
            return fail("found `'` where \(what) was expected; JSON strings use double quotes", at: here)
        case 0x80...:
            if decodeScalar(at: pos) == nil {
                return fail("the bytes here are not valid UTF-8", at: here, help: "save the file as UTF-8")
            }
            return fail("found \(describeHere()) where \(what) was expected", at: here)
        default:
            return fail("found \(describeHere()) where \(what) was expected", at: here)
        }
    }

    /// The character under the cursor for a message: a bare word whole (`True`, `NaN`), else one character.
    func describeHere() -> String {
        guard let byte = current else { return "the end of the document" }
        func isWord(_ b: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(b)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) || b == UInt8(ascii: "_")
        }
        if isWord(byte) {
            var end = pos
            while end < bytes.count, end - pos < 24, isWord(bytes[end]) { end += 1 }
            let word = String(decoding: bytes[pos..<end], as: UTF8.self)
            return "`\(word)`" + (end < bytes.count && isWord(bytes[end]) ? "…" : "")
        }
        if byte < 0x80 {
            let scalar = Unicode.Scalar(byte)
            return StrictJSON.isUnsafeToPrint(scalar) ? "the control character U+\(hex4(UInt32(byte)))" : "`\(StrictJSON.shown(String(scalar)))`"
        }
        guard let (scalar, _) = decodeScalar(at: pos) else { return "a byte that is not valid UTF-8" }
        return "`\(StrictJSON.shown(String(scalar)))` (U+\(hex4(scalar.value)))"
    }

    mutating func object() throws(Failure) -> Node {
        let start = location
        try enter(at: start)
        defer { depth -= 1 }
        advance()
        var members: [StrictJSON.Member] = []
        // Keys compared as exact UTF-8 bytes, as RFC 8259 compares member names.
        var seen: [[UInt8]: SourceLocation] = [:]
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            advance()
            return Node(value: .object([]), start: start, length: 1)
        }
        var comma: SourceLocation?
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else {
                if let comma, current == UInt8(ascii: "}") {
                    throw fail("a trailing comma before `}`", at: comma, help: "remove the last `,` of the object")
                }
                if current == nil { throw endsInside("an object", start) }
                throw unexpected(expecting: "a key in double quotes")
            }
            let (key, keyStart, keyLength) = try string()
            // The decoded key is what counts: `"a"` and `"\u0061"` are the same key.
            let exact = Array(key.utf8)
            if let first = seen[exact] {
                throw Failure(
                    code: "duplicate-key",
                    message: "duplicate key `\(StrictJSON.shown(key))`: this object already has it on line \(first.line), column \(first.column)",
                    location: keyStart, length: keyLength,
                    help: "JSON readers disagree on which of two equal keys wins, so clawc reads neither; keep one and merge the values",
                    related: ("the first `\(StrictJSON.shown(key))` is here", first, keyLength))
            }
            seen[exact] = keyStart
            skipWhitespace()
            guard current == UInt8(ascii: ":") else {
                if current == nil { throw endsInside("an object", start) }
                throw unexpected(expecting: "`:` after the key `\(StrictJSON.shown(key))`")
            }
            advance()
            let member = try value()
            members.append(StrictJSON.Member(key: key, keyStart: keyStart, keyLength: keyLength, value: member))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","):
                comma = location
                advance()
            case UInt8(ascii: "}"):
                advance()
                return Node(value: .object(members), start: start, length: 1)
            case nil:
                throw endsInside("an object", start)
            default:
                throw unexpected(expecting: "`,` or `}` after a value in an object")
            }
        }
    }

    mutating func array() throws(Failure) -> Node {
        let start = location
        try enter(at: start)
        defer { depth -= 1 }
        advance()
        var items: [Node] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            advance()
            return Node(value: .array([]), start: start, length: 1)
        }
        var comma: SourceLocation?
        while true {
            skipWhitespace()
            if current == nil { throw endsInside("a list", start) }
            if let comma, current == UInt8(ascii: "]") {
                throw fail("a trailing comma before `]`", at: comma, help: "remove the last `,` of the list")
            }
            items.append(try value())
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","):
                comma = location
                advance()
            case UInt8(ascii: "]"):
                advance()
                return Node(value: .array(items), start: start, length: 1)
            case nil:
                throw endsInside("a list", start)
            default:
                throw unexpected(expecting: "`,` or `]` after a value in a list")
            }
        }
    }

    /// Counts one more level of nesting, refusing past the limit before any recursion happens.
    mutating func enter(at start: SourceLocation) throws(Failure) {
        depth += 1
        if depth > StrictJSON.maxDepth {
            throw Failure(
                code: "too-deep", message: "the JSON nests deeper than \(StrictJSON.maxDepth) levels here",
                location: start, length: 1, help: "an IAM policy nests four levels deep; check that this is the policy file")
        }
    }

    func endsInside(_ what: String, _ start: SourceLocation) -> Failure {
        fail("the document ends inside \(what) that starts on line \(start.line), column \(start.column)", at: location,
             help: "close every `{` and `[`; the file may have been cut short")
    }

    /// A string token: its decoded text, where its opening quote is, and its length in scalars.
    mutating func string() throws(Failure) -> (String, SourceLocation, Int) {
        let start = location
        advance()
        var out: [UInt8] = []
        var runStart = pos
        while true {
            guard let byte = current else {
                throw fail("the document ends inside a string that starts on line \(start.line), column \(start.column)", at: location,
                           help: "close the string with `\"`")
            }
            switch byte {
            case UInt8(ascii: "\""):
                out.append(contentsOf: bytes[runStart..<pos])
                let length = column - start.column + 1
                advance()
                return (String(decoding: out, as: UTF8.self), start, length)
            case UInt8(ascii: "\\"):
                out.append(contentsOf: bytes[runStart..<pos])
                try escape(into: &out)
                runStart = pos
            case ..<0x20:
                throw fail("a string holds the raw control character U+\(hex4(UInt32(byte)))", at: location,
                           help: byte == 0x0A ? "a JSON string ends on the line it starts; write a line break as `\\n`" : "write it as an escape such as `\\u\(hex4(UInt32(byte)))`")
            case ..<0x80:
                advance()
            default:
                guard let (_, width) = decodeScalar(at: pos) else {
                    throw fail("the bytes here are not valid UTF-8", at: location, help: "save the file as UTF-8")
                }
                for _ in 0..<width { advance() }
            }
        }
    }

    /// One backslash escape, its bytes appended to `out` as UTF-8. Surrogate escapes must come as a valid pair.
    mutating func escape(into out: inout [UInt8]) throws(Failure) {
        let here = location
        advance()
        guard let byte = current else { throw fail("the document ends inside an escape", at: location) }
        let simple: UInt8?
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): simple = byte
        case UInt8(ascii: "b"): simple = 0x08
        case UInt8(ascii: "f"): simple = 0x0C
        case UInt8(ascii: "n"): simple = 0x0A
        case UInt8(ascii: "r"): simple = 0x0D
        case UInt8(ascii: "t"): simple = 0x09
        default: simple = nil
        }
        if let simple {
            advance()
            out.append(simple)
            return
        }
        guard byte == UInt8(ascii: "u") else {
            throw fail("unknown escape `\\\(describeEscapeLetter(byte))`", at: here, length: 2,
                       help: "JSON knows `\\\"`, `\\\\`, `\\/`, `\\b`, `\\f`, `\\n`, `\\r`, `\\t` and `\\uXXXX`")
        }
        advance()
        let first = try hex4Digits(escapeAt: here)
        var value = first
        if (0xD800...0xDBFF).contains(first) {
            // A high surrogate must be followed by an escaped low surrogate; together they are one scalar.
            guard pos + 1 < bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") else {
                throw loneSurrogate(first, at: here)
            }
            advance()
            advance()
            let second = try hex4Digits(escapeAt: here)
            guard (0xDC00...0xDFFF).contains(second) else { throw loneSurrogate(first, at: here) }
            value = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
        } else if (0xDC00...0xDFFF).contains(first) {
            throw loneSurrogate(first, at: here)
        }
        guard let scalar = Unicode.Scalar(value) else { throw loneSurrogate(first, at: here) }
        UTF8.encode(scalar) { out.append($0) }
    }

    func describeEscapeLetter(_ byte: UInt8) -> String {
        byte >= 0x20 && byte < 0x7F ? String(Unicode.Scalar(byte)) : "\\u{" + String(byte, radix: 16, uppercase: true) + "}"
    }

    func loneSurrogate(_ value: UInt32, at location: SourceLocation) -> Failure {
        fail("`\\u\(hex4(value))` is half of a UTF-16 surrogate pair with no other half; it is no Unicode character", at: location, length: 6,
             help: "write the character itself, or both halves of its surrogate pair")
    }

    /// Four hex digits after `\u`.
    mutating func hex4Digits(escapeAt here: SourceLocation) throws(Failure) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = current else { throw fail("the document ends inside a `\\u` escape", at: location) }
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default:
                throw fail("a `\\u` escape needs four hex digits", at: here, help: "write it as `\\u` and four digits 0-9 or A-F, such as `\\u00e9`")
            }
            value = value << 4 | digit
            advance()
        }
        return value
    }

    /// A number token, checked against RFC 8259's grammar and kept as written.
    mutating func number() throws(Failure) -> Node {
        let start = location
        let first = pos
        func isDigit(_ b: UInt8?) -> Bool { b.map { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) } ?? false }
        if current == UInt8(ascii: "-") { advance() }
        guard isDigit(current) else { throw fail("a `-` must be followed by digits", at: start) }
        if current == UInt8(ascii: "0") {
            advance()
            if isDigit(current) { throw fail("a number has a leading zero", at: start, help: "JSON numbers have no leading zeros; write `0` or a number starting 1-9") }
        } else {
            while isDigit(current) { advance() }
        }
        if current == UInt8(ascii: ".") {
            advance()
            guard isDigit(current) else { throw fail("a number needs digits after `.`", at: start) }
            while isDigit(current) { advance() }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            advance()
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { advance() }
            guard isDigit(current) else { throw fail("a number needs digits after its exponent", at: start) }
            while isDigit(current) { advance() }
        }
        let text = String(decoding: bytes[first..<pos], as: UTF8.self)
        return Node(value: .number(text), start: start, length: pos - first)
    }

    /// `true`, `false` or `null`, spelled exactly.
    mutating func literal() throws(Failure) -> Node {
        let start = location
        for (word, value) in [("true", StrictJSON.Value.bool(true)), ("false", .bool(false)), ("null", .null)] {
            let spelled = Array(word.utf8)
            if bytes[pos...].starts(with: spelled) {
                let end = pos + spelled.count
                // `nullx` or `true1` is one bad word, not a literal and then garbage.
                if end < bytes.count, isWordByte(bytes[end]) { break }
                for _ in spelled { advance() }
                return Node(value: value, start: start, length: spelled.count)
            }
        }
        throw fail("found \(describeHere()); JSON's only bare words are `true`, `false` and `null`", at: start)
    }

    func isWordByte(_ b: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(b)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) || b == UInt8(ascii: "_")
    }

    /// The scalar whose UTF-8 encoding starts at `index` and its width in bytes, or nil when the bytes there are
    /// not well-formed UTF-8 (Unicode table 3-7: no overlong forms, no encoded surrogates, nothing past U+10FFFF).
    func decodeScalar(at index: Int) -> (Unicode.Scalar, Int)? {
        guard index < bytes.count else { return nil }
        let lead = bytes[index]
        let width: Int
        var low: UInt8 = 0x80, high: UInt8 = 0xBF
        var value: UInt32
        switch lead {
        case 0x00...0x7F: return Unicode.Scalar(UInt32(lead)).map { ($0, 1) }
        case 0xC2...0xDF: width = 2; value = UInt32(lead & 0x1F)
        case 0xE0: width = 3; low = 0xA0; value = UInt32(lead & 0x0F)
        case 0xE1...0xEC, 0xEE...0xEF: width = 3; value = UInt32(lead & 0x0F)
        case 0xED: width = 3; high = 0x9F; value = UInt32(lead & 0x0F)
        case 0xF0: width = 4; low = 0x90; value = UInt32(lead & 0x07)
        case 0xF1...0xF3: width = 4; value = UInt32(lead & 0x07)
        case 0xF4: width = 4; high = 0x8F; value = UInt32(lead & 0x07)
        default: return nil
        }
        guard index + width <= bytes.count else { return nil }
        for offset in 1..<width {
            let byte = bytes[index + offset]
            let (min, max) = offset == 1 ? (low, high) : (UInt8(0x80), UInt8(0xBF))
            guard byte >= min, byte <= max else { return nil }
            value = value << 6 | UInt32(byte & 0x3F)
        }
        return Unicode.Scalar(value).map { ($0, width) }
    }
}

/// Four uppercase hex digits (more when needed), as in `U+001B`.
func hex4(_ value: UInt32) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}
