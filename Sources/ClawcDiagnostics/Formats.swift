import Foundation

/// Other renderings of diagnostics, for CI systems.
public enum DiagnosticFormats {
    /// GitHub Actions workflow commands: `::error file=F,line=L,col=C,title=CODE::message`.
    ///
    /// The runner reads one command per line, so a raw line break in a value would end the annotation and could
    /// start a forged command (`::error ...` or `::add-mask::`). Each user text is first escaped like the text
    /// format does (`HostileText`: a newline in a value becomes `\n`, an ESC `\u{1B}`), so only the line breaks
    /// clawc itself puts between message, help and notes remain, and those are written as GitHub's `%0A`.
    public static func github(_ bag: DiagnosticBag) -> String {
        func escape(_ text: String, property: Bool) -> String {
            var out = text.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "\r", with: "%0D").replacingOccurrences(of: "\n", with: "%0A")
            if property { out = out.replacingOccurrences(of: ":", with: "%3A").replacingOccurrences(of: ",", with: "%2C") }
            return out
        }
        return bag.sorted.map { d in
            var properties: [String] = []
            if let path = d.path { properties.append("file=\(escape(HostileText.escape(path), property: true))") }
            if let span = d.span { properties.append("line=\(span.start.line)"); properties.append("col=\(span.start.column)") }
            properties.append("title=\(escape(HostileText.escape(d.code), property: true))")
            let kind = d.severity == .error ? "error" : d.severity == .warning ? "warning" : "notice"
            var message = HostileText.escape(d.message)
            if let help = d.help { message += "\nhelp: \(HostileText.escape(help))" }
            for note in d.notes { message += "\nnote: \(HostileText.escape(note.message))" }
            return "::\(kind) \(properties.joined(separator: ","))::\(escape(message, property: false))\n"
        }.joined()
    }

    /// A SARIF 2.1.0 log with one run of `clawc`.
    public static func sarif(_ bag: DiagnosticBag, toolVersion: String) -> String {
        let diagnostics = bag.sorted
        let codes = Array(Set(diagnostics.map(\.code))).sorted()
        let results: [[String: Any]] = diagnostics.map { d in
            // JSON quoting keeps the log well-formed; the escaping keeps a viewer that shows the text from being
            // fed control sequences or line breaks that fake a second result.
            var text = HostileText.escape(d.message)
            if let help = d.help { text += " (help: \(HostileText.escape(help)))" }
            for note in d.notes { text += " (note: \(HostileText.escape(note.message)))" }
            var result: [String: Any] = [
                "ruleId": d.code,
                "level": d.severity == .error ? "error" : d.severity == .warning ? "warning" : "note",
                "message": ["text": text],
            ]
            if let path = d.path {
                var location: [String: Any] = ["artifactLocation": ["uri": path]]
                if let span = d.span {
                    location["region"] = ["startLine": span.start.line, "startColumn": span.start.column, "endColumn": span.start.column + span.length]
                }
                result["locations"] = [["physicalLocation": location]]
            }
            return result
        }
        let log: [String: Any] = [
            "version": "2.1.0",
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "runs": [[
                "tool": ["driver": ["name": "clawc", "version": toolVersion, "rules": codes.map { ["id": $0] }]],
                "results": results,
            ]],
        ]
        let data = (try? JSONSerialization.data(withJSONObject: log, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
