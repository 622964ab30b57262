import Simulator
import Testing
@testable import TrialDomain

/// Issue 14, "SAE clock": the 24 h sponsor clock, downgrades and acknowledgement times.
@Suite("SAE clock: 24 h from when the site learned it, downgrades resolve, acknowledgements at the server's time")
struct SAEClockTests {
    static let serious: JSONValue = ["term": "Syncope", "onset_at": "2026-01-06T08:00:00Z", "grade": 3, "serious": true,
                                     "seriousness_criteria": ["hospitalisation"], "causality": "possible",
                                     "action_taken": "dose_interrupted", "outcome": "recovering"]

    @Test func aSeriousReportStartsTheClockAtTheReport() throws {
        var s = ParticipantStory.standard()
        let id = s.add(.adverseEventReported, day: 1, Self.serious)
        let sae = try #require(s.signals(.seriousAdverseEvent).first)
        #expect(sae.deadline == Timestamp(rfc3339: "2026-01-07T09:00:00Z"))
        #expect(s.rows.adverseEvents.first { $0.eventID == id }?.sponsorNotificationDue == sae.deadline)
        #expect(sae.status == .open)
    }

    @Test func aNonSeriousEventHasNoClock() {
        var s = ParticipantStory.standard()
        let id = s.add(.adverseEventReported, day: 1, SafetyRuleTests.ae)
        s.add(.adverseEventUpdated, day: 2, ["adverse_event_id": .string(id), "grade": 1])
        #expect(s.signals(.seriousAdverseEvent).isEmpty)
        #expect(s.rows.adverseEvents.first?.sponsorNotificationDue == nil)
    }

    @Test func aDowngradeResolvesTheSignalWithAReasonInsteadOfDeletingIt() throws {
        var s = ParticipantStory.standard()
        let id = s.add(.adverseEventReported, day: 1, Self.serious)
        let update = s.add(.adverseEventUpdated, day: 3, ["adverse_event_id": .string(id), "serious": false, "seriousness_criteria": []])
        let sae = try #require(s.signals(.seriousAdverseEvent).first, "the signal stays on record")
        #expect(sae.status == .resolved)
        #expect(sae.resolution == "downgraded to non-serious by update \(update) at 2026-01-08T09:00:00.000000Z")
        #expect(sae.deadline == Timestamp(rfc3339: "2026-01-07T09:00:00Z"), "the clock that ran stays visible")
        #expect(s.rows.summary?.openSignals == 1, "only the grade 3 signal is open")
    }

    @Test func aReupgradeKeepsTheFirstClock() throws {
        var s = ParticipantStory.standard()
        let id = s.add(.adverseEventReported, day: 1, Self.serious)
        s.add(.adverseEventUpdated, day: 3, ["adverse_event_id": .string(id), "serious": false, "seriousness_criteria": []])
        s.add(.adverseEventUpdated, day: 4, ["adverse_event_id": .string(id), "serious": true, "seriousness_criteria": ["disability"]])
        let sae = try #require(s.signals(.seriousAdverseEvent).first)
        #expect(sae.status == .open && sae.resolution == nil)
        #expect(sae.deadline == Timestamp(rfc3339: "2026-01-07T09:00:00Z"))
        #expect(s.rows.adverseEvents.first?.sponsorNotificationDue == sae.deadline)
    }

    /// The acknowledgement's occurred_at is the client's: it could be backdated before the deadline.
    @Test func anAcknowledgementCountsWhenTheServerRecordedIt() throws {
        var s = ParticipantStory.standard()
        let id = s.add(.adverseEventReported, day: 1, Self.serious)
        let recorded = Timestamp(rfc3339: "2026-01-09T12:00:00Z")!
        s.add(.signalAcknowledged, day: 1, hour: 20, ["signal_id": .string("serious_adverse_event:\(id)"), "note": "sponsor told"],
              recordedBy: "monitor.mo", recordedAt: recorded)
        let sae = try #require(s.signals(.seriousAdverseEvent).first)
        #expect(sae.status == .acknowledged)
        #expect(sae.acknowledgedAt == recorded)
        #expect(sae.acknowledgedAt! > sae.deadline!, "late, however the client dated it")
    }
}
