import Kafka
import Postgres
import Projection
import Simulator
import Testing
import TestSupport
import TrialDomain

/// Issue 13: blinded doses are judged per dose as their participant's rows are refreshed, no longer by a recompute of the
/// whole study per batch. Whatever order the partitions reach the archive in, after every single event the dose signals in
/// `monitoring.safety_signals` are exactly what `Randomization.assign` gives for the archive so far, and a rebuild finds
/// every read model as the batches left it: a dose recorded before its participant's kit was assigned, a dose from
/// another kit, an acknowledgement archived before or after its signal, a correction and a void of a dose, and a later
/// schedule stating a label an earlier dose used.
@Suite("incremental randomization read models", .serialized, .stack, .timeLimit(.minutes(4)))
struct IncrementalRandomizationTests {
    static let arms = ["ARM-ACTIVE", "ARM-PLACEBO"]

    static func schedule(_ s: inout ParticipantStory, day: Double, id: String, kits: [String], labels: [String]) {
        s.add(.randomizationScheduleLoaded, day: day, [
            "schedule_id": .string(id), "arms": .array(arms.map(JSONValue.string)), "control_arm": .string(arms[1]),
            "strata": [["factors": [["factor": "severity", "value": "moderate"]],
                        "blocks": [["kits": .array(kits.enumerated().map { i, kit in ["kit_number": .string(kit), "arm": .string(arms[i % 2])] })]]]],
            "contents": .array(labels.flatMap { label in arms.map { arm in
                ["arm": .string(arm), "blinded_label": .string(label), "substance": arm == arms[0] ? "lsd" : "caffeine",
                 "amount": 10, "unit": arm == arms[0] ? "ug" : "mg"] as JSONValue
            } }),
        ], recordedBy: "statistician")
    }

    static func doseData(_ kit: String, _ label: String) -> JSONValue {
        ["kit_number": .string(kit), "blinded_label": .string(label), "route": "oral", "supervised": true, "administered_by": "nurse.s01"]
    }

    /// The story, in the order each partition holds it, and the doses given from another kit.
    static func story() -> (events: [RecordedEvent], otherKit: String, correctedToKit: String) {
        var s = ParticipantStory()
        schedule(&s, day: 0, id: "SCHED-1", kits: ["K-1", "K-2", "K-3", "K-4"], labels: ["level 2"])
        for p in ["S01-0001", "S01-0002", "S01-0003"] {
            s.add(.participantEnrolled, day: -1, ["consented_at": "2026-01-03T10:00:00Z", "protocol_version": "1.0"], participant: p)
        }
        func dose(_ p: String, _ kit: String, _ label: String = "level 2", day: Double) -> String {
            s.add(.doseAdministered, day: day, doseData(kit, label), participant: p)
        }
        for p in ["S01-0001", "S01-0002", "S01-0003"] {
            s.add(.participantRandomizationRequested, day: 1, ["stratum": [["factor": "severity", "value": "moderate"]]], participant: p)
        }
        _ = dose("S01-0001", "K-1", day: 2)
        let otherKit = dose("S01-0001", "K-2", day: 3)
        // Acknowledged at the site level: on the site's partition, so before or after the dose it names.
        s.add(.signalAcknowledged, day: 4, ["signal_id": .string("dose_kit_mismatch:\(otherKit)"), "note": "kit checked"], siteLevel: true,
              recordedBy: "monitor.mo")
        let corrected = dose("S01-0002", "K-1", day: 2)
        s.add(.eventCorrected, day: 3, ["corrected_event_id": .string(corrected), "corrected_type": "dose.administered",
                                        "reason": "kit number misread", "data": doseData("K-2", "level 2")], participant: "S01-0002")
        _ = dose("S01-0002", "K-2", "level 9", day: 4)
        _ = dose("S01-0003", "K-3", day: 2)
        let voided = dose("S01-0003", "K-1", day: 3)
        s.add(.eventVoided, day: 4, ["voided_event_id": .string(voided), "voided_type": "dose.administered",
                                     "reason": "entered for the wrong participant"], participant: "S01-0003")
        // An open dose (no kit: schema 2) corrected to another participant's kit: judged with its correction.
        let open = s.add(.doseAdministered, day: 4, ["substance": "lsd", "amount": 10, "unit": "ug", "route": "oral", "supervised": true,
                                                     "lot": "L-1", "administered_by": "nurse.s01"], participant: "S01-0001")
        s.add(.eventCorrected, day: 5, ["corrected_event_id": .string(open), "corrected_type": "dose.administered",
                                        "reason": "recorded by kit", "data": doseData("K-2", "level 2")], participant: "S01-0001")
        // A later schedule states "level 9", which S01-0002's dose used before it was stated.
        schedule(&s, day: 5, id: "SCHED-2", kits: ["K-5", "K-6"], labels: ["level 9"])
        return (s.events, otherKit, open)
    }

    /// The events as one projection may archive them: each partition's in its order, the partitions merged at random.
    static func archiveOrder(_ events: [RecordedEvent], seed: UInt64) -> [RecordedEvent] {
        var rng = SeededGenerator(seed: seed)
        var queues = Dictionary(grouping: events, by: \.partitionKey).values.map { $0[...] }.sorted { $0.first!.eventID < $1.first!.eventID }
        var merged: [RecordedEvent] = []
        while !queues.isEmpty {
            let i = Int.random(in: queues.indices, using: &rng)
            merged.append(queues[i].removeFirst())
            if queues[i].isEmpty { queues.remove(at: i) }
        }
        return merged
    }

    static func doseSignals(_ db: PostgresConnection) throws -> [[String?]] {
        try db.query("""
            SELECT signal_id, status, acknowledged_by, details FROM monitoring.safety_signals
            WHERE rule IN ('dose_kit_mismatch', 'blinded_label_unknown') ORDER BY signal_id
            """).rows
    }

    /// `Randomization.assign` over the archive so far, the first acknowledgement of each signal (server clock) applied.
    static func expected(_ archived: [RecordedEvent]) -> [[String?]] {
        var acknowledgements: [String: Randomization.Acknowledgement] = [:]
        for e in archived.sorted(by: { ($0.recordedAt, $0.eventID) < ($1.recordedAt, $1.eventID) }) {
            if case .signalAcknowledged(let a) = e.payload, acknowledgements[a.signalID] == nil {
                acknowledgements[a.signalID] = .init(by: e.recordedBy, at: e.recordedAt)
            }
        }
        return Randomization.assign(archived, acknowledgements: acknowledgements).signals.filter { Randomization.doseRules.contains($0.rule) }
            .sorted { $0.signalID < $1.signalID }
            .map { [$0.signalID, $0.status.rawValue, $0.acknowledgedBy, $0.details] }
    }

    @Test(arguments: [UInt64(1), 2, 3, 4, 5])
    func everyPrefixOfEveryArchiveOrderGivesTheWholeJudgement(seed: UInt64) throws {
        let (story, otherKit, correctedToKit) = Self.story()
        let events = Self.archiveOrder(story, seed: seed)
        let db = try TestStack.migratedDatabase()
        for (i, event) in events.enumerated() {
            try TestStack.apply([event], to: db, from: Int64(i))
            let (stored, whole) = (try Self.doseSignals(db), Self.expected(Array(events.prefix(i + 1))))
            #expect(stored == whole, "after \(i + 1) events (\(event.type.rawValue)), seed \(seed): stored \(stored), whole \(whole)")
        }
        // The whole story ends with one acknowledged mismatch and the open dose corrected to another kit: the dose corrected
        // to its kit, the voided one and the dose whose label a later schedule stated raise nothing, nor does the dose
        // recorded before its participant's kit was assigned.
        #expect(try Self.doseSignals(db).map { [$0[0], $0[1]] }
            == [["dose_kit_mismatch:\(otherKit)", "acknowledged"], ["dose_kit_mismatch:\(correctedToKit)", "open"]]
            .sorted { $0[0]! < $1[0]! })
        let rebuild = try Rebuild.run(db, dryRun: true, logger: TestStack.logger)
        #expect(rebuild.identical, "\(rebuild.tables.filter { !$0.identical }.map(\.table))")
    }

    /// Batches of any size, deferred (a catch-up) or not: after every batch whose read models are current the dose signals
    /// are the whole judgement of the archive so far, and the critical dose signals announced (NOTIFY critical_signals) are
    /// exactly those that opened in the batch, each once; nothing announced is closed when its batch commits (review
    /// finding: a dose in the batch that assigned its kit was announced as a mismatch the same transaction took back).
    @Test(arguments: [UInt64(11), 12, 13, 14])
    func batchesOfAnySizeDeferredOrNotAnnounceWhatOpensOnce(seed: UInt64) throws {
        let events = Self.archiveOrder(Self.story().events, seed: seed)
        let db = try TestStack.migratedDatabase()
        let announcements = try Announcements(db)
        let writer = BatchWriter(topic: "t")
        var rng = SeededGenerator(seed: seed)
        var offset = 0
        var openBefore: Set<String> = []
        while offset < events.count {
            let size = Int.random(in: 1...6, using: &rng)
            let batch = Array(events[offset..<min(offset + size, events.count)])
            let deferred = Bool.random(using: &rng) && offset + size < events.count
            let records = batch.enumerated().map { i, e in KafkaRecord(partition: 0, offset: Int64(offset + i), key: nil, value: e.canonicalBytes) }
            _ = try writer.apply(records, to: db, deferReadModels: deferred)
            offset += batch.count
            let open = try Self.openCriticalSignals(db)
            let announced = try announcements.since(db)
            #expect(Set(announced).isSubset(of: open), "announced \(announced), open \(open), after \(offset) events, seed \(seed)")
            let doseRules = Randomization.doseRules.map { $0.rawValue + ":" }
            let opened = open.subtracting(openBefore).filter { id in doseRules.contains { id.hasPrefix($0) } }.sorted()
            #expect(announced.filter { id in doseRules.contains { id.hasPrefix($0) } }.sorted() == opened,
                    "after \(offset) events, seed \(seed)")
            openBefore = open
            guard !deferred else { continue }
            let (stored, whole) = (try Self.doseSignals(db), Self.expected(Array(events.prefix(offset))))
            #expect(stored == whole, "after \(offset) events, seed \(seed): stored \(stored), whole \(whole)")
        }
        let rebuild = try Rebuild.run(db, dryRun: true, logger: TestStack.logger)
        #expect(rebuild.identical, "\(rebuild.tables.filter { !$0.identical }.map(\.table))")
    }

    /// The case the review found, pinned: one batch holding a participant's request and a dose from the kit it assigns
    /// opens and announces nothing.
    @Test func aDoseInTheBatchThatAssignsItsKitAnnouncesNothing() throws {
        var s = ParticipantStory()
        Self.schedule(&s, day: 0, id: "SCHED-1", kits: ["K-1", "K-2"], labels: ["level 2"])
        s.add(.participantEnrolled, day: -1, ["consented_at": "2026-01-03T10:00:00Z", "protocol_version": "1.0"], participant: "S01-0001")
        s.add(.participantRandomizationRequested, day: 1, ["stratum": [["factor": "severity", "value": "moderate"]]], participant: "S01-0001")
        s.add(.doseAdministered, day: 2, Self.doseData("K-1", "level 2"), participant: "S01-0001")
        let db = try TestStack.migratedDatabase()
        let announcements = try Announcements(db)
        try TestStack.apply(s.events, to: db)
        #expect(try announcements.since(db) == [])
        #expect(try Self.doseSignals(db).isEmpty)
    }

    static func openCriticalSignals(_ db: PostgresConnection) throws -> Set<String> {
        Set(try db.query("SELECT signal_id FROM monitoring.safety_signals WHERE status = 'open' AND severity = 'critical'").decode(String.self))
    }

    /// The signals announced on `critical_signals`, read up to a marker sent after the batch (so none is late).
    final class Announcements {
        let listener: PostgresConnection

        init(_ db: PostgresConnection) throws {
            listener = try PostgresConnection(url: db.url)
            try listener.query("LISTEN critical_signals")
        }

        func since(_ db: PostgresConnection) throws -> [String] {
            try db.query("SELECT pg_notify('critical_signals', 'marker')")
            var announced: [String] = []
            while let (_, payload) = try listener.waitForNotification(timeoutSeconds: 10), payload != "marker" {
                announced.append(try JSONParser().parse(payload)["signal_id"]?.stringValue ?? payload)
            }
            return announced
        }
    }

    /// An older projector's unfinished catch-up left `('randomization', '')` pending, which then also meant the blinding
    /// assessments and the acknowledgements of dose signals (review findings: the new projector would have served the
    /// allocation only; a recompute instead would have announced nothing the catch-up owed).
    @Test func aRandomizationRefreshAnOlderProjectorLeftPendingIsServedWhole() throws {
        var s = ParticipantStory()
        s.add(.signalAcknowledged, day: 4, ["signal_id": "dose_kit_mismatch:00000000-0000-4000-8000-000000000099", "note": "kit checked"],
              siteLevel: true, recordedBy: "monitor.mo")
        let db = try TestStack.migratedDatabase()
        try TestStack.apply(s.events, to: db)
        try db.query("DELETE FROM public.schema_migrations WHERE version = 30")
        try db.query("INSERT INTO projection.pending_refresh (kind, key) VALUES ('randomization', '')")
        #expect(try Migrator.migrate(db, logger: TestStack.logger) == ["0030_incremental_judging.sql"])
        #expect(try db.query("SELECT kind, key FROM projection.pending_refresh ORDER BY 1").rows
                == [["blinding", ""], ["dose_signal", "dose_kit_mismatch:00000000-0000-4000-8000-000000000099"], ["randomization", ""]])
        #expect(try db.query("SELECT count(*) FROM projection.recompute_requests").decodeFirst(Int.self) == 0)
        #expect(try BatchWriter(topic: "t").refreshDeferred(db) != nil)
        #expect(try db.query("SELECT count(*) FROM projection.pending_refresh").decodeFirst(Int.self) == 0)
    }
}
