import Simulator
import Testing
@testable import TrialDomain

/// Issue 14, "Expedited (SUSAR) reporting", wired: from `adverse_event.reported`/`updated` (v2 `expected`),
/// `safety.assessed` and `regulatory_report.submitted` through the participant fold to the rows of
/// `monitoring.expedited_report_clocks` (facts only: day 0, due, submitted).
@Suite("SUSAR clocks through the participant fold: the site's report, the sponsor's assessment, submissions")
struct ExpeditedReportingFoldTests {
    static func t(_ s: String) -> Timestamp { Timestamp(rfc3339: s)! }
    static let reportedAt = t("2026-01-06T10:00:00Z")
    static let assessedAt = t("2026-01-08T10:00:00Z")

    /// Serious (hospitalisation), probable; `expected` as given (absent: a version 1 report).
    static func serious(expected: Bool?, criteria: [JSONValue] = ["hospitalisation"]) -> JSONValue {
        var data: [String: JSONValue] = ["term": "Hepatitis", "onset_at": "2026-01-06T08:00:00Z", "grade": 3, "serious": true,
                                         "seriousness_criteria": .array(criteria), "causality": "probable",
                                         "action_taken": "dose_interrupted", "outcome": "recovering"]
        if let expected { data["expected"] = .bool(expected) }
        return .object(data)
    }

    static func assessment(_ ae: String, susar: Bool, expected: Bool = false, causality: String = "probable") -> JSONValue {
        ["adverse_event_id": .string(ae), "causality": .string(causality), "expected": .bool(expected), "susar": .bool(susar)]
    }

    @Test func theSitesUnexpectedSeriousSuspectedReportStartsAFifteenDayClockAtItsRecording() throws {
        var s = ParticipantStory.standard()
        let ae = s.add(.adverseEventReported, day: 1, Self.serious(expected: false), recordedAt: Self.reportedAt)
        #expect(s.events.last?.schemaVersion == 2)
        let rows = s.rows.expeditedReports
        try #require(rows.count == 1)
        #expect(rows[0].reportID == "\(ae):initial" && rows[0].adverseEventID == ae && rows[0].participantID == s.participant)
        #expect(rows[0].siteID == "S01" && rows[0].term == "Hepatitis" && rows[0].classifiedBy == .site)
        #expect(rows[0].clock.firstKnowledgeAt == Self.reportedAt, "day 0 is the server's recorded_at, not occurred_at")
        #expect(rows[0].clock.due == Self.t("2026-01-21T10:00:00Z"))
        #expect(rows[0].clock.submittedAt == nil && !rows[0].clock.fatalOrLifeThreatening)
    }

    @Test func anExpectedOrVersionOneOrNonSeriousReportHasNoClock() {
        var s = ParticipantStory.standard()
        s.add(.adverseEventReported, day: 1, Self.serious(expected: true), recordedAt: Self.reportedAt)
        s.add(.adverseEventReported, day: 1, Self.serious(expected: nil), recordedAt: Self.reportedAt)
        #expect(s.events.last?.schemaVersion == 1, "a v1 report: expectedness unknown")
        s.add(.adverseEventReported, day: 1, ["term": "Headache", "onset_at": "2026-01-06T08:00:00Z", "grade": 1, "serious": false,
                                              "seriousness_criteria": [], "causality": "certain", "action_taken": "none",
                                              "outcome": "recovered", "expected": false])
        #expect(s.rows.adverseEvents.count == 3)
        #expect(s.rows.expeditedReports.isEmpty)
    }

    @Test func anUpdateThatMakesItUnexpectedStartsTheClockAtTheUpdate() throws {
        var s = ParticipantStory.standard()
        let ae = s.add(.adverseEventReported, day: 1, Self.serious(expected: true), recordedAt: Self.reportedAt)
        #expect(s.rows.expeditedReports.isEmpty)
        s.add(.adverseEventUpdated, day: 2, ["adverse_event_id": .string(ae), "expected": false], recordedAt: Self.assessedAt)
        #expect(s.rows.adverseEvents.first?.current.expected == false, "the update is merged")
        #expect(s.rows.expeditedReports.map(\.clock.firstKnowledgeAt) == [Self.assessedAt])
    }

    @Test func theSponsorsAssessmentMakesALifeThreateningEventASUSARWithAFollowUpAndASubmissionClosesOnlyItsReport() throws {
        var s = ParticipantStory.standard()
        let ae = s.add(.adverseEventReported, day: 1, Self.serious(expected: nil, criteria: ["life_threatening"]), recordedAt: Self.reportedAt)
        #expect(s.rows.expeditedReports.isEmpty, "a v1 report does not say it is unexpected")
        s.add(.safetyAssessed, day: 3, Self.assessment(ae, susar: true), recordedBy: "sponsor", recordedAt: Self.assessedAt)
        var rows = s.rows.expeditedReports
        #expect(rows.map(\.reportID) == ["\(ae):follow_up", "\(ae):initial"])
        #expect(rows.allSatisfy { $0.classifiedBy == .sponsor && $0.clock.fatalOrLifeThreatening && $0.clock.firstKnowledgeAt == Self.assessedAt })
        #expect(rows.map(\.clock.due) == [Self.t("2026-01-23T10:00:00Z"), Self.t("2026-01-15T10:00:00Z")])
        let submitted = Self.t("2026-01-14T10:00:00Z")
        s.add(.regulatoryReportSubmitted, day: 9, ["adverse_event_id": .string(ae), "report": "initial", "recipient": "FDA"],
              recordedBy: "sponsor", recordedAt: submitted)
        rows = s.rows.expeditedReports
        try #require(rows.count == 2)
        #expect(rows[1].clock.submittedAt == submitted && rows[1].clock.submittedTo == "FDA" && !rows[1].clock.submittedLate)
        #expect(rows[0].clock.submittedAt == nil, "the follow-up is still owed")
    }

    /// The sponsor judges causality and expectedness; the site reports the outcome. A life-threatening upgrade after the
    /// assessment (a v1 update, which says nothing of expectedness) makes the sponsor's SUSAR a 7-day one with a follow-up.
    @Test func aLaterUpgradeToLifeThreateningGivesTheSponsorsSUSARTheSevenDayClock() throws {
        var s = ParticipantStory.standard()
        let ae = s.add(.adverseEventReported, day: 1, Self.serious(expected: nil), recordedAt: Self.reportedAt)
        s.add(.safetyAssessed, day: 2, Self.assessment(ae, susar: true), recordedBy: "sponsor", recordedAt: Self.assessedAt)
        #expect(s.rows.expeditedReports.map(\.clock.due) == [Self.t("2026-01-23T10:00:00Z")], "15 days while only hospitalised")
        s.add(.adverseEventUpdated, version: 1, day: 4, ["adverse_event_id": .string(ae), "seriousness_criteria": ["life_threatening"]])
        let rows = s.rows.expeditedReports
        #expect(rows.map(\.clock.report) == [.followUp, .initial])
        #expect(rows.map(\.clock.due) == [Self.t("2026-01-23T10:00:00Z"), Self.t("2026-01-15T10:00:00Z")], "day 0 stays the assessment")
        #expect(rows.allSatisfy { $0.classifiedBy == .sponsor && $0.clock.fatalOrLifeThreatening })
    }

    @Test func theSponsorsLatestAssessmentThatItIsNotASUSARRemovesTheSitesClock() {
        var s = ParticipantStory.standard()
        let ae = s.add(.adverseEventReported, day: 1, Self.serious(expected: false), recordedAt: Self.reportedAt)
        #expect(s.rows.expeditedReports.count == 1)
        s.add(.safetyAssessed, day: 3, Self.assessment(ae, susar: false, causality: "unlikely"), recordedBy: "sponsor", recordedAt: Self.assessedAt)
        #expect(s.rows.expeditedReports.isEmpty)
    }

    @Test func anAssessmentOrSubmissionOfAnotherParticipantsOrAnUnknownAdverseEventGivesNoRow() {
        var s = ParticipantStory.standard()
        s.add(.safetyAssessed, day: 3, Self.assessment("00000000-0000-4000-8000-00000000dead", susar: true), recordedBy: "sponsor")
        #expect(s.rows.expeditedReports.isEmpty)
    }

    /// The projector adds new events to a saved state: that must give what folding the whole history gives, and the
    /// state must survive its compact form.
    @Test func addingToASavedStateGivesTheRowsOfTheWholeFold() throws {
        var s = ParticipantStory.standard()
        let ae = s.add(.adverseEventReported, day: 1, Self.serious(expected: false, criteria: ["death"]).merging(["grade": 5, "outcome": "fatal"]),
                       recordedAt: Self.reportedAt)
        let protocols = s.protocols
        let before = s.events.filter { $0.participantID == s.participant }
        let (state, oldRows) = ParticipantFold.fold(participantID: s.participant, events: before, protocols: protocols)
        let saved = try ParticipantFold.State(compact: try #require(state).compact())
        #expect(oldRows.expeditedReports.count == 2)
        s.add(.regulatoryReportSubmitted, day: 2, ["adverse_event_id": .string(ae), "report": "follow_up", "recipient": "EMA"],
              recordedBy: "sponsor", recordedAt: Self.assessedAt)
        let (_, advanced) = try #require(saved.advanced(by: [s.events.last!], protocols: protocols))
        #expect(advanced.expeditedReports == s.rows.expeditedReports)
        #expect(advanced.expeditedReports.first { $0.clock.report == .followUp }?.clock.submittedTo == "EMA")
        let changes = RowChanges(participantID: s.participant, from: oldRows, to: advanced)
        #expect(changes.upserts.expeditedReports.map(\.reportID) == ["\(ae):follow_up"])
        #expect(changes.deletions[.expeditedReport] == ["\(ae):follow_up"])
    }

    @Test func onlyTheSponsorSubmitsTheSponsorsEvents() {
        for type in [EventType.safetyAssessed, .regulatoryReportSubmitted] {
            #expect(type.submitters == [.sponsor])
            #expect(type.scope == EventScope(site: .required, participant: .required))
        }
    }
}

extension JSONValue {
    func merging(_ other: [String: JSONValue]) -> JSONValue {
        .object((objectValue ?? [:]).merging(other) { _, new in new })
    }
}
