import ArgumentParser
import ClawcCatalog
import ClawcCompiler
import ClawcDiagnostics
import ClawcPolicy
import Foundation

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Show the access NEW adds to and removes from OLD, as (action, resource, condition) rows.",
        discussion: """
            Rows start with `+` (added) or `-` (removed). Exit 0 when both grant the same access, 1 when they differ, \
            2 when an input cannot be judged soundly: a missing or unreadable file, invalid JSON, a duplicate key, \
            a `Version` other than `2012-10-17`, a policy variable (`${...}`), or anything but Allow statements \
            with `Action`, `Resource` and `Condition`. The reason goes to stderr, with its line and column in the \
            file where it has one, and nothing goes to stdout.
            """
    )

    @Argument(help: "The old policy JSON.") var old: String
    @Argument(help: "The new policy JSON.") var new: String
    @OptionGroup var catalogOptions: CatalogOptions

    func run() throws {
        // Both files are read before anything is judged, so one run names every input that cannot be judged.
        var problems = DiagnosticBag()
        let oldPolicy = read(old, into: &problems)
        let newPolicy = read(new, into: &problems)
        guard let oldPolicy, let newPolicy else {
            Console.error(DiagnosticRenderer.render(problems))
            throw ExitCode(2)
        }
        // Without the catalog action wildcards cannot be judged either: that is exit 2, not "differs".
        let catalog: Catalog
        do { catalog = try catalogOptions.load() } catch { throw ExitCode(2) }
        let result = AccessDiff.diff(old: oldPolicy, new: newPolicy) { Compiler.expand($0, catalog: catalog) }
        // Policy strings may hold newlines and escape sequences: a row is one line, escaped, whatever it holds.
        Console.output(result.added.map { "+ \(HostileText.escape($0.description))\n" }.joined()
            + result.removed.map { "- \(HostileText.escape($0.description))\n" }.joined())
        if !result.isEmpty { throw ExitCode(1) }
    }

    /// The policy in `path`, or nil with the reason added to `problems`. At most one byte past the reader's size
    /// limit is read, so a huge file (or a device) costs no more than a small one.
    func read(_ path: String, into problems: inout DiagnosticBag) -> Policy? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            problems.add(.fileError("file-not-found", "no such file", path: path, help: "name two policy JSON files: `clawc diff OLD.json NEW.json`"))
            return nil
        }
        guard !isDirectory.boolValue else {
            problems.add(.fileError("unreadable-file", "this is a folder, not a policy file", path: path, help: "name two policy JSON files: `clawc diff OLD.json NEW.json`"))
            return nil
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            problems.add(.fileError("unreadable-file", "cannot open the file for reading", path: path, help: "check the file's permissions"))
            return nil
        }
        defer { try? handle.close() }
        let data: Data
        do { data = try handle.read(upToCount: StrictJSON.maxBytes + 1) ?? Data() } catch {
            problems.add(.fileError("unreadable-file", "cannot read the file: \(StrictJSON.shown(error.localizedDescription))", path: path))
            return nil
        }
        switch PolicyParser.read(data, path: path) {
        case .success(let policy): return policy
        case .failure(let diagnostic):
            problems.add(diagnostic)
            return nil
        }
    }
}
