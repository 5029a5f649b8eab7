import ArgumentParser
import ClawcDiagnostics
import ClawcRuntime
import Foundation

/// The administrative PostgreSQL connection that `issue --to postgres`, `revoke`, `sweep` and `emit
/// postgres-schema` use to make and end task roles.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "The administrative PostgreSQL connection task roles are made and ended with: a libpq URL (password from the URL or PGPASSWORD; sslmode honoured) for a role with CREATEROLE and pg_signal_backend, never a superuser (default: $CLAWC_POSTGRES_URL).",
        valueName: "URL"))
    var database: String?

    /// The URL from --database or CLAWC_POSTGRES_URL, or nil when neither is set.
    func url(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        database ?? environment[PostgresAdmin.environmentVariable].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The administrative connection, or nil when none was given; a URL that cannot be used is an error (exit 1).
    func admin(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> PostgresAdmin? {
        guard let url = url(environment: environment) else { return nil }
        do {
            return try PostgresAdmin(url: url, environment: environment)
        } catch {
            Console.error(error.rendered)
            throw ExitCode(error.exitCode)
        }
    }

    /// Like `admin`, but an error (exit 1) when none was given: for commands whose job is the database.
    func requireAdmin(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> PostgresAdmin {
        guard let admin = try admin(environment: environment) else {
            Console.error("clawc: error: no administrative database connection [missing-database]\nhelp: pass --database URL, or set CLAWC_POSTGRES_URL\n")
            throw ExitCode(1)
        }
        return admin
    }
}

extension EmitCommand {
    struct PostgresSchemaDocument: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "postgres-schema",
            abstract: "Print a snapshot of a database's tables, columns and sequences for the rules folder.",
            discussion: """
                Writes the JSON that `clawc check` and `clawc compile --target postgres` check PostgreSQL grants \
                against: every table (with its columns, and whether row-level security is on) and sequence outside \
                the system schemas. Keep it in the rules folder as `postgres-schema.json` and commit it; write it \
                again when the schema changes. Exit 0 printed, 1 refused, 3 the database unreachable.
                """)

        @OptionGroup var databaseOptions: DatabaseOptions

        func run() async throws {
            let admin = try databaseOptions.requireAdmin()
            do {
                let schema = try await admin.schema()
                await admin.close()
                Console.output(schema.rendered())
            } catch {
                await admin.close()
                Console.error(error.rendered)
                throw ExitCode(error.exitCode)
            }
        }
    }
}
