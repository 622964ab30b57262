import AuditChain
import Foundation
import Kafka
import Postgres
import Projection
import Simulator
import Testing
import TestSupport
import TrialDomain

/// The projector against the dev broker and PostgreSQL: determinism, idempotence, refusal to skip.
@Suite("projector", .serialized, .stack, .timeLimit(.minutes(4)))
struct ProjectorTests {
    static func simulatedEvents(seed: UInt64 = 11) throws -> [RecordedEvent] {
        var configuration = StudySimulator.Configuration(start: Timestamp(rfc3339: "2026-01-05T00:00:00Z")!)
        configuration.sites = 2
        configuration.participantsPerSite = 4
        configuration.weeks = 3
        configuration.seed = seed
        let validator = EventValidator()
        let recordedAt = Timestamp(rfc3339: "2026-03-01T00:00:00Z")!
        return try StudySimulator(configuration: configuration).submissions().map {
            try validator.validateSubmission($0.json, recordedAt: recordedAt, recordedBy: "sim").get()
        }
    }

    /// A backlog's batch COPYs its archive rows, a small batch INSERTs them in the pipeline: the archive, the digests
    /// and the read models come out identical, and the archive verifies.
    @Test func copiedAndInsertedArchiveRowsAreIdentical() throws {
        var events = try Self.simulatedEvents()
        try #require(events.count >= ArchiveRows.copyFrom)
        // Text that COPY must escape (backslashes, in JSON escapes too) or could misread (\N, \.), and non-ASCII.
        for i in stride(from: 0, to: events.count, by: 5) {
            events[i].recordedBy = #"o'brien "\N" \. \\x41 ü 🧪 #"# + String(i)
        }
        let records = events.enumerated().map { i, e in KafkaRecord(partition: 0, offset: Int64(i), key: nil, value: e.canonicalBytes) }
        var archives: [[[String?]]] = []
        var readModels: [[String: [String]]] = []
        for batchSize in [records.count, 9] {
            let db = try TestStack.migratedDatabase()
            for start in stride(from: 0, to: records.count, by: batchSize) {
                _ = try BatchWriter(topic: "t").apply(Array(records[start..<min(start + batchSize, records.count)]), to: db)
            }
            archives.append(try db.query("""
                SELECT e.event_id::text, kafka_topic, kafka_partition::text, kafka_offset::text, type, schema_version::text,
                       study_id, site_id, participant_id, occurred_at::text, recorded_at::text, recorded_by, data::text, envelope,
                       chain_seq::text, encode(chain_hash, 'hex'), encode(d.content_sha256, 'hex')
                FROM audit.events e LEFT JOIN audit.event_digests d USING (event_id) ORDER BY e.chain_seq
                """).rows)
            #expect(try Rebuild.run(db, dryRun: true, logger: TestStack.logger).identical)
            readModels.append(try readModelSnapshot(db.url))
        }
        #expect(archives[0].count == records.count)
        // The archived envelope is the record's bytes (what the hash chain covers), and the chain links them.
        var link = AuditChain.genesis
        for (row, record) in zip(archives[0], records) {
            #expect(row[13] == String(decoding: record.value, as: UTF8.self))
            link = AuditChain.link(previous: link, envelope: record.value)
            #expect(row[15] == AuditChain.hex(link))
        }
        #expect(archives[0].allSatisfy { $0.last! != nil }, "every event has its digest")
        #expect(archives[0] == archives[1])
        #expect(readModels[0] == readModels[1])
    }

    @Test func foldSnapshotsGiveTheSameReadModelsAsFoldingTheArchive() throws {
        var rng = SeededGenerator(seed: 5)
        let events = try Self.simulatedEvents().shuffled(using: &rng)
        let records = events.enumerated().map { i, e in KafkaRecord(partition: 0, offset: Int64(i), key: nil, value: e.canonicalBytes) }
        // Small batches in shuffled order (late entries, corrections before and after their targets): advancing the
        // saved fold states, with no saved states (every participant folded from the archive each time), and with
        // states saved by another version of the fold code (ignored).
        // Also with a session's decoded-state cache, which saves states only every third batch that advances them,
        // while another writer without one applies every third batch (its writes make the cached states stale); and
        // with a cache lost every fourth batch (a restart: states it had not saved are gone, their rows newer than
        // the saved states).
        enum Snapshots: CaseIterable { case kept, dropped, otherCodeVersion, cachedBesideAnotherWriter, cacheLost }
        var tables: [[String: [String]]] = []
        for mode in Snapshots.allCases {
            let db = try TestStack.migratedDatabase()
            let cache = [.cachedBesideAnotherWriter, .cacheLost].contains(mode) ? FoldStateCache(saveEvery: 3) : nil
            for (batch, start) in stride(from: 0, to: records.count, by: 7).enumerated() {
                switch mode {
                case .kept, .cachedBesideAnotherWriter: break
                case .cacheLost: if batch % 4 == 3 { cache?.removeAll() }
                case .dropped: try db.query("DELETE FROM projection.participant_folds")
                case .otherCodeVersion: try db.query("UPDATE projection.participant_folds SET code_version = code_version + 1, state = '{}'")
                }
                _ = try BatchWriter(topic: "t").apply(Array(records[start..<min(start + 7, records.count)]), to: db,
                                                      cache: batch % 3 == 2 && mode == .cachedBesideAnotherWriter ? nil : cache)
            }
            #expect(try db.query("SELECT count(*) > 0 FROM projection.participant_folds").rows == [["t"]])
            #expect(try Rebuild.run(db, dryRun: true, logger: TestStack.logger).identical)
            tables.append(try readModelSnapshot(db.url))
        }
        #expect(tables.allSatisfy { $0 == tables[0] })
        #expect(tables.count == Snapshots.allCases.count)
    }

    @Test func aBacklogIsArchivedFirstAndItsReadModelsRefreshedOnceCaughtUp() async throws {
        let events = try Self.simulatedEvents()
        // Batches of 40 from a pre-filled log are full: the read models are deferred, then refreshed at the end.
        let backlog = try await TestStack.project(events, batchSize: 40)
        let db = try PostgresConnection(url: backlog)
        #expect(try db.query("SELECT count(*) FROM projection.pending_refresh").rows == [["0"]])
        #expect(try Rebuild.run(db, dryRun: true, logger: TestStack.logger).identical)
        #expect(try readModelSnapshot(backlog) == readModelSnapshot(try await TestStack.project(events)))

        // The same, batch by batch: deferred batches leave work owed and the monitoring tables behind; the next
        // batch that is not deferred settles everything.
        let direct = try TestStack.migratedDatabase()
        let records = events.enumerated().map { i, e in KafkaRecord(partition: 0, offset: Int64(i), key: nil, value: e.canonicalBytes) }
        let writer = BatchWriter(topic: "t")
        let cut = records.count - 5
        for start in stride(from: 0, to: cut, by: 100) {
            #expect(try writer.apply(Array(records[start..<min(start + 100, cut)]), to: direct, deferReadModels: true).deferred)
        }
        #expect(try direct.query("SELECT count(*) > 0 FROM projection.pending_refresh").rows == [["t"]])
        #expect(try direct.query("SELECT count(*) FROM monitoring.doses").rows == [["0"]])
        #expect(try writer.apply(Array(records[cut...]), to: direct).deferred == false)
        #expect(try direct.query("SELECT count(*) FROM projection.pending_refresh").rows == [["0"]])
        #expect(try Rebuild.run(direct, dryRun: true, logger: TestStack.logger).identical)
        #expect(try readModelSnapshot(direct.url) == readModelSnapshot(backlog))
    }

    @Test func readModelsAreIdenticalWhateverTheArrivalOrder() async throws {
        let events = try Self.simulatedEvents()
        let chronological = events.sorted { ($0.occurredAt, $0.eventID) < ($1.occurredAt, $1.eventID) }
        var rng = SeededGenerator(seed: 99)
        // Any order, except within the study's randomization partition: schedules and requests are keyed by the study, so
        // Kafka delivers them in the order they were appended, and that order decides the kits (issue 16, `Randomization`).
        // Their places in the shuffled log are kept; they fill them in their own order.
        var shuffled = events.shuffled(using: &rng)
        let isRandomizationRecord = { (e: RecordedEvent) in e.type == .randomizationScheduleLoaded || e.type == .participantRandomizationRequested }
        let places = shuffled.indices.filter { isRandomizationRecord(shuffled[$0]) }
        for (place, event) in zip(places, events.filter(isRandomizationRecord)) { shuffled[place] = event }
        #expect(places.count > 8, "the simulated study randomizes through the system")
        let reference = try readModelSnapshot(try await TestStack.project(chronological))
        #expect(reference["monitoring.participants"]?.count == 12, "8 participants and 4 screening failures")
        #expect(reference["monitoring.doses"]?.isEmpty == false)
        let other = try readModelSnapshot(try await TestStack.project(shuffled))
        #expect(other == reference)
    }

    @Test func retriesAreAppliedOnceAndReusedIDsAreRefused() async throws {
        let events = Array(try Self.simulatedEvents().filter { $0.participantID == "S01-0001" }.prefix(20))
        var retry = events[5]
        retry.recordedAt = retry.recordedAt.adding(seconds: 30)  // the site resent it later
        let doseIndex = try #require(events.firstIndex { $0.type == .doseAdministered })
        var conflicting = events[doseIndex]
        conflicting.data = Fixture.changedDose(conflicting.data)
        let url = try await TestStack.project(events + [retry, conflicting, events[7]])
        let db = try PostgresConnection(url: url)
        #expect(try db.query("SELECT count(*) FROM audit.events").rows == [["20"]])
        let rejected = try db.query("SELECT event_id::text, reason FROM audit.rejected")
        #expect(rejected.count == 1)
        #expect(try rejected.first?.decode(String.self, at: 0) == events[doseIndex].eventID)
        #expect(try rejected.first?.decode(String?.self, at: 1)?.contains("different data") == true)
        let reference = try readModelSnapshot(try await TestStack.project(events))
        // The read models are those of the events alone, plus one data-integrity signal naming the reused event_id.
        var live = try readModelSnapshot(url)
        let reused = live["monitoring.safety_signals"]?.filter { $0.contains("event_id_reused") } ?? []
        #expect(reused.count == 1 && reused.first?.contains(events[doseIndex].eventID) == true, "\(reused)")
        live["monitoring.safety_signals"]?.removeAll { $0.contains("event_id_reused") }
        #expect(live == reference)
    }

    @Test func aRestartedProjectorContinuesWithoutLossOrDuplication() async throws {
        let events = try Self.simulatedEvents(seed: 5)
        let bootstrap = try TestStack.bootstrapServers
        let topic = TestStack.uniqueTopic()
        let url = try TestStack.freshDatabase()
        let half = events.count / 2
        try await produce(Array(events[..<half]), bootstrap: bootstrap, topic: topic)
        var configuration = TestStack.projectorConfiguration(databaseURL: url, bootstrap: bootstrap, topic: topic)
        configuration.batchSize = 7
        let first = BackgroundProjector(configuration)
        try await first.catchUpAndStop()
        try await produce(Array(events[half...]), bootstrap: bootstrap, topic: topic)
        let second = BackgroundProjector(configuration)
        try await second.catchUpAndStop()
        let db = try PostgresConnection(url: url)
        #expect(try db.query("SELECT count(*), count(DISTINCT event_id) FROM audit.events").rows == [["\(events.count)", "\(events.count)"]])
        #expect(try readModelSnapshot(url) == readModelSnapshot(try await TestStack.project(events)))
    }

    @Test func anUndecodableRecordStopsTheProjectorNamingItsOffset() async throws {
        let bootstrap = try TestStack.bootstrapServers
        let topic = TestStack.uniqueTopic()
        let url = try TestStack.freshDatabase()
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: bootstrap, topic: topic),
                                         logger: TestStack.logger)
        let delivery = try await producer.send([KafkaOutgoingRecord(key: Array("S01-0001".utf8), value: Array("{not json".utf8))])[0].get()
        producer.shutdown()
        let projector = BackgroundProjector(TestStack.projectorConfiguration(databaseURL: url, bootstrap: bootstrap, topic: topic))
        let error = try #require(await projector.waitForFailure())
        #expect(error.contains("partition \(delivery.partition) offset \(delivery.offset) cannot be decoded"))
        let db = try PostgresConnection(url: url)
        #expect(try db.query("SELECT count(*) FROM projection.checkpoints WHERE next_offset > 0").rows == [["0"]])
    }

    @Test func aGapInTheLogIsRefused() throws {
        let url = try TestStack.freshDatabase()
        let db = try PostgresConnection(url: url)
        try Migrator.migrate(db, logger: TestStack.logger)
        let events = try Self.simulatedEvents().prefix(3)
        let records = events.enumerated().map { i, e in
            KafkaRecord(partition: 0, offset: Int64(i == 2 ? 5 : i), key: nil, value: e.canonicalBytes)
        }
        #expect {
            try BatchWriter(topic: "t").apply(records, to: db)
        } throws: { error in
            "\(error)".contains("next offset to apply is 2 but the log continued at 5")
        }
        #expect(try db.query("SELECT count(*) FROM audit.events").rows == [["0"]], "the whole batch rolled back")
    }

    @Test func theArchiveRefusesUpdatesAndDeletes() throws {
        let url = try TestStack.freshDatabase()
        let db = try PostgresConnection(url: url)
        try Migrator.migrate(db, logger: TestStack.logger)
        let event = try Self.simulatedEvents()[0]
        _ = try BatchWriter(topic: "t").apply([KafkaRecord(partition: 0, offset: 0, key: nil, value: event.canonicalBytes)], to: db)
        for statement in ["UPDATE audit.events SET recorded_by = 'mallory'", "DELETE FROM audit.events", "TRUNCATE audit.events"] {
            #expect {
                try db.execute(unsafeSQL: statement)
            } throws: { error in
                "\(error)".contains("append-only")
            }
        }
        #expect(try db.query("SELECT recorded_by FROM audit.events").rows == [["sim"]])
    }

    @Test func migrationsApplyOnce() throws {
        let db = try PostgresConnection(url: try TestStack.freshDatabase())
        #expect(try Migrator.migrate(db, logger: TestStack.logger) == Migrator.bundled().map(\.name))
        #expect(try Migrator.bundled().map(\.name).prefix(2) == ["0001_initial.sql", "0002_catalogue.sql"])
        #expect(try Migrator.migrate(db, logger: TestStack.logger).isEmpty)
    }
}

enum Fixture {
    /// A blinded dose's data with another level (what a resend with other content would carry).
    static func changedDose(_ data: JSONValue) -> JSONValue {
        guard case .object(var o) = data else { return data }
        o["blinded_label"] = "study drug, level 14"
        return .object(o)
    }
}
