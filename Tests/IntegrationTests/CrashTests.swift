import Foundation
import Kafka
import Postgres
import Projection
import Reporting
import Simulator
import Testing
import TestSupport
import TrialDomain

/// Faults: the projector killed with SIGKILL mid-run, and the broker gone for a while.
@Suite("faults", .serialized, .stack, .timeLimit(.minutes(8)))
struct CrashTests {
    @Test func sigkillAtRandomPointsLosesAndDoublesNothing() async throws {
        let events = try StudyFixtures.simulatedEvents()
        let bootstrap = try TestStack.bootstrapServers
        let topic = TestStack.uniqueTopic()
        let url = try TestStack.freshDatabase()
        // Retries of a tenth of the events, as sites resend after timeouts: the log holds repeats.
        var rng = SeededGenerator(seed: 99)
        let repeats = events.filter { _ in Double.random(in: 0..<1, using: &rng) < 0.1 }
        try await produce(events + repeats, bootstrap: bootstrap, topic: topic)
        let total = Int64(events.count + repeats.count)
        let db = try PostgresConnection(url: url)
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = url
        environment["KAFKA_TOPIC"] = topic
        environment["PROJECTOR_GROUP_ID"] = "crash-" + UUID().uuidString
        environment["PROJECTOR_BATCH_SIZE"] = "23"
        environment["LOG_LEVEL"] = "info"
        var starts = 0
        func start() throws -> ProjectorProcess {
            starts += 1
            return try ProjectorProcess(environment, log: "crash-projector-\(starts)")
        }
        var kills = 0
        var thresholds = (1...4).map { Int64($0) * total / 6 + Int64.random(in: 0...40, using: &rng) }
        try Migrator.migrate(db, logger: TestStack.logger)  // `projector run` never migrates
        var projector = try start()
        let deadline = Date().addingTimeInterval(150)
        while Date() < deadline {
            let progress = (try? TestStack.applied(db, topic: topic)) ?? 0
            if let next = thresholds.first, progress >= next {
                // Kill it mid-run, wherever it is: inside a transaction, between batches, in a rebalance.
                try await Task.sleep(for: .milliseconds(Int.random(in: 0...50, using: &rng)))
                #expect(try await projector.stop(SIGKILL) == nil)
                kills += 1
                thresholds.removeFirst()
                projector = try start()
            }
            // Caught up: every offset applied and no read-model refresh deferred by a catch-up left over.
            // (Every kill done first: on a loaded machine the projector can finish between two looks at its progress.)
            if thresholds.isEmpty, progress == total, try db.query("SELECT count(*) FROM projection.pending_refresh").rows == [["0"]] { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(try await projector.stop(SIGTERM) == 0, "SIGTERM stops the projector cleanly, even right after start")
        #expect(kills == 4)
        #expect(try TestStack.applied(db, topic: topic) == total, "every offset applied")
        // No duplicates, no gaps: every event once, the chain unbroken, the log and the archive agree.
        #expect(try db.query("SELECT count(*), count(DISTINCT event_id) FROM audit.events").rows == [["\(events.count)", "\(events.count)"]])
        let verification = try AuditVerification.run(db)
        #expect(verification.intact, "\(verification.text)")
        let check = try LogCrossCheck.run(db, bootstrapServers: bootstrap, topic: topic, logger: TestStack.logger)
        #expect(check.problems.isEmpty && check.matched == events.count && check.repeats == repeats.count, "\(check.text)")
        // Every read model equals a clean rebuild from the archive, and a clean projection of the same events.
        let rebuild = try Rebuild.run(db, dryRun: true, logger: TestStack.logger)
        #expect(rebuild.identical, "\(rebuild.text)")
        #expect(try readModelSnapshot(url) == readModelSnapshot(try await TestStack.project(events)))
    }

    @Test func theProjectorWaitsOutABrokerOutageAndMissesNothing() async throws {
        let cluster = try MockKafkaCluster()
        let topic = TestStack.uniqueTopic()
        try cluster.createTopic(topic, partitions: 4)
        let events = try StudyFixtures.simulatedEvents()
        let half = events.count / 2
        try await produce(Array(events[..<half]), bootstrap: cluster.bootstrapServers, topic: topic)
        let url = try TestStack.freshDatabase()
        let projector = BackgroundProjector(TestStack.projectorConfiguration(databaseURL: url, bootstrap: cluster.bootstrapServers, topic: topic))
        try await projector.waitUntilCaughtUp()
        cluster.setBroker(1, up: false)
        try await Task.sleep(for: .seconds(3))
        cluster.setBroker(1, up: true)
        try await produce(Array(events[half...]), bootstrap: cluster.bootstrapServers, topic: topic)
        try await projector.catchUpAndStop(timeout: 60)
        let db = try PostgresConnection(url: url)
        #expect(try db.query("SELECT count(*) FROM audit.events").rows == [["\(events.count)"]])
        #expect(try Rebuild.run(db, dryRun: true, logger: TestStack.logger).identical)
    }
}

@Suite("faults: shared partitions and lost connections", .serialized, .stack, .timeLimit(.minutes(8)))
struct SharedAndDisconnectedTests {
    @Test func twoProjectorsShareThePartitionsAndApplyEachOnce() async throws {
        let (events, configuration) = try await TestStack.prepared(batchSize: 31)
        let url = configuration.databaseURL
        let first = BackgroundProjector(configuration)
        let second = BackgroundProjector(configuration)
        try await first.waitUntilCaughtUp(timeout: 90)
        await first.stop()
        try await second.catchUpAndStop(timeout: 60)
        let db = try PostgresConnection(url: url)
        #expect(try db.query("SELECT count(*), count(DISTINCT event_id) FROM audit.events").rows == [["\(events.count)", "\(events.count)"]])
        #expect(try AuditVerification.run(db).intact)
        #expect(try Rebuild.run(db, dryRun: true, logger: TestStack.logger).identical)
    }

    @Test func theProjectorSurvivesLostDatabaseConnectionsMidRun() async throws {
        let (events, configuration) = try await TestStack.prepared(batchSize: 13)
        let url = configuration.databaseURL
        let projector = BackgroundProjector(configuration)
        let admin = try PostgresConnection(url: url)
        let name = String(url.split(separator: "/").last!)
        var terminations = 0
        let deadline = Date().addingTimeInterval(90)
        // Cut the projector's connection (as a PostgreSQL restart would) several times while it works.
        while terminations < 3, Date() < deadline {
            // Until the projector has migrated the new database there is no archive to count.
            let applied = (try? admin.query("SELECT count(*) FROM audit.events").decodeFirst(Int.self)) ?? 0
            if applied > (terminations + 1) * events.count / 5 {
                let killed = try admin.query("""
                    SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                    WHERE datname = \(name) AND pid <> pg_backend_pid()
                    """)
                if try killed.decodeFirst(Int.self) != 0 { terminations += 1 }
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(terminations == 3)
        try await projector.catchUpAndStop(timeout: 90)
        #expect(try admin.query("SELECT count(*), count(DISTINCT event_id) FROM audit.events").rows == [["\(events.count)", "\(events.count)"]])
        #expect(try AuditVerification.run(admin).intact)
        #expect(try Rebuild.run(admin, dryRun: true, logger: TestStack.logger).identical)
    }
}
