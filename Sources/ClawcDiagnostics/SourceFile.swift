/// A text file held in memory with its display path, so diagnostics can quote the line they point at.
public final class SourceFile: Sendable {
    /// The path as the user named it; diagnostics print it unchanged.
    public let path: String
    /// The whole text.
    public let text: String
    private let lineStarts: [String.Index]

    public init(path: String, text: String) {
        self.path = path
        self.text = text
        var starts = [text.startIndex]
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(after: index)
            if text[index] == "\n" || text[index] == "\r\n" { starts.append(next) }
            index = next
        }
        self.lineStarts = starts
    }

    /// The text of a 1-based line, without its line break; nil past the end.
    public func line(_ number: Int) -> Substring? {
        guard number >= 1, number <= lineStarts.count else { return nil }
        let start = lineStarts[number - 1]
        var end = number < lineStarts.count ? lineStarts[number] : text.endIndex
        while end > start, let last = text[..<end].last, last == "\n" || last == "\r\n" || last == "\r" {
            end = text.index(before: end)
        }
        return text[start..<end]
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
