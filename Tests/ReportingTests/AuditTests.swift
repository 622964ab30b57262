import Foundation
import Postgres
import Projection
import Reporting
import Simulator
import Testing
import TestSupport
import TrialDomain

/// The tamper-evident archive, as an auditor checks it.
@Suite("audit: hash chain and trail", .serialized, .stack, .timeLimit(.minutes(4)))
struct AuditTests {
    @Test func anUntouchedArchiveVerifies() throws {
        let (db, events) = try AuditFixtures.archive()
        let result = try AuditVerification.run(db, pageSize: 2)
        #expect(result.intact, "\(result.text)")
        #expect(result.events == events.count)
        #expect(result.countsByType["dose.administered"] == 2 && result.countsByType["event.corrected"] == 1)
    }

    @Test func anAlteredEnvelopeIsFoundAndNamed() throws {
        let (db, events) = try AuditFixtures.archive()
        let target = events[2]  // the first dose
        try AuditFixtures.tamper(db, "UPDATE audit.events SET envelope = replace(envelope, '\"amount\":8', '\"amount\":80') WHERE event_id = '\(target.eventID)'")
        let result = try AuditVerification.run(db)
        #expect(!result.intact)
        #expect(result.breaks.first?.eventID == target.eventID)
        #expect(result.breaks.first?.offset == 2)
        #expect(result.breaks.first?.reason.contains("link does not match") == true)
    }

    @Test func anAlteredColumnIsFound() throws {
        let (db, events) = try AuditFixtures.archive()
        try AuditFixtures.tamper(db, "UPDATE audit.events SET recorded_by = 'mallory' WHERE event_id = '\(events[3].eventID)'")
        let result = try AuditVerification.run(db)
        #expect(result.breaks.map(\.eventID) == [events[3].eventID])
        #expect(result.breaks.first?.reason.contains("columns differ") == true)
    }

    @Test func aDeletedEventIsFound() throws {
        let (db, events) = try AuditFixtures.archive()
        try AuditFixtures.tamper(db, "DELETE FROM audit.events WHERE event_id = '\(events[1].eventID)'")
        let result = try AuditVerification.run(db)
        #expect(result.breaks.first?.reason.contains("1 archived event(s) missing") == true)
        try AuditFixtures.tamper(db, "DELETE FROM audit.events WHERE chain_seq = (SELECT max(chain_seq) FROM audit.events)")
        #expect(try AuditVerification.run(db).headMismatch != nil, "removing the newest event is caught by the chain head")
    }

    @Test func theCommandExitsNonZeroOnlyWhenBroken() throws {
        let (db, events) = try AuditFixtures.archive()
        func verify() throws -> Int32 {
            let p = Process()
            p.executableURL = TestEnvironment.executable("reporter")
            p.arguments = ["audit", "verify", "--database-url", db.url, "--no-anchors", "--skip-log-check"]  // archived without a log
            p.standardOutput = Pipe()
            try p.run()
            p.waitUntilExit()
            return p.terminationStatus
        }
        #expect(try verify() == 0)
        try AuditFixtures.tamper(db, "UPDATE audit.events SET data = '{}' WHERE event_id = '\(events[4].eventID)'")
        #expect(try verify() == 1)
    }

    @Test func theTrailShowsWhoRecordedWhatAndItsCorrections() throws {
        let (db, events) = try AuditFixtures.archive()
        let trail = try AuditTrail.load(db, participantID: "S01-0001")
        #expect(trail.entries.count == events.count - 1, "every event of the participant (not the study's protocol)")
        let dose = try #require(trail.entries.first { $0.eventID == events[2].eventID })
        #expect(dose.note.contains("event.corrected by dr.s01"))
        #expect(trail.entries.contains { $0.type == "event.corrected" && $0.note.hasPrefix("corrects \(events[2].eventID): source says 9 ug") })
        #expect(trail.entries.map(\.chainSeq) == trail.entries.map(\.chainSeq).sorted())
    }

    /// A correction shows what it changed, field by field, old → new; a second correction starts from the first one's
    /// values, a refused one changes nothing and says why, and the other events show no changes.
    @Test func theTrailShowsWhatEachCorrectionChanged() throws {
        let db = try TestStack.migratedDatabase()
        var story = ParticipantStory.standard()
        let dose = story.dose(day: 0, 8)
        func correction(day: Double, _ data: JSONValue, of target: String = dose, type: String = "dose.administered") -> String {
            story.add(.eventCorrected, day: day, ["corrected_event_id": .string(target), "corrected_type": .string(type),
                                                  "reason": "source document", "data": data])
        }
        let first = correction(day: 1, ["substance": "lsd", "amount": 9, "unit": "ug", "route": "sublingual", "supervised": true,
                                        "lot": "L1", "administered_by": "nurse"])
        let second = correction(day: 2, ["substance": "lsd", "amount": 9, "unit": "ug", "route": "sublingual", "supervised": true,
                                         "lot": "L2", "administered_by": "nurse", "witness": "dr/s~01"])
        let refused = correction(day: 3, ["instrument": "phq9", "items": [0, 0, 0, 0, 0, 0, 0, 0, 0], "total": 0],
                                 type: "assessment.completed")
        try TestStack.apply(story.events, to: db)
        let trail = try AuditTrail.load(db, participantID: story.participant)
        func changes(_ id: String) -> [String] { trail.entries.first { $0.eventID == id }?.changes.map(\.text) ?? ["missing"] }
        #expect(changes(first) == ["/amount: 8 → 9"])
        #expect(changes(second) == ["/lot: \"L1\" → \"L2\"", "/witness: added \"dr/s~01\""])
        #expect(changes(refused).isEmpty)
        #expect(trail.entries.first { $0.eventID == refused }?.note.contains("(refused: event \(dose) is a 'dose.administered' event") == true)
        let unchanged = trail.entries.filter { $0.type != "event.corrected" }.allSatisfy { $0.changes.isEmpty }
        #expect(unchanged)
        let json = CanonicalJSON.string(trail.json)
        #expect(json.contains(#"{"kind":"changed","new":9,"old":8,"pointer":"/amount"}"#), "\(json)")
        #expect(trail.text.contains("/amount: 8 → 9"))
    }
}

@Suite("audit: replay and rebuild", .serialized, .stack, .timeLimit(.minutes(4)))
struct ReplayAndRebuildTests {
    static func at(_ text: String) -> Timestamp { Timestamp(rfc3339: text)! }

    @Test func replayShowsWhatMonitorsSawBeforeAndAfterAnAcknowledgement() throws {
        let db = try TestStack.migratedDatabase()
        var story = ParticipantStory.standard()
        let ae = story.add(.adverseEventReported, day: 1, ["term": "Syncope", "onset_at": "2026-01-06T06:00:00Z", "grade": 3, "serious": true,
                                                           "seriousness_criteria": ["hospitalisation"], "causality": "possible",
                                                           "action_taken": "dose_interrupted", "outcome": "recovering"],
                           recordedAt: Self.at("2026-01-06T10:00:00Z"))
        story.add(.signalAcknowledged, day: 1, hour: 20, ["signal_id": .string("serious_adverse_event:\(ae)"), "note": "sponsor told"],
                  recordedBy: "monitor.mo", recordedAt: Self.at("2026-01-06T21:00:00Z"))
        try TestStack.apply(story.events, to: db)
        func status(_ cut: Replay.Cut) throws -> String? {
            try Replay.run(db, cut: cut).signals.first { $0.signalID == "serious_adverse_event:\(ae)" }?.status.rawValue
        }
        #expect(try status(.recordedBy(Self.at("2026-01-06T12:00:00Z"))) == "open")
        #expect(try status(.recordedBy(Self.at("2026-01-06T22:00:00Z"))) == "acknowledged")
        #expect(try status(.recordedBy(Self.at("2026-01-06T09:00:00Z"))) == nil, "not yet reported")
        #expect(try status(.occurredBy(Self.at("2026-01-06T12:00:00Z"))) == "open")
        // The replay of everything equals the live read model.
        let replay = try Replay.run(db, cut: .recordedBy(Self.at("2030-01-01T00:00:00Z")))
        let live = try db.query("SELECT signal_id, status FROM monitoring.safety_signals ORDER BY 1").decode((String, String).self).map { [$0, $1] }
        #expect(replay.signals.map { [$0.signalID, $0.status.rawValue] } == live)
        #expect(replay.csv.hasPrefix("# participants\nparticipant_id,site_id,status"))
    }

    @Test func rebuildReproducesTheLiveTablesAndRepairsDrift() throws {
        let db = try TestStack.migratedDatabase()
        var configuration = StudySimulator.Configuration(start: Self.at("2026-01-05T00:00:00Z"))
        configuration.sites = 2
        configuration.participantsPerSite = 4
        configuration.weeks = 3
        let validator = EventValidator()
        let events = try StudySimulator(configuration: configuration).submissions().map {
            try validator.validateSubmission($0.json, recordedAt: Self.at("2026-03-01T00:00:00Z"), recordedBy: $0.sender).get()
        }
        // Applied in several batches, as a running projector would.
        for start in stride(from: 0, to: events.count, by: 97) {
            try TestStack.apply(Array(events[start..<min(start + 97, events.count)]), to: db, from: Int64(start))
        }
        let first = try Rebuild.run(db, logger: TestStack.logger)
        #expect(first.identical, "\(first.text)")
        #expect(first.tables.first { $0.table == "monitoring.participants" }?.rows == 12)
        try db.query("UPDATE monitoring.participants SET doses_administered = 99 WHERE participant_id = 'S01-0001'")
        let dry = try Rebuild.run(db, dryRun: true, logger: TestStack.logger)
        #expect(dry.tables.filter { !$0.identical }.map(\.table) == ["monitoring.participants"])
        #expect(try db.query("SELECT doses_administered FROM monitoring.participants WHERE participant_id = 'S01-0001'").rows == [["99"]])
        let repaired = try Rebuild.run(db, logger: TestStack.logger)
        #expect(!repaired.identical)
        #expect(try Rebuild.run(db, logger: TestStack.logger).identical)
        #expect(try Rebuild.checksums(db).map(\.2) == first.tables.map(\.after))
    }
}
