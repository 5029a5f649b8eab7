/// Renders diagnostics as `path:line:col: error: message [code]`, the source line, a caret line, and `help:`.
///
/// Messages, help and notes echo user values, so every text is escaped here (`HostileText`) before it is
/// printed: one diagnostic can never print a line that reads as another, nor send control sequences to the
/// terminal. The quoted source line shows each hostile scalar as one `?` so the caret still lines up.
public enum DiagnosticRenderer {
    /// The text for a list of diagnostics, sorted by location and capped at the bag's limit.
    public static func render(_ bag: DiagnosticBag) -> String {
        let sorted = bag.sorted
        var out = ""
        for diagnostic in sorted.prefix(bag.limit) { out += render(diagnostic) }
        if sorted.count > bag.limit {
            out += "clawc: note: \(sorted.count - bag.limit) more diagnostics not shown\n"
        }
        let errors = bag.errorCount
        if errors > 0 { out += "clawc: \(errors) error\(errors == 1 ? "" : "s")\n" }
        return out
    }

    /// The text for one diagnostic, ending with a newline.
    public static func render(_ d: Diagnostic) -> String {
        var out = header(d.severity.rawValue, d.message, span: d.span, path: d.path) + " [\(d.code)]\n"
        if let span = d.span { out += excerpt(span) }
        if let help = d.help { out += "help: \(HostileText.escape(help))\n" }
        for note in d.notes {
            guard note.span != nil else {
                out += "note: \(HostileText.escape(note.message))\n"
                continue
            }
            out += header("note", note.message, span: note.span, path: note.span?.file.path) + "\n"
            if let span = note.span { out += excerpt(span) }
        }
        return out
    }

    private static func header(_ kind: String, _ message: String, span: SourceSpan?, path: String?) -> String {
        let message = HostileText.escape(message)
        if let span {
            return "\(HostileText.escape(span.file.path)):\(span.start.line):\(span.start.column): \(kind): \(message)"
        }
        if let path { return "\(HostileText.escape(path)): \(kind): \(message)" }
        return "clawc: \(kind): \(message)"
    }

    /// The source line (tabs shown as spaces so the caret lines up) and a caret under the span.
    private static func excerpt(_ span: SourceSpan) -> String {
        guard let line = span.file.line(span.start.line) else { return "" }
        let scalars = Array(line.unicodeScalars)
        var shown = ""
        for scalar in scalars {
            if scalar == "\t" { shown += " " }
            else if HostileText.isHostile(scalar) { shown += "?" }
            else { shown.unicodeScalars.append(scalar) }
        }
        if shown.unicodeScalars.count > 200 { shown = String(String.UnicodeScalarView(shown.unicodeScalars.prefix(200))) + "…" }
        let column = max(1, min(span.start.column, scalars.count + 1))
        let room = max(1, scalars.count + 1 - column)
        let width = max(1, min(span.length, room))
        let pad = String(repeating: " ", count: min(column - 1, 200))
        return "    \(shown)\n    \(pad)^\(String(repeating: "~", count: min(width - 1, 200)))\n"
    }
}
