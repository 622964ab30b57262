import ArgumentParser
import Foundation
import Postgres
import Reporting
import TrialDomain

@main
struct Reporter: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reporter",
        abstract: "Answers monitors and auditors from the PostgreSQL read models.",
        subcommands: [Status.self],
        defaultSubcommand: Status.self)
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json
}

struct Connection: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "libpq URL; default: DATABASE_URL.")
    var databaseURL: String?

    func open() throws -> PostgresConnection {
        let url = try databaseURL ?? EnvironmentReader(ProcessInfo.processInfo.environment)
            .string("DATABASE_URL", default: "postgresql://postgres@127.0.0.1:5432/trial")
        return try PostgresConnection(url: url)
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The monitors' overview: sites, then one row per participant.")

    @OptionGroup var connection: Connection

    @Option(help: "table or json.")
    var format: OutputFormat = .table

    @Option(help: "Only this site, e.g. S01.")
    var site: String?

    func run() throws {
        let report = try StatusReport.load(try connection.open(), site: site)
        switch format {
        case .table: print(report.text, terminator: "")
        case .json: print(CanonicalJSON.string(report.json))
        }
    }
}
