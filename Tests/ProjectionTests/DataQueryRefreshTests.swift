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
    @Test func rowsAreRewrittenOnlyWhenABatchCanChangeThem() throws {
        var s = ParticipantStory.standard()
        let vitals = s.add(.vitalsRecorded, day: 1, ["systolic_mmhg": 120, "diastolic_mmhg": 80, "heart_rate_bpm": 70, "time_point": "pre_dose"])
        let asked = s.add(.queryRaised, day: 2, ["event_id": .string(vitals), "pointer": "/heart_rate_bpm", "question": "70 or 76?"],
                          recordedBy: "monitor")
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
}
