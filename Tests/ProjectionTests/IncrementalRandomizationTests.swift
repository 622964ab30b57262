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

    /// The story, in the order each partition holds it, and the dose given from another kit.
    static func story() -> (events: [RecordedEvent], otherKit: String) {
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
        // A later schedule states "level 9", which S01-0002's dose used before it was stated.
        schedule(&s, day: 5, id: "SCHED-2", kits: ["K-5", "K-6"], labels: ["level 9"])
        return (s.events, otherKit)
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
        let (story, otherKit) = Self.story()
        let events = Self.archiveOrder(story, seed: seed)
        let db = try TestStack.migratedDatabase()
        for (i, event) in events.enumerated() {
            try TestStack.apply([event], to: db, from: Int64(i))
            let (stored, whole) = (try Self.doseSignals(db), Self.expected(Array(events.prefix(i + 1))))
            #expect(stored == whole, "after \(i + 1) events (\(event.type.rawValue)), seed \(seed): stored \(stored), whole \(whole)")
        }
        // The whole story ends with one acknowledged mismatch: the corrected dose, the voided one and the dose whose label
        // a later schedule stated raise nothing, nor does the dose recorded before its participant's kit was assigned.
        #expect(try Self.doseSignals(db).map { [$0[0], $0[1]] } == [["dose_kit_mismatch:\(otherKit)", "acknowledged"]])
        let rebuild = try Rebuild.run(db, dryRun: true, logger: TestStack.logger)
        #expect(rebuild.identical, "\(rebuild.tables.filter { !$0.identical }.map(\.table))")
    }
}
