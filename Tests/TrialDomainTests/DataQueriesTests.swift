import Simulator
import Testing
import TrialDomain

/// The data query fold (issue 15): a pure function of the participant's query events and of what the archive holds
/// under the ids they name, whatever order the events arrive in.
@Suite("Data queries")
struct DataQueriesTests {
    static let base = Timestamp(rfc3339: "2026-02-01T00:00:00Z")!

    /// The whole life of a query, each step recorded a minute after the previous one, plus steps that do not fit.
    static func story() -> (ParticipantStory, query: String, vitals: String, correction: String) {
        var s = ParticipantStory()
        var minute: Int64 = 0
        func at() -> Timestamp {
            minute += 1
            return base.adding(seconds: minute * 60)
        }
        let vitals = s.add(.vitalsRecorded, day: 1, ["systolic_mmhg": 120, "diastolic_mmhg": 80, "heart_rate_bpm": 70, "time_point": "pre_dose"],
                           recordedAt: at())
        s.add(.queryClosed, day: 2, ["query_id": "00000000-0000-4000-8000-000000000003"], recordedBy: "monitor", recordedAt: at())
        let query = s.add(.queryRaised, day: 2, ["event_id": .string(vitals), "pointer": "/heart_rate_bpm", "question": "70 or 76?"],
                          recordedBy: "monitor", recordedAt: at())
        s.add(.queryClosed, day: 2, ["query_id": .string(query)], recordedBy: "monitor", recordedAt: at())  // never answered
        s.add(.queryReopened, day: 2, ["query_id": .string(query), "reason": "x"], recordedBy: "monitor", recordedAt: at())  // not closed
        let correction = s.add(.eventCorrected, day: 3, ["corrected_event_id": .string(vitals), "corrected_type": "vitals.recorded",
                                                         "reason": "query", "data": ["systolic_mmhg": 120, "diastolic_mmhg": 80,
                                                                                     "heart_rate_bpm": 76, "time_point": "pre_dose"]],
                               recordedAt: at())
        s.add(.queryAnswered, day: 3, ["query_id": .string(query), "text": "76", "correction_event_id": .string(correction)], recordedAt: at())
        s.add(.queryAnswered, day: 3, ["query_id": .string(query), "text": "again"], recordedAt: at())  // already answered
        s.add(.queryClosed, day: 4, ["query_id": .string(query)], recordedBy: "monitor", recordedAt: at())
        s.add(.queryReopened, day: 5, ["query_id": .string(query), "reason": "and the time point?"], recordedBy: "monitor", recordedAt: at())
        s.add(.queryAnswered, day: 5, ["query_id": .string(query), "text": "pre-dose, confirmed"], recordedAt: at())
        s.add(.queryClosed, day: 6, ["query_id": .string(query)], recordedBy: "monitor", recordedAt: at())
        return (s, query, vitals, correction)
    }

    static func targets(_ events: [RecordedEvent]) -> [String: DataQueries.Target] {
        Dictionary(uniqueKeysWithValues: events.map {
            ($0.eventID, DataQueries.Target(participantID: $0.participantID, type: $0.type, changedEventID: $0.payload.changedEventID,
                                            data: $0.data))
        })
    }

    @Test func aQuerysLifeAndTheStepsThatDoNotFit() {
        let (s, query, _, correction) = Self.story()
        let (queries, steps) = DataQueries.rows(s.events, targets: Self.targets(s.events))
        #expect(queries.count == 1)
        let q = queries[0]
        #expect(q.queryID == query && q.status == .closed && q.reopenings == 1 && q.answer == "pre-dose, confirmed" && q.closedBy == "monitor")
        #expect(q.eventType == "vitals.recorded" && q.refusal == nil)
        #expect(steps.map(\.action) == [.closed, .raised, .closed, .reopened, .answered, .answered, .closed, .reopened, .answered, .closed])
        #expect(steps.map { $0.refusal == nil } == [false, true, false, false, true, false, true, true, true, true])
        #expect(steps[0].refusal?.contains("no query of participant S01-0001") == true)
        #expect(steps[2].refusal?.contains("never answered") == true)
        #expect(steps[3].refusal?.contains("only a closed query is reopened") == true)
        #expect(steps[5].refusal?.contains("only an open query is answered") == true)
        #expect(steps[4].correctionEventID == correction)
    }

    /// Arrival order never matters: the steps are taken in the server's recording order.
    @Test func theRowsDoNotDependOnArrivalOrder() {
        let (s, _, _, _) = Self.story()
        let expected = DataQueries.rows(s.events, targets: Self.targets(s.events))
        var rng = SeededGenerator(seed: 15)
        for _ in 0..<20 {
            let shuffled = s.events.shuffled(using: &rng)
            #expect(DataQueries.rows(shuffled, targets: Self.targets(shuffled)) == expected)
        }
    }

    /// A query about another participant's event, or a correction that does not change the queried event, changes
    /// nothing; a query whose event is not archived yet is refused until it is (then it is open: order independence).
    @Test func foreignTargetsAndCorrectionsAreRefused() {
        var s = ParticipantStory()
        let other = s.add(.vitalsRecorded, day: 1, ["systolic_mmhg": 120, "diastolic_mmhg": 80, "heart_rate_bpm": 70, "time_point": "pre_dose"],
                          participant: "S01-0002")
        let own = s.add(.vitalsRecorded, day: 1, ["systolic_mmhg": 121, "diastolic_mmhg": 80, "heart_rate_bpm": 70, "time_point": "pre_dose"])
        let elsewhere = s.add(.eventCorrected, day: 2, ["corrected_event_id": .string(other), "corrected_type": "vitals.recorded", "reason": "x",
                                                        "data": ["systolic_mmhg": 122, "diastolic_mmhg": 80, "heart_rate_bpm": 70,
                                                                 "time_point": "pre_dose"]], participant: "S01-0002")
        let foreign = s.add(.queryRaised, day: 3, ["event_id": .string(other), "pointer": "", "question": "?"], recordedBy: "monitor")
        let query = s.add(.queryRaised, day: 3, ["event_id": .string(own), "pointer": "", "question": "?"], recordedBy: "monitor")
        s.add(.queryAnswered, day: 4, ["query_id": .string(query), "text": "fixed", "correction_event_id": .string(elsewhere)])
        s.add(.queryAnswered, day: 5, ["query_id": .string(foreign), "text": "n/a"])
        let mine = s.events.filter { $0.participantID == "S01-0001" }
        let (queries, steps) = DataQueries.rows(mine, targets: Self.targets(s.events))
        #expect(queries.map(\.status) == (foreign < query ? [.refused, .open] : [.open, .refused]))
        #expect(queries.first { $0.queryID == foreign }?.refusal == "event \(other) is not an event of participant S01-0001")
        #expect(steps.filter { $0.refusal != nil }.count == 3, "the foreign raise, the answer naming another's correction, and the answer to it")
        // The queried event archived later: the same log gives an open query once it is there.
        let before = DataQueries.rows(mine, targets: Self.targets(s.events.filter { $0.eventID != own }))
        #expect(before.queries.first { $0.queryID == query }?.status == .refused)
    }

    /// A query's pointer must name something in the queried event's data as recorded (the projector reads it; ingest
    /// cannot): RFC 6901, `~1` for "/", `~0` for "~", array indexes without leading zeros.
    @Test func aPointerMustNameSomethingInTheQueriedData() {
        let data: JSONValue = ["items": [0, 1, 2], "a/b": ["~k": true], "total": 3]
        #expect(JSONDiff.value(at: "", in: data) == data)
        #expect(JSONDiff.value(at: "/items/2", in: data) == 2)
        #expect(JSONDiff.value(at: "/a~1b/~0k", in: data) == true)
        for nothing in ["/items/3", "/items/01", "/items/-", "/total/0", "/missing", "items"] {
            #expect(JSONDiff.value(at: nothing, in: data) == nil, "\(nothing)")
        }
        var s = ParticipantStory()
        let vitals = s.add(.vitalsRecorded, day: 1, ["systolic_mmhg": 120, "diastolic_mmhg": 80, "heart_rate_bpm": 70, "time_point": "pre_dose"])
        let named = s.add(.queryRaised, day: 2, ["event_id": .string(vitals), "pointer": "/heart_rate_bpm", "question": "?"], recordedBy: "monitor")
        let wrong = s.add(.queryRaised, day: 2, ["event_id": .string(vitals), "pointer": "/temperature_c", "question": "?"], recordedBy: "monitor")
        let queries = DataQueries.rows(s.events, targets: Self.targets(s.events)).queries
        #expect(queries.first { $0.queryID == named }?.status == .open)
        #expect(queries.first { $0.queryID == wrong }?.refusal == "pointer /temperature_c names nothing in the data of event \(vitals) as recorded")
    }
}
