import ArgumentParser
import ClawcDiagnostics
import ClawcRuntime
import Foundation

/// The `clawc` command: scope rules in, least-privilege session policies and credentials out.
@main
struct Clawc: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clawc",
        abstract: "Compile scope rules into least-privilege AWS session policies and PostgreSQL roles for AI-agent tasks.",
        discussion: """
            Exit codes: 0 success, 1 diagnostics or refusal, 2 usage error, 3 upstream failure. \
            Diagnostics go to stderr as `path:line:col: error: message [code]`; stdout carries only results.
            """,
        version: "0.1.0",
        subcommands: [CompileCommand.self, CheckCommand.self, DiffCommand.self, IssueCommand.self, ServeCommand.self, RevokeCommand.self, SweepCommand.self, AuditCommand.self, LedgerCommand.self, EmitCommand.self]
    )

    /// Runs the command line; usage errors exit 2, as the CLI contract says (argument-parser's default is 64).
    /// The process's pooled HTTP connections are closed before it exits, on every path.
    static func main() async {
        // `compile`, `check` and `--version` in their usual form: no HTTP was opened, so nothing to close, and no
        // hop to the concurrent executor (whose first use starts its threads).
        if let quick = QuickArguments.command(Array(CommandLine.arguments.dropFirst())) {
            do { try quick() } catch { fail(error) }
            return
        }
        do {
            var command = try parseAsRoot()
            if var asynchronous = command as? AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
            await HTTPTransport.shutdown()
        } catch {
            await HTTPTransport.shutdown()
            fail(error)
        }
    }

    /// Exits with the code the CLI contract gives `error`, after saying why on stderr.
    static func fail(_ error: Error) -> Never {
        if let exit = error as? ExitCode { Foundation.exit(exit.rawValue) }
        let code = exitCode(for: error)
        if code == .success {
            Self.exit(withError: error)
        }
        let message = fullMessage(for: error)
        FileHandle.standardError.write(Data(("clawc: error: " + message + "\n").utf8))
        Foundation.exit(code == .validationFailure ? 2 : code.rawValue)
    }
}

/// Writes to stderr without buffering surprises.
enum Console {
    static func error(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    static func output(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
