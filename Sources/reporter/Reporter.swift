import ArgumentParser
import Foundation
import Logging
import Postgres
import Reporting
import ServiceLifecycle
import ServiceRuntime
import Synchronization
import Telemetry
import TrialDomain

struct Reporter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reporter",
        abstract: "Answers monitors and auditors from the PostgreSQL read models.",
        subcommands: [Status.self, Signals.self, Safety.self, Queries.self, Signatures.self, Randomization.self, DSMB.self, Participant.self,
                      Watch.self, Serve.self, Audit.self, Export.self],
        defaultSubcommand: Status.self)
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json
}

/// A report that prints as a terminal table or as JSON.
protocol Printable {
    var text: String { get }
    var json: JSONValue { get }
}

extension StatusReport: Printable {}
extension UnblindedAccessLog: Printable {}
extension SignalsReport: Printable {}
extension QueriesReport: Printable {}
extension SignaturesReport: Printable {}
extension RandomizationReport: Printable {}
extension ExpeditedReportsReport: Printable {}
extension ParticipantTimeline: Printable {}
extension AuditTrail: Printable {}

func output(_ report: some Printable, as format: OutputFormat) {
    switch format {
    case .table: print(report.text, terminator: "")
    case .json: print(CanonicalJSON.string(report.json))
    }
}

enum ReplayFormat: String, ExpressibleByArgument, CaseIterable {
    case table, csv, json
}

/// Each command connects as the least-privileged database role it needs (monitor, auditor, or unblinded).
struct Connection: ParsableArguments {
    @Option(name: .customLong("database-url"),
            help: "libpq URL; default: the role's variable (MONITOR_/AUDITOR_/UNBLINDED_DATABASE_URL), else DATABASE_URL.")
    var databaseURL: String?

    func open(as role: DatabaseRole) throws -> PostgresConnection {
        let url = try databaseURL ?? DatabaseRole.url(for: role, in: EnvironmentReader(ProcessInfo.processInfo.environment),
                                                      default: "postgresql://postgres@127.0.0.1:5432/trial")
        return try PostgresConnection(url: url, role: role.rawValue)
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
        let report = try StatusReport.load(try connection.open(as: .monitor), site: site)
        output(report, as: format)
    }
}

struct Signals: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Open safety signals, critical first, with age and deadline.")

    @OptionGroup var connection: Connection

    @Option(help: "table or json.")
    var format: OutputFormat = .table

    @Option(help: "Only this site, e.g. S01.")
    var site: String?

    @Flag(help: "Include acknowledged signals.")
    var acknowledged = false

    func run() throws {
        let report = try SignalsReport.load(try connection.open(as: .monitor), site: site, includeAcknowledged: acknowledged)
        output(report, as: format)
    }
}

/// What a monitor's report of some sites takes: the connection, the output format and an optional site.
struct MonitorReportOptions: ParsableArguments {
    @OptionGroup var connection: Connection

    @Option(help: "table or json.")
    var format: OutputFormat = .table

    @Option(help: "Only this site, e.g. S01.")
    var site: String?
}

struct Queries: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Data queries (issue 15): open first, oldest first, with status and age as of now.")

    @OptionGroup var options: MonitorReportOptions

    @Flag(help: "Only queries waiting for someone (open or answered).")
    var open = false

    func run() throws {
        output(try QueriesReport.load(try options.connection.open(as: .monitor), site: options.site, openOnly: open), as: options.format)
    }
}

struct Signatures: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Electronic signatures (issue 15): printed name, time (UTC), meaning, what each signs, and whether it still stands.")

    @OptionGroup var options: MonitorReportOptions

    @Option(help: "Only this participant's signatures, e.g. S01-0007.")
    var participant: String?

    func run() throws {
        output(try SignaturesReport.load(try options.connection.open(as: .monitor), site: options.site, participant: participant),
               as: options.format)
    }
}

struct Randomization: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "System-owned randomization (issue 16): schedules (counts), each participant's kit or why none, unblindings; never an arm.")

    @OptionGroup var options: MonitorReportOptions

    func run() throws {
        output(try RandomizationReport.load(try options.connection.open(as: .monitor), site: options.site), as: options.format)
    }
}

struct Safety: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Expedited (SUSAR) reports to regulators: overdue first, with day 0, due date and days left as of now (issue 14).")

    @OptionGroup var connection: Connection

    @Option(help: "table or json.")
    var format: OutputFormat = .table

    @Option(help: "Only this site, e.g. S01.")
    var site: String?

    @Flag(help: "Only the reports still owed (hide the submitted ones).")
    var owed = false

    @Flag(help: "Also show each participant's arm (a regulator's SUSAR report is unblinded). Breaks the blind for whoever reads the output: needs the trial_unblinded role, and each participant shown is recorded in the access log auditors read.")
    var unblinded = false

    @Option(help: "With --unblinded: why (recorded with the access).")
    var reason: String?

    func run() throws {
        var report = try ExpeditedReportsReport.load(try connection.open(as: .monitor), site: site, owedOnly: owed)
        if unblinded {
            try report.revealArms(try connection.open(as: .unblinded), reason: reason)
        }
        output(report, as: format)
    }
}

enum DSMBFormat: String, ExpressibleByArgument, CaseIterable {
    case table, html, csv, json
}

struct DSMB: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dsmb",
        abstract: "The DSMB's unblinded report per arm (issue 16): enrolment, exposure, adverse events, PHQ-9/MADRS change, response and remission, withdrawals, blinding indices.")

    @OptionGroup var connection: Connection

    @Flag(help: "Required: the report is per arm. Needs the trial_unblinded role; the read is recorded in the access log auditors read.")
    var unblinded = false

    @Option(help: "table, html (self-contained, inline SVG plots), csv or json.")
    var format: DSMBFormat = .table

    @Option(help: "Why (recorded with the access).")
    var reason: String?

    func validate() throws {
        guard unblinded else {
            throw ValidationError("the DSMB report is per arm and breaks the blind: say so with --unblinded (needs the trial_unblinded role)")
        }
    }

    func run() throws {
        let report = try DSMBReport.load(try connection.open(as: .unblinded), reason: reason)
        switch format {
        case .table: print(report.text, terminator: "")
        case .html: print(report.html, terminator: "")
        case .csv: print(report.csv, terminator: "")
        case .json: print(CanonicalJSON.string(report.json))
        }
    }
}

struct Participant: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "One participant's timeline: doses, scores, vitals, adverse events, signals, corrections.")

    @OptionGroup var connection: Connection

    @Argument(help: "The participant, e.g. S01-0007.")
    var participantID: String

    @Option(help: "table or json.")
    var format: OutputFormat = .table

    @Flag(help: "Also show the arm allocation. Breaks the blind for whoever reads the output: needs the trial_unblinded role, and is recorded (who, when, which participant) in the access log auditors read.")
    var unblinded = false

    @Option(help: "With --unblinded: why (recorded with the access).")
    var reason: String?

    func run() throws {
        var timeline = try ParticipantTimeline.load(try connection.open(as: .monitor), participantID: participantID)
        if unblinded {
            try timeline.revealAllocation(try connection.open(as: .unblinded), reason: reason)
        }
        output(timeline, as: format)
    }
}

struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stream new critical signals as the projector opens them (PostgreSQL LISTEN critical_signals); with an admin port, serve the safety gauges.")

    @OptionGroup var connection: Connection

    @Option(help: "Stop after this many signals (default: run until interrupted).")
    var count: Int?

    @Option(help: "Stop after this many seconds without a signal (default: never).")
    var idleTimeout: Double?

    @Option(help: "Serve GET /metrics (the safety gauges, computed at each scrape), /health and /ready on this port (default: REPORTER_ADMIN_PORT; unset: no server).")
    var adminPort: Int?

    @Option(help: "The admin server's address (default: REPORTER_ADMIN_HOST, else 127.0.0.1; 0.0.0.0 for a scraper on another host).")
    var adminHost: String?

    func run() async throws {
        let connection = connection
        let logger = Logger(label: "reporter")
        let listening = ListeningFlag()
        let watch = CriticalSignalWatch(connect: { try connection.open(as: .monitor) }, count: count, idleTimeout: idleTimeout) { event in
            switch event {
            case .listening:
                listening.set()
                print("watching for critical signals (Ctrl-C to stop)")
            case .signal(let signal):
                let when = Timestamp(microsecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1_000_000)).rfc3339.prefix(19)
                print("\(when)Z CRITICAL \(signal.rule) \(signal.participantID ?? "") (\(signal.siteID)): \(signal.details)")
            case .ignoredNotification:
                FileHandle.standardError.write(Data("ignored a critical_signals notification naming no critical signal in monitoring.safety_signals\n".utf8))
            }
            fflushStandardOutput()
        }
        var services: [any Service] = [watch]
        let env = EnvironmentReader(ProcessInfo.processInfo.environment)
        if let port = try adminPort ?? env.optionalInteger("REPORTER_ADMIN_PORT", in: 1...65_535) {
            let host = try adminHost ?? env.string("REPORTER_ADMIN_HOST", default: "127.0.0.1")
            let exporter = SafetyExporter(connect: { try connection.open(as: .monitor) }, logger: logger)
            services.append(buildAdminApplication(
                host: host, port: port, registry: Telemetry.bootstrap(),
                ready: {
                    listening.isSet ? Readiness(isReady: true, checks: [("postgres", "listening")])
                        : Readiness(isReady: false, checks: [("postgres", "connecting")], reason: "not listening yet")
                },
                collect: { await exporter.collect() }, logger: logger))
            logger.info("admin server: GET /metrics, /health, /ready", metadata: ["address": "\(host):\(port)"])
        }
        try await ServiceGroup.runUntilStopSignal(services, logger: logger)
    }
}

/// Set once `reporter watch` LISTENs: what its `/ready` reports.
final class ListeningFlag: Sendable {
    private let value = Mutex(false)

    func set() { value.withLock { $0 = true } }

    var isSet: Bool { value.withLock { $0 } }
}

/// Flushes stdout (fflush(NULL) flushes every stream), so a piped `watch` shows each signal at once.
func fflushStandardOutput() {
    fflush(nil)
}

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "For auditors: verify the archive's hash chain, follow a participant's audit trail, see who read unblinded data.",
        subcommands: [Verify.self, Anchors.self, Trail.self, Access.self, ReplayCommand.self])

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute the hash chain, compare it with the signed anchors and the Kafka log; exit 0 only when all agree.")

        @OptionGroup var connection: Connection

        @Flag(help: "Do not compare the chain with the anchors in PROJECTOR_ANCHOR_TOPIC (when there are none to read).")
        var noAnchors = false

        @Flag(help: "Do not cross-check the archive with the Kafka log (KAFKA_TOPIC) in both directions.")
        var skipLogCheck = false

        @Option(help: "After the run, write audit_chain_verify_ok (1 on exit 0, else 0) and audit_chain_verify_last_run_timestamp_seconds to this file, atomically (for node_exporter's textfile collector: a *.prom file in its directory).")
        var metricsFile: String?

        func run() throws {
            do {
                try verify()
                try writeMetrics(ok: true)
            } catch {
                // Whatever ended the run (a failed verification, an unreachable database): not a pass. The exit status
                // stays what it would be without the file.
                try writeMetrics(ok: false)
                throw error
            }
        }

        private func verify() throws {
            let db = try connection.open(as: .auditor)
            var verification: AuditVerification?
            let problems = try verifyAgainstLog(db, noAnchors: noAnchors, skipLogCheck: skipLogCheck, chain: &verification) { anchors in
                try AuditVerification.run(db, anchors: anchors)
            }
            for problem in problems { print("VERIFICATION FAILED: \(problem)") }
            if verification?.intact != true || !problems.isEmpty { throw ExitCode(1) }
        }

        private func writeMetrics(ok: Bool) throws {
            guard let metricsFile else { return }
            try TextfileMetrics.write(GaugeFamily.exposition([
                GaugeFamily(name: "audit_chain_verify_ok", samples: [.init(value: ok ? 1 : 0)]),
                GaugeFamily(name: "audit_chain_verify_last_run_timestamp_seconds",
                            samples: [.init(value: Date().timeIntervalSince1970.rounded())]),
            ]), to: metricsFile)
        }
    }

    struct Trail: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every event of a participant: who recorded it, when it happened, when it was recorded, its corrections.")

        @OptionGroup var connection: Connection

        @Option(help: "The participant, e.g. S01-0007.")
        var participant: String

        @Option(help: "table or json.")
        var format: OutputFormat = .table

        func run() throws {
            let trail = try AuditTrail.load(try connection.open(as: .auditor), participantID: participant)
            output(trail, as: format)
        }
    }

    struct Access: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every read of unblinded data (reporter participant --unblinded): who, when, which participant, why.")

        @OptionGroup var connection: Connection

        @Option(help: "Only the reads of this participant's data.")
        var participant: String?

        @Option(help: "table or json.")
        var format: OutputFormat = .table

        func run() throws {
            output(try UnblindedAccessLog.load(try connection.open(as: .auditor), participantID: participant), as: format)
        }
    }
}

extension Audit {
    struct ReplayCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "replay",
            abstract: "The read models as they stood at a past moment: --as-of (what was recorded by then) or --occurred-as-of (what had happened by then).")

        @OptionGroup var connection: Connection

        @Option(help: "RFC 3339 time: only events recorded up to then (what the monitors saw).")
        var asOf: String?

        @Option(help: "RFC 3339 time: only events that occurred up to then.")
        var occurredAsOf: String?

        @Option(help: "table, csv or json.")
        var format: ReplayFormat = .table

        func validate() throws {
            guard (asOf == nil) != (occurredAsOf == nil) else { throw ValidationError("give exactly one of --as-of and --occurred-as-of") }
            for value in [asOf, occurredAsOf].compactMap({ $0 }) where Timestamp(rfc3339: value) == nil {
                throw ValidationError("'\(value)' is not an RFC 3339 time with a zone, e.g. 2026-10-01T12:00:00Z")
            }
        }

        func run() throws {
            let cut: Replay.Cut = asOf.map { .recordedBy(Timestamp(rfc3339: $0)!) } ?? .occurredBy(Timestamp(rfc3339: occurredAsOf!)!)
            let replay = try Replay.run(try connection.open(as: .auditor), cut: cut)
            switch format {
            case .table: print(replay.text, terminator: "")
            case .csv: print(replay.csv, terminator: "")
            case .json: print(CanonicalJSON.string(replay.json))
            }
        }
    }
}
