import Simulator
import Testing
@testable import TrialDomain

/// Issue 14: a `fatal` outcome, grade 5 and the `death` criterion go together; updates are judged on the merged state.
@Suite("Adverse events: grade, outcome and the death criterion agree")
struct AdverseEventConsistencyTests {
    static let reported: [String: JSONValue] = ["term": "Cardiac arrest", "onset_at": "2026-05-29T08:00:00Z", "grade": 4, "serious": true,
                                                "seriousness_criteria": ["life_threatening"], "causality": "possible",
                                                "action_taken": "drug_withdrawn", "outcome": "not_recovered"]

    static func pointers(_ type: String, _ data: [String: JSONValue], stored: Bool = false) -> [String] {
        var json = Fixtures.envelope(type, data: .object(data)).objectValue!
        let validator = EventValidator()
        let result: Result<RecordedEvent, ValidationFailure>
        if stored {
            json["recorded_at"] = "2026-06-01T12:00:00Z"
            json["recorded_by"] = "dr"
            result = validator.decodeStored(.object(json))
        } else {
            result = validator.validateSubmission(.object(json), recordedAt: Fixtures.now, recordedBy: "dr")
        }
        guard case .failure(let f) = result else { return [] }
        return f.issues.map(\.pointer)
    }

    @Test func aReportWhoseGradeAndOutcomeDisagreeIsRefused() {
        #expect(Self.pointers("adverse_event.reported", Self.reported).isEmpty)
        var fatal = Self.reported
        fatal["outcome"] = "fatal"
        #expect(Self.pointers("adverse_event.reported", fatal) == ["/data/grade"])
        var death = Self.reported
        death["seriousness_criteria"] = ["death"]
        #expect(Self.pointers("adverse_event.reported", death).contains("/data/seriousness_criteria"))
        var grade5 = Self.reported
        grade5["grade"] = 5
        grade5["outcome"] = "fatal"
        #expect(Self.pointers("adverse_event.reported", grade5) == ["/data/seriousness_criteria"], "grade 5 needs the death criterion")
        grade5["seriousness_criteria"] = ["death"]
        #expect(Self.pointers("adverse_event.reported", grade5).isEmpty)
        // Records accepted before the rule still replay.
        #expect(Self.pointers("adverse_event.reported", fatal, stored: true).isEmpty)
    }

    @Test func anUpdateThatDisagreesWithItselfIsRefused() {
        let id: JSONValue = "0b5b1a8e-6c1f-4a4e-9a55-3f1f7c2b9d11"
        #expect(Self.pointers("adverse_event.updated", ["adverse_event_id": id, "grade": 5, "outcome": "recovering"]) == ["/data/outcome"])
        #expect(Self.pointers("adverse_event.updated", ["adverse_event_id": id, "grade": 3, "outcome": "fatal"]) == ["/data/grade"])
        #expect(Self.pointers("adverse_event.updated", ["adverse_event_id": id, "outcome": "fatal"]).isEmpty, "judged on the merged state")
    }

    @Test func anUpdateIsJudgedOnTheMergedState() {
        var s = ParticipantStory.standard()
        let ae = s.add(.adverseEventReported, day: 1, SAEClockTests.serious)
        let update = s.add(.adverseEventUpdated, day: 3, ["adverse_event_id": .string(ae), "outcome": "fatal"])
        let signals = s.signals(.adverseEventInconsistent)
        #expect(signals.map(\.triggerEventID) == [update])
        #expect(signals.first?.details.contains("outcome fatal, grade 3, death criterion not given") == true)
    }

    @Test func aConsistentDeathUpdateRaisesNoInconsistency() {
        var s = ParticipantStory.standard()
        let ae = s.add(.adverseEventReported, day: 1, SAEClockTests.serious)
        s.add(.adverseEventUpdated, day: 3, ["adverse_event_id": .string(ae), "grade": 5, "outcome": "fatal",
                                             "serious": true, "seriousness_criteria": ["death", "hospitalisation"]])
        #expect(s.signals(.adverseEventInconsistent).isEmpty)
        #expect(s.rows.adverseEvents.first?.current.grade == 5)
    }
}
