import Postgres
import Projection
import Simulator
import Testing
import TestSupport
import TrialDomain

/// Issue 13: a participant's data query rows are rewritten only when a batch can change them (a query step of theirs, or
/// an event one of their queries names arriving after the query), not for every event of theirs (`xmin` shows whether a
/// row was written); and they are always what the archive gives, whatever the batches were.
@Suite("data query rows in proportion to what changed", .serialized, .stack, .timeLimit(.minutes(4)))
struct DataQueryRefreshTests {
    /// A participant's vitals and a monitor's query about their heart rate.
    static func queriedVitals() -> (story: ParticipantStory, vitals: String, query: String) {
        var s = ParticipantStory.standard()
        let vitals = s.add(.vitalsRecorded, day: 1, ["systolic_mmhg": 120, "diastolic_mmhg": 80, "heart_rate_bpm": 70, "time_point": "pre_dose"])
        let query = s.add(.queryRaised, day: 2, ["event_id": .string(vitals), "pointer": "/heart_rate_bpm", "question": "70 or 76?"],
                          recordedBy: "monitor")
        return (s, vitals, query)
    }

    @Test func rowsAreRewrittenOnlyWhenABatchCanChangeThem() throws {
        var (s, _, asked) = Self.queriedVitals()
        // A query about vitals the site has not entered yet (they arrive in a later batch).
        var lateVitals = ParticipantStory(counter: 500)
        let pending = lateVitals.add(.vitalsRecorded, day: 2, ["systolic_mmhg": 130, "diastolic_mmhg": 85, "heart_rate_bpm": 72,
                                                               "time_point": "pre_dose"])
        let early = s.add(.queryRaised, day: 3, ["event_id": .string(pending), "pointer": "/systolic_mmhg", "question": "130?"],
                          recordedBy: "monitor")
        let db = try TestStack.migratedDatabase()
        try TestStack.apply(s.events, to: db)
        func rows() throws -> [[String?]] {
            try db.query("SELECT query_id::text, event_type, status, refusal, xmin::text FROM monitoring.data_queries ORDER BY 1").rows
        }
        let before = try rows()
        #expect(before.map { $0[0] } == [asked, early].sorted())

        // Another event of the participant's: neither query can change, neither row is written (same xmin).
        var dose = ParticipantStory(counter: 100)
        dose.dose(day: 4, 8)
        try TestStack.apply(dose.events, to: db, from: Int64(s.events.count))
        #expect(try rows() == before)

        // The vitals the second query names arrive: the participant's queries are rewritten (the first one as it was).
        try TestStack.apply(lateVitals.events, to: db, from: Int64(s.events.count + 1))
        let afterTarget = try rows()
        #expect(afterTarget.first { $0[0] == asked }?.prefix(4) == before.first { $0[0] == asked }?.prefix(4))
        #expect(afterTarget.first { $0[0] == early }?[4] != before.first { $0[0] == early }?[4])
        #expect(afterTarget.first { $0[0] == early }?[1] == "vitals.recorded")

        // A step of theirs rewrites them.
        var answer = ParticipantStory(counter: 200)
        answer.add(.queryAnswered, day: 5, ["query_id": .string(asked), "text": "70, confirmed"])
        try TestStack.apply(answer.events, to: db, from: Int64(s.events.count + 2))
        #expect(try rows().first { $0[0] == asked }?[2] == "answered")
        #expect(try Rebuild.run(db, logger: TestStack.logger).identical)

        // The same as the whole log applied at once.
        let whole = try TestStack.migratedDatabase()
        try TestStack.apply(s.events + dose.events + lateVitals.events + answer.events, to: whole)
        #expect(try readModelSnapshot(whole.url) == readModelSnapshot(db.url))
    }

    /// An answer naming its correction before the correction is archived is refused; the correction arriving alone, in a
    /// later batch, turns the query answered (the answer's `correction_event_id` is an input of the participant's rows).
    @Test func aCorrectionArrivingAfterItsAnswerIsTakenUp() throws {
        var (s, vitals, query) = Self.queriedVitals()
        var late = ParticipantStory(counter: 500)
        let correction = late.add(.eventCorrected, day: 3, ["corrected_event_id": .string(vitals), "corrected_type": "vitals.recorded",
                                                           "reason": "query", "data": ["systolic_mmhg": 120, "diastolic_mmhg": 80,
                                                                                       "heart_rate_bpm": 76, "time_point": "pre_dose"]])
        s.add(.queryAnswered, day: 3, ["query_id": .string(query), "text": "76", "correction_event_id": .string(correction)])
        let db = try TestStack.migratedDatabase()
        try TestStack.apply(s.events, to: db)
        func status() throws -> [[String?]] {
            try db.query("SELECT status, correction_event_id::text FROM monitoring.data_queries").rows
        }
        #expect(try status() == [["open", nil]])
        try TestStack.apply(late.events, to: db, from: Int64(s.events.count))
        #expect(try status() == [["answered", correction]])
        #expect(try Rebuild.run(db, logger: TestStack.logger).identical)
        let whole = try TestStack.migratedDatabase()
        try TestStack.apply(s.events + late.events, to: whole)
        #expect(try readModelSnapshot(whole.url) == readModelSnapshot(db.url))
    }

    /// A query naming another participant's event (refused; ingest refuses it, but can archive one when it could not ask
    /// PostgreSQL) does not depend on that event: its arrival, which does not refresh the querying participant, changes
    /// nothing of theirs, so their rows equal a rebuild after any batch.
    @Test func aQueryAboutAnotherParticipantsEventDoesNotDependOnIt() throws {
        var s = ParticipantStory.standard()
        s.add(.participantEnrolled, day: 0, hour: 8, ["consented_at": "2026-01-03T10:00:00Z", "protocol_version": "1.0"], participant: "S01-0002")
        var theirs = ParticipantStory(counter: 500)
        let foreign = theirs.add(.vitalsRecorded, day: 1, ["systolic_mmhg": 120, "diastolic_mmhg": 80, "heart_rate_bpm": 70,
                                                           "time_point": "pre_dose"], participant: "S01-0002")
        s.add(.queryRaised, day: 2, ["event_id": .string(foreign), "pointer": "", "question": "whose?"], recordedBy: "monitor")
        let db = try TestStack.migratedDatabase()
        try TestStack.apply(s.events, to: db)
        try TestStack.apply(theirs.events, to: db, from: Int64(s.events.count))
        var dose = ParticipantStory(counter: 600)
        dose.dose(day: 4, 8)
        try TestStack.apply(dose.events, to: db, from: Int64(s.events.count + 1))
        #expect(try db.query("SELECT status, event_type FROM monitoring.data_queries").rows == [["refused", nil]])
        #expect(try Rebuild.run(db, logger: TestStack.logger).identical)

        // A row as the code before migration 0032 left it (the other participant's event type) is brought to the rule.
        try db.query("UPDATE monitoring.data_queries SET event_type = 'vitals.recorded'")
        try db.query("DELETE FROM public.schema_migrations WHERE version = 32")
        #expect(try Migrator.migrate(db, logger: TestStack.logger) == ["0032_query_rows_own_targets.sql"])
        #expect(try db.query("SELECT status, event_type FROM monitoring.data_queries").rows == [["refused", nil]])
    }
}
