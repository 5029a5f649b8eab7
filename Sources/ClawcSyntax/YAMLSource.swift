import ClawcDiagnostics
import Foundation
import Yams

/// A YAML (or JSON) file read, checked and composed into a node tree that keeps line:column marks.
public struct YAMLSource: @unchecked Sendable {
    public let file: SourceFile
    public let root: Node

    /// The largest input file clawc reads; rules and tasks are small, and a bigger file is a mistake or an attack.
    public static let maxBytes = 1 << 20

    /// Reads `path` (shown as `displayPath`) and composes its single YAML document.
    /// Every failure becomes one located diagnostic; nothing is thrown.
    public static func load(path: String, displayPath: String) -> Result<YAMLSource, Diagnostic> {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
                let what = isDirectory.boolValue ? "is a directory, not a file" : "cannot be read"
                return .failure(.fileError("unreadable-file", "`\(displayPath)` \(what)", path: displayPath))
            }
            return .failure(.fileError("file-not-found", "no such file `\(displayPath)`", path: displayPath))
        }
        defer { try? handle.close() }
        let data: Data
        do {
            data = try handle.read(upToCount: maxBytes + 1) ?? Data()
        } catch {
            return .failure(.fileError("unreadable-file", "`\(displayPath)` cannot be read", path: displayPath))
        }
        return parse(data: data, displayPath: displayPath)
    }

    /// Checks and composes in-memory bytes; `displayPath` names them in diagnostics.
    public static func parse(data: Data, displayPath: String) -> Result<YAMLSource, Diagnostic> {
        if data.count > maxBytes {
            return .failure(.fileError(
                "file-too-large", "`\(displayPath)` is larger than \(maxBytes / 1024) KiB", path: displayPath,
                help: "rule and task files are small; check that this is the file you meant"))
        }
        let text: String
        switch decodeUTF8(data) {
        case .success(let decoded): text = decoded
        case .failure(let invalid):
            let location = invalid.location
            let file = SourceFile(path: displayPath, text: String(decoding: data, as: UTF8.self))
            return .failure(.error(
                "invalid-utf8", "file is not valid UTF-8", at: SourceSpan(file: file, start: location),
                help: "save the file as UTF-8"))
        }
        let file = SourceFile(path: displayPath, text: text)
        if text.allSatisfy({ $0.isWhitespace }) {
            return .failure(.error("empty-file", "file is empty", at: SourceSpan(file: file, start: .init(line: 1, column: 1))))
        }
        let root: Node?
        do {
            // The basic resolver: every plain scalar keeps the `str` tag. clawc reads scalars as text and decides
            // what a bare `null` is itself (`Node.null` looks at the text and style, not the tag), so the default
            // resolver's regular expressions, compiled with ICU on first use (a third of a cold compile), bought
            // nothing. Keys that differ only in how YAML would type them (`1` and `'1'`) are now one key twice.
            // UTF-8 named outright: Yams' default encoding is read from the environment, building the whole
            // environment dictionary on every parse. No constructor tables either: composing builds nodes, and
            // the tables (tag → Swift type) only serve `Node.any`, which clawc does not use.
            root = try Yams.compose(yaml: text, .basic, Constructor([:], [:], [:]), .utf8)
        } catch let error as YamlError {
            return .failure(diagnostic(for: error, in: file))
        } catch {
            return .failure(.error("yaml-syntax", "cannot read YAML", at: SourceSpan(file: file, start: .init(line: 1, column: 1))))
        }
        guard let root, root.null == nil else {
            return .failure(.error("empty-file", "file holds no YAML value", at: SourceSpan(file: file, start: .init(line: 1, column: 1))))
        }
        return .success(YAMLSource(file: file, root: root))
    }

    /// The text of valid UTF-8, or the line and column of the first invalid byte.
    static func decodeUTF8(_ data: Data) -> Result<String, InvalidByte> {
        if let text = String(data: data, encoding: .utf8) { return .success(text) }
        var counter = LineCounter()
        var iterator = data.makeIterator()
        var decoder = Unicode.UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                counter.advance(over: scalar)
            case .emptyInput:
                return .success(String(decoding: data, as: UTF8.self))
            case .error:
                return .failure(InvalidByte(location: counter.location))
            }
        }
    }

    /// Turns a Yams error into our diagnostic, in our words, without the document Yams embeds.
    static func diagnostic(for error: YamlError, in file: SourceFile) -> Diagnostic {
        func span(_ mark: Mark) -> SourceSpan {
            SourceSpan(file: file, start: SourceLocation(line: max(1, mark.line), column: max(1, mark.column)))
        }
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
            let .composer(context, problem, mark, _):
            var message = "syntax error: \(problem)"
            if let context { message += " (\(context.text) at \(context.mark.line):\(context.mark.column))" }
            // At the end of the input libyaml points past the last line; the construct it was reading is the better place.
            let blank = file.line(mark.line).map { $0.allSatisfy(\.isWhitespace) } ?? true
            let mark = blank ? (context?.mark ?? mark) : mark
            let help = problem.contains("cannot start any token") && file.line(mark.line)?.contains("\t") == true
                ? "YAML does not allow tabs for indentation; indent with spaces" : nil
            return .error("yaml-syntax", message, at: span(mark), help: help)
        case let .reader(problem, offset, _, _):
            let location = offset.map { Self.location(ofByteOffset: $0, in: file.text) } ?? SourceLocation(line: 1, column: 1)
            return .error("yaml-syntax", "syntax error: \(problem)", at: SourceSpan(file: file, start: location))
        case let .duplicatedKeysInMapping(duplicates, context):
            let key = duplicates.first ?? "?"
            var first = span(context.mark)
            first.length = max(1, key.unicodeScalars.count)
            let second = DuplicateKeyLocator.secondOccurrence(of: key, after: context.mark, in: file)
            return .error(
                "duplicate-key", "key `\(key)` appears twice in the same mapping", at: second ?? first,
                help: "keep one `\(key)`: YAML would silently use only one of them",
                notes: second == nil ? [] : [.init("first `\(key)` is here", at: first)])
        default:
            return .error("yaml-syntax", "invalid YAML", at: SourceSpan(file: file, start: .init(line: 1, column: 1)))
        }
    }

    static func location(ofByteOffset offset: Int, in text: String) -> SourceLocation {
        var counter = LineCounter()
        var bytes = 0
        for scalar in text.unicodeScalars {
            if bytes >= offset { break }
            bytes += UTF8.width(scalar)
            counter.advance(over: scalar)
        }
        return counter.location
    }
}

/// Finds where a duplicated key occurs the second time. Yams reports only the first occurrence.
///
/// Linear in the text searched: a task can put a duplicate at the end of a long one-line flow mapping, and
/// copying the rest of the line at every comma (as this once did) took over two minutes for 200 KB.
enum DuplicateKeyLocator {
    static func secondOccurrence(of key: String, after mark: Mark, in file: SourceFile) -> SourceSpan? {
        guard let firstLine = file.line(mark.line) else { return nil }
        let keyColumn = mark.column
        let spellings = [key, "\"\(key)\"", "'\(key)'"].map { Array($0.unicodeScalars) }
        /// The length of the key's spelling when `scalars[at...]` starts with the key followed by `:`.
        func keyLength(at start: Int, in scalars: [Unicode.Scalar]) -> Int? {
            for spelling in spellings where start + spelling.count <= scalars.count {
                guard scalars[start..<(start + spelling.count)].elementsEqual(spelling) else { continue }
                var index = start + spelling.count
                while index < scalars.count, scalars[index] == " " { index += 1 }
                if index < scalars.count, scalars[index] == ":" { return spelling.count }
            }
            return nil
        }
        // Flow mapping on the same line: `{a: 1, a: 2}`.
        let firstScalars = Array(firstLine.unicodeScalars)
        if keyColumn - 1 < firstScalars.count {
            var index = keyColumn  // scalar index just past the first key's first character
            while index < firstScalars.count {
                let c = firstScalars[index]
                if c == "," || c == "{" {
                    var j = index + 1
                    while j < firstScalars.count, firstScalars[j] == " " { j += 1 }
                    if let length = keyLength(at: j, in: firstScalars) {
                        return SourceSpan(file: file, start: SourceLocation(line: mark.line, column: j + 1), length: length)
                    }
                    index = max(index + 1, j)
                    continue
                }
                index += 1
            }
        }
        // Block mapping: later lines whose key starts in the same column.
        var lineNumber = mark.line + 1
        while let line = file.line(lineNumber) {
            let scalars = Array(line.unicodeScalars)
            let indent = scalars.prefix { $0 == " " }.count
            if indent == scalars.count || scalars[indent] == "#" { lineNumber += 1; continue }
            if indent + 1 < keyColumn { return nil }
            if indent + 1 == keyColumn {
                if scalars[indent] == "-" { return nil }
                if let length = keyLength(at: indent, in: scalars) {
                    return SourceSpan(file: file, start: SourceLocation(line: lineNumber, column: keyColumn), length: length)
                }
            }
            lineNumber += 1
        }
        return nil
    }
}

/// Where a file stops being valid UTF-8.
struct InvalidByte: Error {
    var location: SourceLocation
}
