import Foundation

/// Flattens a small AWS XML answer into element name → text (the last occurrence wins).
///
/// Read by hand rather than with Foundation's `XMLParser`: that parser is libxml2, and linking it (with the ICU it
/// brings) cost every clawc process about 3 ms and five shared libraries at start, including `clawc compile`,
/// which never reads XML. STS answers are a handful of nested elements with text, so the reader below takes that
/// XML and refuses the rest: it is strict where libxml2 is lenient (no DTD, so no entity of any kind beyond the five
/// predefined ones and character references), and it agrees with `XMLParser` on every answer without a DTD
/// (`XMLFieldsTests` compares the two on a corpus).
enum XMLFields {
    /// Elements an STS answer holds at most once; a second one makes the answer ambiguous.
    static let singular: Set<String> = [
        "Credentials", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration", "Arn", "AssumedRoleId",
        "AssumedRoleUser", "ScopedSessionId", "SubjectFromWebIdentityToken",
    ]

    /// The deepest nesting read; STS answers nest four deep.
    static let maxDepth = 64

    static func parse(_ data: Data) -> [String: String] { parseChecked(data).values }

    /// The fields, every element name seen more than once, and whether the document is well-formed XML. On a
    /// document that is not, the fields read before the fault are returned (an error answer's `Code` is still
    /// worth showing) and `wellFormed` is false.
    static func parseChecked(_ data: Data) -> (values: [String: String], duplicates: Set<String>, wellFormed: Bool) {
        var reader = Reader(bytes: [UInt8](data))
        let wellFormed = reader.document()
        return (reader.values, reader.duplicates, wellFormed)
    }

    /// One pass over the bytes; every method returns false at the first fault and the reader stops there.
    struct Reader {
        let bytes: [UInt8]
        var at = 0
        var values: [String: String] = [:]
        var seen = Set<String>()
        var duplicates = Set<String>()
        /// The text since the last tag, as `XMLParser` would have reported it in pieces.
        var text: [UInt8] = []
        var open: [ArraySlice<UInt8>] = []

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func document() -> Bool {
            guard String(validating: bytes, as: UTF8.self) != nil else { return false }
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { at = 3 }
            var sawRoot = false
            while true {
                skipSpace()
                guard at < bytes.count else { return sawRoot }
                guard bytes[at] == UInt8(ascii: "<"), at + 1 < bytes.count else { return false }
                switch bytes[at + 1] {
                case UInt8(ascii: "?"):
                    guard processingInstruction() else { return false }
                case UInt8(ascii: "!"):
                    // A comment; a DOCTYPE (or anything else) is refused.
                    guard startsWith("<!--"), comment() else { return false }
                default:
                    guard !sawRoot, element() else { return false }
                    sawRoot = true
                }
            }
        }

        /// The root element and everything inside it, iteratively.
        mutating func element() -> Bool {
            repeat {
                guard at < bytes.count else { return false }
                if bytes[at] != UInt8(ascii: "<") {
                    guard characterData() else { return false }
                    continue
                }
                guard at + 1 < bytes.count else { return false }
                switch bytes[at + 1] {
                case UInt8(ascii: "/"):
                    guard endTag() else { return false }
                case UInt8(ascii: "?"):
                    guard processingInstruction() else { return false }
                case UInt8(ascii: "!"):
                    if startsWith("<!--") {
                        guard comment() else { return false }
                    } else if startsWith("<![CDATA[") {
                        at += 9
                        guard let end = find("]]>") else { return false }
                        text += bytes[at..<end]
                        at = end + 3
                    } else {
                        return false
                    }
                default:
                    guard startTag() else { return false }
                }
            } while !open.isEmpty
            return true
        }

        mutating func startTag() -> Bool {
            at += 1
            guard let name = name() else { return false }
            // Attributes: read for well-formedness, not kept.
            var attributes = Set<ArraySlice<UInt8>>()
            while true {
                let before = at
                skipSpace()
                guard at < bytes.count else { return false }
                if bytes[at] == UInt8(ascii: ">") || startsWith("/>") { break }
                guard at > before, let attribute = self.name(), attributes.insert(attribute).inserted else { return false }
                skipSpace()
                guard at < bytes.count, bytes[at] == UInt8(ascii: "=") else { return false }
                at += 1
                skipSpace()
                guard at < bytes.count, bytes[at] == UInt8(ascii: "\"") || bytes[at] == UInt8(ascii: "'") else { return false }
                let quote = bytes[at]
                at += 1
                var discarded: [UInt8] = []
                while true {
                    guard at < bytes.count, bytes[at] != UInt8(ascii: "<") else { return false }
                    if bytes[at] == quote { break }
                    guard append(to: &discarded) else { return false }
                }
                at += 1
            }
            let nameText = String(decoding: name, as: UTF8.self)
            if !seen.insert(nameText).inserted { duplicates.insert(nameText) }
            text = []
            if bytes[at] == UInt8(ascii: "/") {
                at += 2
                end(nameText)
                return true
            }
            at += 1
            guard open.count < maxDepth else { return false }
            open.append(name)
            return true
        }

        mutating func endTag() -> Bool {
            at += 2
            guard let name = name(), name == open.last else { return false }
            skipSpace()
            guard at < bytes.count, bytes[at] == UInt8(ascii: ">") else { return false }
            at += 1
            open.removeLast()
            end(String(decoding: name, as: UTF8.self))
            return true
        }

        /// An element ended: its text since the last tag, trimmed, is its value when there is any.
        mutating func end(_ name: String) {
            let value = String(decoding: text, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if !value.isEmpty { values[name] = value }
            text = []
        }

        /// Text up to the next `<`.
        mutating func characterData() -> Bool {
            // Appended to in place: the text is moved out and back rather than copied for every run of text.
            var piece: [UInt8] = []
            swap(&piece, &text)
            defer { swap(&piece, &text) }
            while at < bytes.count, bytes[at] != UInt8(ascii: "<") {
                if startsWith("]]>") { return false }
                guard append(to: &piece) else { return false }
            }
            return true
        }

        /// One character of text or of an attribute value, a reference decoded.
        mutating func append(to out: inout [UInt8]) -> Bool {
            let byte = bytes[at]
            guard byte == UInt8(ascii: "&") else {
                // Control characters other than tab, newline and carriage return are not XML.
                guard byte >= 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D else { return false }
                out.append(byte)
                at += 1
                return true
            }
            guard let semicolon = bytes[at...].prefix(12).firstIndex(of: UInt8(ascii: ";")) else { return false }
            let reference = bytes[(at + 1)..<semicolon]
            at = semicolon + 1
            switch String(decoding: reference, as: UTF8.self) {
            case "amp": out.append(UInt8(ascii: "&"))
            case "lt": out.append(UInt8(ascii: "<"))
            case "gt": out.append(UInt8(ascii: ">"))
            case "quot": out.append(UInt8(ascii: "\""))
            case "apos": out.append(UInt8(ascii: "'"))
            case let number where number.hasPrefix("#"):
                let digits = number.dropFirst()
                let value = digits.hasPrefix("x") ? UInt32(digits.dropFirst(), radix: 16) : UInt32(digits, radix: 10)
                guard let value, !digits.isEmpty, digits.allSatisfy({ $0.isASCII && ($0.isHexDigit || $0 == "x") }),
                    let scalar = Unicode.Scalar(value), Self.isXMLChar(scalar)
                else { return false }
                out += Array(String(Character(scalar)).utf8)
            default:
                return false
            }
            return true
        }

        /// An XML name: letters, digits, `_`, `:`, `.`, `-`, and any non-ASCII character; not starting with a digit,
        /// `.` or `-`.
        mutating func name() -> ArraySlice<UInt8>? {
            let start = at
            while at < bytes.count, Self.isNameByte(bytes[at], first: at == start) { at += 1 }
            return at > start ? bytes[start..<at] : nil
        }

        mutating func comment() -> Bool {
            at += 4
            guard let end = find("--") else { return false }
            at = end + 2
            guard at < bytes.count, bytes[at] == UInt8(ascii: ">") else { return false }  // `--` inside a comment
            at += 1
            return true
        }

        /// `<?target ...?>`, skipped; the XML declaration (`<?xml ...?>`) only at the very start.
        mutating func processingInstruction() -> Bool {
            let start = at
            at += 2
            guard let target = name(), let end = find("?>") else { return false }
            if String(decoding: target, as: UTF8.self).lowercased() == "xml", start != (bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0) {
                return false
            }
            at = end + 2
            return true
        }

        func find(_ needle: String) -> Int? {
            let pattern = Array(needle.utf8)
            var index = at
            while index + pattern.count <= bytes.count {
                if bytes[index] == pattern[0], bytes[index..<(index + pattern.count)].elementsEqual(pattern) { return index }
                index += 1
            }
            return nil
        }

        func startsWith(_ prefix: String) -> Bool { bytes[at...].starts(with: prefix.utf8) }

        mutating func skipSpace() {
            while at < bytes.count, Self.isSpace(bytes[at]) { at += 1 }
        }

        static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D }

        static func isNameByte(_ byte: UInt8, first: Bool) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "_"), UInt8(ascii: ":"), 0x80...:
                true
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "-"):
                !first
            default:
                false
            }
        }

        /// XML 1.0's `Char`: no NUL, no other C0 control but tab, newline and carriage return, no U+FFFE or U+FFFF.
        static func isXMLChar(_ scalar: Unicode.Scalar) -> Bool {
            switch scalar.value {
            case 0x09, 0x0A, 0x0D, 0x20...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: true
            default: false
            }
        }
    }
}
