import ArgumentParser
import Foundation
import Kafka
import Logging
import Postgres
import Projection
import ServiceLifecycle
import ServiceRuntime
import Telemetry

struct ProjectorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "projector",
        abstract: "Applies the Kafka log to the PostgreSQL archive and read models.",
        subcommands: [Run.self, Migrate.self, Lag.self, RebuildCommand.self, Provision.self],
        defaultSubcommand: Run.self)
}

private func loadConfiguration(anchoring: Bool = false) throws -> (ProjectorConfiguration, Logger) {
    let configuration = try ProjectorConfiguration.fromEnvironment(ProcessInfo.processInfo.environment, anchoring: anchoring)
    configuration.logLevel.bootstrapLogging(format: configuration.logFormat)
    return (configuration, Logger(label: "projector"))
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Consume and apply until SIGTERM or SIGINT, as trial_projector; the schema must be current (`projector migrate`).")

    func run() async throws {
        let (configuration, logger) = try loadConfiguration(anchoring: true)
        let projector = Projector(configuration: configuration, logger: logger)
        var services: [any Service] = [projector]
        if let port = configuration.adminPort {
            // With an admin server a halted projector stays up, answering /ready with 503 and the reason.
            services = [projector.haltingService,
                        buildAdminApplication(host: configuration.adminHost, port: port, registry: Telemetry.bootstrap(),
                                              ready: { [health = projector.health] in
                                                  let r = health.readiness
                                                  return Readiness(isReady: r.isReady, checks: r.checks, reason: r.reason)
                                              }, logger: logger)]
            logger.info("admin server: GET /metrics, /health, /ready", metadata: ["address": "\(configuration.adminHost):\(port)"])
        }
        do {
            try await ServiceGroup.runUntilStopSignal(services, logger: logger)
        } catch {
            logger.critical("projector stopped: \(error)")
            throw ExitCode(2)
        }
        logger.info("projector stopped on signal")
    }
}

struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply pending schema migrations and exit. Needs the schema owner's login in DATABASE_URL; the only command that does.")

    func run() throws {
        let (configuration, logger) = try loadConfiguration()
        let applied = try Migrator.migrate(try PostgresConnection(url: configuration.databaseURL), logger: logger)
        print(applied.isEmpty ? "schema is up to date" : "applied: \(applied.joined(separator: ", "))")
    }
}

struct Lag: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show how far the read models trail the log.")

    @Flag(help: "Wait until the lag is zero (exit 1 on timeout).")
    var wait = false

    @Option(help: "Seconds to wait with --wait.")
    var timeout: Double = 120

    func run() async throws {
        let (configuration, _) = try loadConfiguration()
        let db = try configuration.projectorConnection(applicationName: "projector lag")
        let admin = try KafkaAdmin(configuration.kafkaClient)
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let lag = try ProjectionLag.measure(topic: configuration.topic, db: db, admin: admin)
            if !wait || lag.isCaughtUp {
                let logEnd = lag.partitions.reduce(0) { $0 + $1.logEnd }
                print("lag: \(lag.total) record(s) behind; \(logEnd - lag.total) of \(logEnd) applied across \(lag.partitions.count) partitions"
                    + (lag.pendingRefresh > 0 ? "; \(lag.pendingRefresh) read-model refresh(es) pending" : ""))
                return
            }
            guard Date() < deadline else {
                print("lag: still \(lag.total) record(s) behind and \(lag.pendingRefresh) refresh(es) pending after \(timeout) s")
                throw ExitCode(1)
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}

struct RebuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract: "Rebuild every read model from the archive, swap it in atomically, print a checksum per table.")

    @Flag(help: "Compare only: rebuild, print the checksums, roll back.")
    var dryRun = false

    @Flag(help: "Skip the cross-check of the archive against the Kafka log.")
    var skipLogCheck = false

    func run() throws {
        MallocArenas.limit()
        let (configuration, logger) = try loadConfiguration()
        let db = try configuration.projectorConnection(applicationName: "projector rebuild")
        try Migrator.requireCurrent(db)
        if !skipLogCheck {
            let check = try LogCrossCheck.run(db, bootstrapServers: configuration.bootstrapServers, topic: configuration.topic,
                                              properties: configuration.kafkaProperties, logger: logger)
            print(check.text, terminator: "")
            if !check.problems.isEmpty { throw ExitCode(1) }
        }
        let started = ContinuousClock.now
        // One transaction: a deadlock or cancelled statement rolls all of it back, so it can simply run again.
        let report = try TransientRetry().run("rebuild", logger: logger) { try Rebuild.run(db, dryRun: dryRun, logger: logger) }
        print(report.text, terminator: "")
        print("rebuild took \(ContinuousClock.now - started)")
    }
}
