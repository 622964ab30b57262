import Foundation
import Postgres
import Projection
import Reporting
import Testing
import TestSupport
import TrialDomain

/// Faults: database errors that are not a lost connection (cancelled statements, deadlocks) while the
/// projector works, over real sockets against the stack's PostgreSQL and broker.
@Suite("faults: database errors", .serialized, .stack, .timeLimit(.minutes(6)))
struct DatabaseErrorTests {
    static func databaseName(_ url: String) -> String { String(url.split(separator: "/").last!) }

    @Test func theProjectorCarriesOnThroughCancelledStatements() async throws {
        let (events, configuration) = try await TestStack.prepared(batchSize: 17)
        let url = configuration.databaseURL
        let topic = configuration.topic
        let admin = try PostgresConnection(url: url)
        let name = Self.databaseName(url)
        var cancels = 0
        var namedBackends = 0
        // A session holds a table every batch writes before the projector starts, so its statements wait (active, on
        // a lock) however fast it is and however slowly this test is scheduled; each waiting statement is cancelled, as
        // a statement timeout or an operator's pg_cancel_backend would, five times over, then the table is released.
        try Migrator.migrate(try PostgresConnection(url: url), logger: TestStack.logger)
        let locker = try PostgresConnection(url: url)
        try locker.query("BEGIN")
        try locker.query("LOCK TABLE monitoring.site_activity IN ACCESS EXCLUSIVE MODE")
        let projector = BackgroundProjector(configuration)
        // A statement is known by its backend and start; one cancelled is not counted again (its retry is a new start).
        var cancelled: Set<String> = []
        for _ in 0..<5 where projector.error == nil {
            var waiting: [(pid: String, statement: String)] = []
            let roundEnd = Date().addingTimeInterval(60)
            while waiting.isEmpty, Date() < roundEnd, projector.error == nil {
                waiting = try admin.query("""
                    SELECT pid::text, pid::text || '@' || query_start::text FROM pg_stat_activity
                    WHERE datname = \(name) AND application_name = 'projector' AND wait_event_type = 'Lock'
                    """).decode((String, String).self).filter { !cancelled.contains($0.1) }.map { ($0.0, $0.1) }
                if waiting.isEmpty { try await Task.sleep(for: .milliseconds(5)) }
            }
            namedBackends += waiting.count
            for (pid, statement) in waiting where try admin.query("SELECT pg_cancel_backend(\(pid)::integer)").decodeFirst(Bool.self) {
                cancels += 1
                cancelled.insert(statement)
            }
        }
        try locker.query("COMMIT")
        #expect(projector.error == nil, "the projector must survive cancelled statements: \(projector.error ?? "")")
        #expect(cancels >= 5, "statements cancelled: \(cancels)")
        #expect(namedBackends > 0, "the projector's connections carry application_name 'projector'")
        try await projector.catchUpAndStop(timeout: 90)
        #expect(try TestStack.applied(admin, topic: topic) == Int64(events.count), "every offset applied once")
        #expect(try admin.query("SELECT count(*), count(DISTINCT event_id) FROM audit.events").rows == [["\(events.count)", "\(events.count)"]])
        #expect(try AuditVerification.run(admin).intact)
        #expect(try Rebuild.run(admin, dryRun: true, logger: TestStack.logger).identical)
        #expect(try readModelSnapshot(url) == readModelSnapshot(try await TestStack.project(events)))
    }

    /// Runs `projector rebuild` as a process; returns its exit status, standard output and standard error.
    static func rebuild(url: String, topic: String) async throws -> (Int32, String, String) {
        let process = Process()
        process.executableURL = ProjectorProcess.binary
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = url
        environment["KAFKA_TOPIC"] = topic
        environment["LOG_LEVEL"] = "warning"
        process.environment = environment
        process.arguments = ["rebuild", "--skip-log-check"]
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rebuild-" + UUID().uuidString)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let out = directory.appendingPathComponent("out"), err = directory.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        try process.run()
        let end = try await waitForExit(process)
        return (end.status, try String(contentsOf: out, encoding: .utf8), try String(contentsOf: err, encoding: .utf8))
    }

    /// Waits until `count` backends of the database other than `except` wait for a lock.
    static func waitForLockWaiters(_ count: Int, _ db: PostgresConnection, name: String, except: [String]) async throws -> Bool {
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            let waiting = try db.query("""
                SELECT count(*) FROM pg_stat_activity
                WHERE datname = \(name) AND wait_event_type = 'Lock' AND NOT (pid::text = ANY(\(array: except)::text[]))
                """)
            if try waiting.decodeFirst(Int.self) >= count { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    @Test func rebuildWhileTheProjectorAppliesBatchesNeitherDeadlocks() async throws {
        let events = try StudyFixtures.simulatedEvents()
        let bootstrap = try TestStack.bootstrapServers
        let topic = TestStack.uniqueTopic()
        let url = try TestStack.freshDatabase()
        let name = Self.databaseName(url)
        let rounds = 3
        let chunk = events.count / (rounds + 1)
        try await produce(Array(events[..<chunk]), bootstrap: bootstrap, topic: topic)
        // Batches smaller than PROJECTOR_BATCH_SIZE: every batch refreshes the read models, so after each commit they
        // equal what the archive implies and every rebuild must find them identical.
        let projector = BackgroundProjector(TestStack.projectorConfiguration(databaseURL: url, bootstrap: bootstrap, topic: topic))
        try await projector.waitUntilCaughtUp(timeout: 90)
        let owner = try PostgresConnection(url: url)
        let holder = try PostgresConnection(url: url)
        let holderPID = try holder.query("SELECT pg_backend_pid()::text").decodeFirst(String.self)
        let ownerPID = try owner.query("SELECT pg_backend_pid()::text").decodeFirst(String.self)
        for round in 1...rounds {
            // Checkpoint rows are stored in update order, not partition order. Make sure the first one stored (x) comes
            // before a lower partition's row (m), as it usually does after a while.
            var inversion: (x: Int32, m: Int32)?
            for _ in 0..<20 where inversion == nil {
                let stored = try owner.query("SELECT partition FROM projection.checkpoints WHERE topic = \(topic) ORDER BY ctid")
                    .decode(Int32.self)
                if let first = stored.first, let lower = stored.dropFirst().first(where: { $0 < first }) {
                    inversion = (first, lower)
                } else if !stored.isEmpty {
                    try owner.query("UPDATE projection.checkpoints SET next_offset = next_offset WHERE topic = \(topic) AND partition = \(stored[0])")
                }
            }
            let (x, m) = try #require(inversion)
            // A third holder (as a second projector mid-rebalance) holds m for a moment: the projector's next batch
            // waits for it with the lower partitions locked, and the rebuild starts meanwhile, so the two lockers
            // meet in the middle of their lock statements, which is where a different lock order deadlocks.
            try holder.query("BEGIN")
            try holder.query("SELECT 1 FROM projection.checkpoints WHERE topic = \(topic) AND partition = \(m) FOR UPDATE")
            let next = Array(events[(round * chunk)..<(round == rounds ? events.count : (round + 1) * chunk)])
            try await produce(next, bootstrap: bootstrap, topic: topic)
            #expect(try await Self.waitForLockWaiters(1, owner, name: name, except: [holderPID, ownerPID]), "round \(round): the projector waits for partition \(m)")
            async let rebuilt = Self.rebuild(url: url, topic: topic)
            #expect(try await Self.waitForLockWaiters(2, owner, name: name, except: [holderPID, ownerPID]), "round \(round): the rebuild waits too (x = \(x))")
            try holder.query("COMMIT")
            let (status, output, errors) = try await rebuilt
            #expect(status == 0, "round \(round): rebuild exit \(status): \(errors)")
            #expect(output.contains("rebuilt tables equal the live ones"), "round \(round): \(output)")
            #expect(projector.error == nil, "round \(round): \(projector.error ?? "")")
            try await projector.waitUntilCaughtUp(timeout: 90)
        }
        try await projector.catchUpAndStop(timeout: 90)
        #expect(try TestStack.applied(owner, topic: topic) == Int64(events.count))
        #expect(try owner.query("SELECT count(*), count(DISTINCT event_id) FROM audit.events").rows == [["\(events.count)", "\(events.count)"]])
        #expect(try AuditVerification.run(owner).intact)
        #expect(try readModelSnapshot(url) == readModelSnapshot(try await TestStack.project(events)))
    }
}
