import ArgumentParser
import ClawcCatalog
import ClawcCompiler
import ClawcDiagnostics
import Foundation

/// Options every command that reads rules shares.
struct CatalogOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Read the AWS action catalog from this folder instead of the one shipped with clawc.", valueName: "DIR"))
    var catalog: String?

    /// The catalog named by `--catalog`, or the shipped one; a failure is reported and exits 1.
    func load() throws -> Catalog { try Self.load(catalog) }

    static func load(_ folder: String?) throws -> Catalog {
        do {
            if let folder { return try Catalog(directory: URL(fileURLWithPath: folder)) }
            return try Catalog.bundled()
        } catch {
            Console.error("clawc: error: \(error) [catalog-error]\n")
            throw ExitCode(1)
        }
    }
}

struct CompileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compile",
        abstract: "Compile the session policy for one task.",
        discussion: """
            Prints the policy JSON (minified, one trailing newline) on stdout. With --target postgres, prints the SQL \
            plan `clawc issue --to postgres` runs for the task, with placeholders where the password verifier and the \
            expiry go. On any problem prints located diagnostics on stderr, nothing on stdout, and exits 1.
            """
    )

    @Option(name: .long, help: ArgumentHelp("The folder of rule files (`*.yaml`, one purpose each).", valueName: "DIR"))
    var rules: String

    @Option(name: .long, help: ArgumentHelp("The task file (YAML or JSON) with `taskId`, `purpose`, `targetResources`, `tags`.", valueName: "FILE"))
    var task: String

    @Option(name: .long, help: ArgumentHelp("The most characters the policy may have.", valueName: "N"))
    var maxChars: Int = Compiler.defaultMaxChars

    @Flag(name: .long, help: "Show on stderr what each compiler pass did.")
    var explain = false

    enum Target: String, ExpressibleByArgument, CaseIterable {
        case aws, postgres
    }

    @Option(name: .long, help: "What to compile for: an AWS session policy, or the SQL plan of a PostgreSQL login role (placeholders where the password verifier and expiry go).")
    var target: Target = .aws

    @OptionGroup var catalogOptions: CatalogOptions

    /// The range `--max-chars` takes; `QuickArguments` leaves any other value to argument-parser's error.
    static let maxCharsRange = 100...100_000

    func validate() throws {
        guard Self.maxCharsRange.contains(maxChars) else {
            throw ValidationError("--max-chars must be between 100 and 100000, not \(maxChars)")
        }
    }

    func run() throws {
        try CompileRun(rules: rules, task: task, maxChars: maxChars, explain: explain, target: target, catalog: catalogOptions.catalog).run()
    }
}

/// What `clawc compile` does once its arguments are read, by argument-parser or by `QuickArguments`.
struct CompileRun: Equatable {
    var rules: String
    var task: String
    var maxChars: Int
    var explain: Bool
    var target: CompileCommand.Target
    var catalog: String?

    func run() throws {
        let catalog = try CatalogOptions.load(catalog)
        if target == .postgres {
            let (plan, _, _, diagnostics) = Compiler.planPostgres(rulesDirectory: rules, taskPath: task, catalog: catalog)
            if explain, let plan {
                Console.error("explain: login role \(plan.roleName), grant set \(plan.grantSetRole), plan sha256 \(plan.sha256)\n")
            }
            Console.error(DiagnosticRenderer.render(diagnostics))
            guard let plan, !diagnostics.hasErrors else { throw ExitCode(1) }
            Console.output(plan.text)
            return
        }
        let outcome = Compiler.compile(rulesDirectory: rules, taskPath: task, catalog: catalog, maxChars: maxChars)
        if explain {
            for line in outcome.explain { Console.error("explain: \(line)\n") }
        }
        Console.error(DiagnosticRenderer.render(outcome.diagnostics))
        guard let json = outcome.json else { throw ExitCode(1) }
        Console.output(json)
    }
}
