import Foundation
import Kafka
import Logging
import Postgres
import Projection
import ServiceRuntime
import Simulator
import Synchronization
import TrialDomain

/// The running dev stack (`scripts/stack up`): each test gets its own database and its own topic.
public enum TestStack {
    struct Missing: Error, CustomStringConvertible {
        var variable: String
        var description: String { "\(variable) is not set: run ./scripts/test (or scripts/stack up and source .stack/env)" }
    }

    static func env(_ name: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { throw Missing(variable: name) }
        return value
    }

    public static var databaseURL: String { get throws { try env("DATABASE_URL") } }
    public static var bootstrapServers: String { get throws { try env("KAFKA_BOOTSTRAP_SERVERS") } }

    public static let logger: Logger = {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        return logger
    }()

    /// A new, empty database on the stack's server; returns its URL.
    public static func freshDatabase() throws -> String {
        let name = "test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let admin = try PostgresConnection(url: try databaseURL)
        try admin.query("CREATE DATABASE \(identifier: name)")
        return try url(forDatabase: name)
    }

    /// The same database, logged in as `user` (the dev cluster trusts loopback logins).
    public static func url(_ url: String, user: String) -> String {
        var components = URLComponents(string: url)!
        components.user = user
        return components.string!
    }

    static func url(forDatabase name: String) throws -> String {
        let base = try databaseURL
        let path = base.split(separator: "?", maxSplits: 1)[0]
        let slash = path.lastIndex(of: "/")!
        return String(path[..<slash]) + "/" + name
    }

    /// How many records the topic holds (0 when it was never created).
    public static func eventsInLog(topic: String, bootstrap: String? = nil) throws -> Int64 {
        let admin = try KafkaAdmin(bootstrapServers: try bootstrap ?? bootstrapServers)
        guard let partitions = try? admin.partitionCount(topic: topic) else { return 0 }
        return try (0..<Int32(partitions)).reduce(Int64(0)) { $0 + (try admin.watermarks(topic: topic, partition: $1).high) }
    }

    public static func uniqueTopic() -> String { "test." + UUID().uuidString.lowercased() }

    /// Runs one of the package's executables (`.build/debug/<name>`) to its end; returns its exit status and its
    /// standard output and error together.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String]) async throws -> (exit: Int32, output: String) {
        let run = try await runToEnd(TestEnvironment.executable(executable), arguments,
                                     environment: ProcessInfo.processInfo.environment.merging(environment) { $1 })
        return (run.status, run.output)
    }

    public static func projectorConfiguration(databaseURL: String, bootstrap: String, topic: String) -> ProjectorConfiguration {
        var c = ProjectorConfiguration()
        c.databaseURL = databaseURL
        c.bootstrapServers = bootstrap
        c.topic = topic
        c.groupID = "test-" + UUID().uuidString.lowercased()
        c.pollTimeoutMs = 20
        return c
    }

    /// How far the projector got: the sum of its checkpoints' next offsets for `topic`.
    public static func applied(_ db: PostgresConnection, topic: String) throws -> Int64 {
        try db.query("SELECT coalesce(sum(next_offset), 0) FROM projection.checkpoints WHERE topic = \(topic)").decodeFirst(Int64.self)
    }

    /// A new database, migrated, that serves deferred read-model refreshes: for applying events straight through the
    /// BatchWriter (`apply`).
    public static func migratedDatabase() throws -> PostgresConnection {
        let db = try PostgresConnection(url: try freshDatabase())
        try Migrator.migrate(db, logger: logger)
        try Recompute.serveRequests(db, logger: logger)
        return db
    }

    /// Applies events straight through the BatchWriter (one transaction, as the projector does).
    public static func apply(_ events: [RecordedEvent], to db: PostgresConnection, from offset: Int64 = 0) throws {
        let records = events.enumerated().map { i, e in KafkaRecord(partition: 0, offset: offset + Int64(i), key: nil, value: e.canonicalBytes) }
        _ = try BatchWriter(topic: "t").apply(records, to: db)
    }

    /// Projects `events` (in the given order) into a fresh database through a fresh topic; returns the database URL.
    public static func project(_ events: [RecordedEvent], batchSize: Int? = nil) async throws -> String {
        let bootstrap = try bootstrapServers
        let topic = uniqueTopic()
        let url = try freshDatabase()
        try await produce(events, bootstrap: bootstrap, topic: topic)
        var configuration = projectorConfiguration(databaseURL: url, bootstrap: bootstrap, topic: topic)
        if let batchSize { configuration.batchSize = batchSize }
        let projector = BackgroundProjector(configuration)
        try await projector.catchUpAndStop()
        return url
    }

    /// The simulated study (`StudyFixtures.simulatedEvents`) in a new topic, and a projector configuration for a new database.
    public static func prepared(batchSize: Int) async throws -> ([RecordedEvent], ProjectorConfiguration) {
        let events = try StudyFixtures.simulatedEvents()
        let bootstrap = try bootstrapServers
        let topic = uniqueTopic()
        try await produce(events, bootstrap: bootstrap, topic: topic)
        var configuration = projectorConfiguration(databaseURL: try freshDatabase(), bootstrap: bootstrap, topic: topic)
        configuration.batchSize = batchSize
        return (events, configuration)
    }
}

/// Events shared by suites.
public enum StudyFixtures {
    /// A simulated study of 3 sites, 6 participants each, over 6 weeks (seed 1234), validated as ingest would.
    public static func simulatedEvents() throws -> [RecordedEvent] {
        var configuration = StudySimulator.Configuration(start: Timestamp(rfc3339: "2026-01-05T00:00:00Z")!)
        configuration.sites = 3
        configuration.participantsPerSite = 6
        configuration.weeks = 6
        configuration.seed = 1234
        let validator = EventValidator()
        return try StudySimulator(configuration: configuration).submissions().map {
            try validator.validateSubmission($0.json, recordedAt: Timestamp(rfc3339: "2026-03-01T00:00:00Z")!, recordedBy: $0.sender).get()
        }
    }
}

/// Runs a projector on its own thread until stopped, keeping the error that stopped it, if any.
public final class BackgroundProjector: Sendable {
    private let stopToken = StopToken()
    private let finished = DispatchSemaphore(value: 0)
    private let failure = Mutex<String?>(nil)
    let configuration: ProjectorConfiguration

    /// Migrates first with the configuration's owner login, as an operator runs `projector migrate` before `projector run`.
    public init(_ configuration: ProjectorConfiguration) {
        self.configuration = configuration
        do {
            try Migrator.migrate(try PostgresConnection(url: configuration.databaseURL), logger: TestStack.logger)
        } catch {
            failure.withLock { $0 = "migrate: \(error)" }
        }
        let projector = Projector(configuration: configuration, logger: TestStack.logger)
        Thread.detachNewThread { [self] in
            do {
                try projector.run(until: stopToken)
            } catch {
                failure.withLock { $0 = "\(error)" }
            }
            finished.signal()
        }
    }

    public var error: String? { failure.withLock { $0 } }

    /// Waits until every record in the topic is applied; fails the test on timeout or projector error.
    /// Sleeps without blocking Swift's cooperative threads (tests run in parallel on two cores).
    public func waitUntilCaughtUp(timeout: Double = 60) async throws {
        let db = try PostgresConnection(url: configuration.databaseURL)
        let admin = try KafkaAdmin(bootstrapServers: configuration.bootstrapServers)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let error { throw ProjectorFailed(reason: error) }
            if let lag = try? ProjectionLag.measure(topic: configuration.topic, db: db, admin: admin), lag.isCaughtUp,
               lag.partitions.contains(where: { $0.logEnd > 0 }) {
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw ProjectorFailed(reason: "not caught up after \(timeout) s")
    }

    /// Waits until the projector stops by itself (it hit a fatal error) and returns that error.
    public func waitForFailure(timeout: Double = 60) async -> String? {
        await waitFinished(timeout: timeout)
        return error
    }

    private func waitFinished(timeout: Double) async {
        let deadline = Date().addingTimeInterval(timeout)
        while finished.wait(timeout: .now()) == .timedOut, Date() < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Waits until caught up, then stops the projector whatever happened.
    public func catchUpAndStop(timeout: Double = 60) async throws {
        do {
            try await waitUntilCaughtUp(timeout: timeout)
        } catch {
            await stop()
            throw error
        }
        await stop()
    }

    public func stop() async {
        stopToken.requestStop()
        await waitFinished(timeout: 60)
    }

    struct ProjectorFailed: Error, CustomStringConvertible {
        var reason: String
        var description: String { "projector: \(reason)" }
    }
}

/// A real `projector` process (`projector run`), its standard error in a log file named `log`.
public final class ProjectorProcess {
    public static let binary = TestEnvironment.executable("projector")
    public let process = Process()
    public let log: URL
    /// Starts the projector (or, with `executable`, another of the package's executables) with `arguments`, its
    /// standard error to the log.
    public init(_ environment: [String: String], log name: String, executable: URL = ProjectorProcess.binary,
                arguments: [String] = []) throws {
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment
        log = FileManager.default.temporaryDirectory.appendingPathComponent("\(name).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: log)
        process.standardOutput = FileHandle.nullDevice
        try process.run()
    }

    public func stop(_ signal: Int32) async throws -> Int32? {
        kill(process.processIdentifier, signal)
        return try await waitForExit(process, log: log).exitStatus
    }
}

public let readModelTables = Rebuild.tables

/// Every row of every read-model table, as text, in primary-key order: for comparing two databases exactly.
public func readModelSnapshot(_ url: String) throws -> [String: [String]] {
    let db = try PostgresConnection(url: url)
    var snapshot: [String: [String]] = [:]
    for table in readModelTables {
        let rows = try db.query(PostgresQuery(unsafeSQL: "SELECT t::text FROM \(table) t ORDER BY 1"))
        snapshot[table] = try rows.decode(String?.self).map { $0 ?? "NULL" }
    }
    return snapshot
}

/// Sends stored events straight to a topic (as ingest would), in the given order.
public func produce(_ events: [RecordedEvent], bootstrap: String, topic: String) async throws {
    let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: bootstrap, topic: topic),
                                     logger: TestStack.logger)
    defer { producer.shutdown() }
    let records = events.map { KafkaOutgoingRecord(key: Array($0.partitionKey.utf8), value: $0.canonicalBytes) }
    for chunk in stride(from: 0, to: records.count, by: 1_000) {
        for result in await producer.send(Array(records[chunk..<min(chunk + 1_000, records.count)])) {
            _ = try result.get()
        }
    }
}
