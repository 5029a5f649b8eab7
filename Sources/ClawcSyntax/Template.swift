import ClawcDiagnostics

/// A string from a rule that may hold slots: `arn:aws:s3:::{bucket}/*`, `{task.id}`, `{task.tags.team}`.
public struct Template: Sendable {
    public enum Piece: Sendable, Equatable {
        case literal(String)
        /// A slot by name, with its offset and length in scalars within the source string (braces included).
        case slot(SlotName, offset: Int, length: Int)
    }

    /// What a slot refers to.
    public enum SlotName: Sendable, Hashable {
        case param(String)
        case taskID
        case taskTag(String)

        public var text: String {
            switch self {
            case .param(let name): name
            case .taskID: "task.id"
            case .taskTag(let name): "task.tags.\(name)"
            }
        }
    }

    public var source: Located<String>
    public var pieces: [Piece]

    public var hasSlots: Bool { pieces.contains { if case .slot = $0 { true } else { false } } }

    /// Splits a string into literals and slots; a brace that opens no well-formed slot is an error.
    public static func parse(_ source: Located<String>) -> Result<Template, Diagnostic> {
        var pieces: [Piece] = []
        var literal = ""
        let scalars = Array(source.value.unicodeScalars)
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            if scalar == "}" {
                return .failure(.error(
                    "invalid-slot", "`}` without a matching `{`", at: source.span(ofScalarsAt: index, count: 1),
                    help: "slots are written `{param}`, `{task.id}` or `{task.tags.NAME}`"))
            }
            guard scalar == "{" else {
                literal.unicodeScalars.append(scalar)
                index += 1
                continue
            }
            guard let close = scalars[(index + 1)...].firstIndex(of: "}") else {
                return .failure(.error(
                    "invalid-slot", "`{` opens a slot that is never closed", at: source.span(ofScalarsAt: index, count: 1),
                    help: "slots are written `{param}`, `{task.id}` or `{task.tags.NAME}`"))
            }
            let name = String(String.UnicodeScalarView(scalars[(index + 1)..<close]))
            let length = close - index + 1
            guard let slot = slotName(name) else {
                return .failure(.error(
                    "invalid-slot", "`{\(name)}` is not a slot name", at: source.span(ofScalarsAt: index, count: length),
                    help: "slots are written `{param}`, `{task.id}` or `{task.tags.NAME}`"))
            }
            if !literal.isEmpty { pieces.append(.literal(literal)); literal = "" }
            pieces.append(.slot(slot, offset: index, length: length))
            index = close + 1
        }
        if !literal.isEmpty { pieces.append(.literal(literal)) }
        return .success(Template(source: source, pieces: pieces))
    }

    static func slotName(_ text: String) -> SlotName? {
        if text == "task.id" { return .taskID }
        if text.hasPrefix("task.tags.") {
            let tag = String(text.dropFirst("task.tags.".count))
            return isIdentifier(tag, extra: ":./=+@-") ? .taskTag(tag) : nil
        }
        if text.hasPrefix("task.") { return nil }
        return isIdentifier(text, extra: "-") ? .param(text) : nil
    }

    /// Letters, digits and `_`, plus `extra`; starting with a letter or `_`.
    public static func isIdentifier(_ text: String, extra: String) -> Bool {
        guard let first = text.unicodeScalars.first, first.isASCIILetter || first == "_" else { return false }
        return text.unicodeScalars.allSatisfy { $0.isASCIILetter || $0.isASCIIDigit || $0 == "_" || extra.unicodeScalars.contains($0) }
    }
}

extension Unicode.Scalar {
    public var isASCIILetter: Bool { ("a"..."z").contains(self) || ("A"..."Z").contains(self) }
    public var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
