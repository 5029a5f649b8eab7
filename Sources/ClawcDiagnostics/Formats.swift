import Foundation

/// Other renderings of diagnostics, for CI systems.
public enum DiagnosticFormats {
    /// GitHub Actions workflow commands: `::error file=F,line=L,col=C,title=CODE::message`.
    public static func github(_ bag: DiagnosticBag) -> String {
        func escape(_ text: String, property: Bool) -> String {
            var out = text.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "\r", with: "%0D").replacingOccurrences(of: "\n", with: "%0A")
            if property { out = out.replacingOccurrences(of: ":", with: "%3A").replacingOccurrences(of: ",", with: "%2C") }
            return out
        }
        return bag.sorted.map { d in
            var properties: [String] = []
            if let path = d.path { properties.append("file=\(escape(path, property: true))") }
            if let span = d.span { properties.append("line=\(span.start.line)"); properties.append("col=\(span.start.column)") }
            properties.append("title=\(escape(d.code, property: true))")
            let kind = d.severity == .error ? "error" : d.severity == .warning ? "warning" : "notice"
            var message = d.message
            if let help = d.help { message += "\nhelp: \(help)" }
            for note in d.notes { message += "\nnote: \(note.message)" }
            return "::\(kind) \(properties.joined(separator: ","))::\(escape(message, property: false))\n"
        }.joined()
    }

    /// A SARIF 2.1.0 log with one run of `clawc`.
    public static func sarif(_ bag: DiagnosticBag, toolVersion: String) -> String {
        let diagnostics = bag.sorted
        let codes = Array(Set(diagnostics.map(\.code))).sorted()
        let results: [[String: Any]] = diagnostics.map { d in
            var text = d.message
            if let help = d.help { text += " (help: \(help))" }
            for note in d.notes { text += " (note: \(note.message))" }
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
