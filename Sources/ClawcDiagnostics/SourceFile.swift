/// A text file held in memory with its display path, so diagnostics can quote the line they point at.
public final class SourceFile: Sendable {
    /// The path as the user named it; diagnostics print it unchanged.
    public let path: String
    /// The whole text.
    public let text: String
    /// Each line's text without its line break, by 0-based line number.
    private let lines: [Range<String.Index>]

    public init(path: String, text: String) {
        self.path = path
        self.text = text
        var lines: [Range<String.Index>] = []
        let scalars = text.unicodeScalars
        var start = scalars.startIndex
        var index = scalars.startIndex
        while index < scalars.endIndex {
            let scalar = scalars[index]
            guard Self.isLineBreak(scalar) else {
                index = scalars.index(after: index)
                continue
            }
            lines.append(start..<index)
            index = scalars.index(after: index)
            if scalar == "\r", index < scalars.endIndex, scalars[index] == "\n" { index = scalars.index(after: index) }
            start = index
        }
        lines.append(start..<scalars.endIndex)
        self.lines = lines
    }

    /// The line breaks libyaml counts, and so the ones its line numbers (and Yams' marks) are based on: LF, CR
    /// (CR LF is one break), NEL (U+0085), LINE SEPARATOR (U+2028) and PARAGRAPH SEPARATOR (U+2029). Splitting
    /// on fewer would quote the wrong line, or none, for a file saved with old Mac or EBCDIC-style breaks.
    public static func isLineBreak(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x0A, 0x0D, 0x85, 0x2028, 0x2029: true
        default: false
        }
    }

    /// The number of lines; a text ending in a line break has an empty last line.
    public var lineCount: Int { lines.count }

    /// The text of a 1-based line, without its line break; nil past the end.
    public func line(_ number: Int) -> Substring? {
        guard number >= 1, number <= lines.count else { return nil }
        return Substring(text.unicodeScalars[lines[number - 1]])
    }
}

/// A position in a source file: 1-based line and column, columns counted in Unicode scalars (as libyaml does).
public struct SourceLocation: Sendable, Hashable, Comparable {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public static func < (a: SourceLocation, b: SourceLocation) -> Bool {
        (a.line, a.column) < (b.line, b.column)
    }
}

/// Walks a text scalar by scalar and knows the line and column reached, counting line breaks as `SourceFile`
/// splits them (CR LF as one break), so a position found this way and a line quoted from the file agree.
public struct LineCounter: Sendable {
    /// The position of the next scalar.
    public private(set) var location = SourceLocation(line: 1, column: 1)
    private var afterCR = false

    public init() {}

    public mutating func advance(over scalar: Unicode.Scalar) {
        defer { afterCR = scalar == "\r" }
        if scalar == "\n", afterCR { return }
        if SourceFile.isLineBreak(scalar) {
            location = SourceLocation(line: location.line + 1, column: 1)
        } else {
            location.column += 1
        }
    }
}

/// A located stretch of source: a file, a start, and a length in scalars for the caret line.
public struct SourceSpan: Sendable {
    public var file: SourceFile
    public var start: SourceLocation
    public var length: Int

    public init(file: SourceFile, start: SourceLocation, length: Int = 1) {
        self.file = file
        self.start = start
        self.length = max(1, length)
    }

    /// The same file and line, moved `offset` scalars right, `length` long: used to point inside a string.
    public func sub(offset: Int, length: Int) -> SourceSpan {
        SourceSpan(file: file, start: SourceLocation(line: start.line, column: start.column + offset), length: length)
    }
}
