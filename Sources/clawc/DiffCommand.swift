import ArgumentParser
import ClawcCompiler
import ClawcPolicy
import Foundation

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Show the access NEW adds to and removes from OLD, as (action, resource, condition) rows.",
        discussion: "Rows start with `+` (added) or `-` (removed). Exit 0 when both grant the same access, 1 when they differ."
    )

    @Argument(help: "The old policy JSON.") var old: String
    @Argument(help: "The new policy JSON.") var new: String
    @OptionGroup var catalogOptions: CatalogOptions

    func run() throws {
        let catalog = try catalogOptions.load()
        let oldPolicy = try read(old), newPolicy = try read(new)
        let result = AccessDiff.diff(old: oldPolicy, new: newPolicy) { Compiler.expand($0, catalog: catalog) }
        Console.output(result.added.map { "+ \($0)\n" }.joined() + result.removed.map { "- \($0)\n" }.joined())
        if !result.isEmpty { throw ExitCode(1) }
    }

    func read(_ path: String) throws -> Policy {
        guard let data = FileManager.default.contents(atPath: path) else {
            Console.error("\(path): error: cannot read the file [file-not-found]\n")
            throw ExitCode(1)
        }
        do {
            return try PolicyParser.parse(data)
        } catch {
            Console.error("\(path): error: \(error.description) [invalid-policy]\n")
            throw ExitCode(1)
        }
    }
}
