import Foundation
import Kafka
import Logging
import Postgres
import Projection
import ServiceRuntime
import Synchronization
import Testing
import TestSupport
import TrialDomain

/// The running dev stack (`scripts/stack up`): each test gets its own database and its own topic.
enum TestStack {
    struct Missing: Error, CustomStringConvertible {
        var variable: String
        var description: String { "\(variable) is not set: run ./scripts/test (or scripts/stack up and source .stack/env)" }
    }

    static func env(_ name: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { throw Missing(variable: name) }
        return value
    }

    static var databaseURL: String { get throws { try env("DATABASE_URL") } }
    static var bootstrapServers: String { get throws { try env("KAFKA_BOOTSTRAP_SERVERS") } }

    static let logger: Logger = {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        return logger
    }()

    /// A new, empty database on the stack's server; returns its URL.
    static func freshDatabase() throws -> String {
        let name = "test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let admin = try PostgresConnection(url: try databaseURL)
        try admin.query("CREATE DATABASE \(identifier: name)")
        return try url(forDatabase: name)
    }

    /// The same database, logged in as `user` (the dev cluster trusts loopback logins).
    static func url(_ url: String, user: String) -> String {
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
    static func eventsInLog(topic: String, bootstrap: String? = nil) throws -> Int64 {
        let admin = try KafkaAdmin(bootstrapServers: try bootstrap ?? bootstrapServers)
        guard let partitions = try? admin.partitionCount(topic: topic) else { return 0 }
        return try (0..<Int32(partitions)).reduce(Int64(0)) { $0 + (try admin.watermarks(topic: topic, partition: $1).high) }
    }

    static func uniqueTopic() -> String { "test." + UUID().uuidString.lowercased() }

    /// Runs one of the package's executables (`.build/debug/<name>`) to its end; returns its exit status and its
    /// standard output and error together.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String]) async throws -> (exit: Int32, output: String) {
        let process = Process()
        process.executableURL = TestEnvironment.executable(executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("\(executable)-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let end = try await CrashTests.waitForExit(process)
        try handle.close()
        return (end.status, try String(contentsOf: output, encoding: .utf8))
    }

    static func projectorConfiguration(databaseURL: String, bootstrap: String, topic: String) -> ProjectorConfiguration {
        var c = ProjectorConfiguration()
        c.databaseURL = databaseURL
        c.bootstrapServers = bootstrap
        c.topic = topic
        c.groupID = "test-" + UUID().uuidString.lowercased()
        c.pollTimeoutMs = 20
        return c
    }
}

/// Runs a projector on its own thread until stopped, keeping the error that stopped it, if any.
final class BackgroundProjector: Sendable {
    private let stopToken = StopToken()
    private let finished = DispatchSemaphore(value: 0)
    private let failure = Mutex<String?>(nil)
    let configuration: ProjectorConfiguration

    /// Migrates first with the configuration's owner login, as an operator runs `projector migrate` before `projector run`.
    init(_ configuration: ProjectorConfiguration) {
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

    var error: String? { failure.withLock { $0 } }

    /// Waits until every record in the topic is applied; fails the test on timeout or projector error.
    /// Sleeps without blocking Swift's cooperative threads (tests run in parallel on two cores).
    func waitUntilCaughtUp(timeout: Double = 60) async throws {
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
    func waitForFailure(timeout: Double = 60) async -> String? {
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
    func catchUpAndStop(timeout: Double = 60) async throws {
        do {
            try await waitUntilCaughtUp(timeout: timeout)
        } catch {
            await stop()
            throw error
        }
        await stop()
    }

    func stop() async {
        stopToken.requestStop()
        await waitFinished(timeout: 60)
    }

    struct ProjectorFailed: Error, CustomStringConvertible {
        var reason: String
        var description: String { "projector: \(reason)" }
    }
}

/// A real `projector` process (`projector run`), its standard error in a log file named `log`.
final class ProjectorProcess {
    let process = Process()
    let log: URL
    /// Starts the projector (or, with `executable`, another of the package's executables) with `arguments`, its
    /// standard error to the log.
    init(_ environment: [String: String], log name: String, executable: URL = CrashTests.projectorBinary,
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

    func stop(_ signal: Int32) async throws -> Int32? {
        kill(process.processIdentifier, signal)
        return try await CrashTests.waitForExit(process, log: log).exitStatus
    }
}

let readModelTables = Rebuild.tables

/// Every row of every read-model table, as text, in primary-key order: for comparing two databases exactly.
func readModelSnapshot(_ url: String) throws -> [String: [String]] {
    let db = try PostgresConnection(url: url)
    var snapshot: [String: [String]] = [:]
    for table in readModelTables {
        let rows = try db.query(PostgresQuery(unsafeSQL: "SELECT t::text FROM \(table) t ORDER BY 1"))
        snapshot[table] = try rows.decode(String?.self).map { $0 ?? "NULL" }
    }
    return snapshot
}

/// Sends stored events straight to a topic (as ingest would), in the given order.
func produce(_ events: [RecordedEvent], bootstrap: String, topic: String) async throws {
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
