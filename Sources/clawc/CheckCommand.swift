import ArgumentParser
import ClawcCompiler
import ClawcDiagnostics
import Foundation

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Lint every rule, compile every golden case, compare with the reviewed policies, and prove containment.",
        discussion: """
            For each `<case>.task.yaml` (or `.task.json`) under the golden folder, the compiled policy must equal \
            `<case>.policy.json` byte for byte, and both must grant nothing outside the rule's envelope. A mismatch \
            is shown as the access it adds and removes. `--update` rewrites the reviewed files instead (and says which). \
            Exit 0 when all is good, 1 otherwise.
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, github, sarif
    }

    /// The folders read when none is named; `QuickArguments` uses the same.
    static let defaultRules = "rules", defaultGolden = "golden"

    @Option(name: .long, help: ArgumentHelp("The folder of rule files.", valueName: "DIR"))
    var rules = defaultRules

    @Option(name: .long, help: ArgumentHelp("The folder of golden cases.", valueName: "DIR"))
    var golden = defaultGolden

    @Flag(name: .long, help: "Rewrite the reviewed policies with what the rules compile to now.")
    var update = false

    @Option(name: .long, help: "How to print findings: text, github (Actions annotations), or sarif (SARIF 2.1.0).")
    var format: Format = .text

    @OptionGroup var catalogOptions: CatalogOptions

    func run() throws {
        try CheckRun(rules: rules, golden: golden, update: update, format: format, catalog: catalogOptions.catalog).run()
    }
}

/// What `clawc check` does once its arguments are read, by argument-parser or by `QuickArguments`.
struct CheckRun: Equatable {
    var rules: String
    var golden: String
    var update: Bool
    var format: CheckCommand.Format
    var catalog: String?

    func run() throws {
        let catalog = try CatalogOptions.load(catalog)
        let report = GoldenCheck.run(rulesDirectory: rules, goldenDirectory: golden, update: update, catalog: catalog)
        switch format {
        case .text:
            Console.error(DiagnosticRenderer.render(report.diagnostics))
            for path in report.updated { Console.error("clawc: updated `\(path)`\n") }
            Console.error("clawc: checked \(report.rules) rule(s) and \(report.cases) golden case(s)\n")
        case .github:
            Console.output(DiagnosticFormats.github(report.diagnostics))
        case .sarif:
            Console.output(DiagnosticFormats.sarif(report.diagnostics, toolVersion: Clawc.configuration.version))
        }
        if report.diagnostics.hasErrors { throw ExitCode(1) }
    }
}
