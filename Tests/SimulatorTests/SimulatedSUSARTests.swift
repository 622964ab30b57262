import Simulator
import Testing
@testable import TrialDomain

/// Issue 14: the simulated study has one SUSAR, which the sponsor assesses and reports, so the demo shows a clock.
@Suite("Simulated study: one SUSAR")
struct SimulatedSUSARTests {
    @Test func theSeriousEventIsAnUnexpectedReactionTheSponsorAssessesAndReports() throws {
        let configuration = StudySimulator.Configuration(start: Timestamp(rfc3339: "2026-01-05T00:00:00Z")!)
        let validator = EventValidator()
        let later = Timestamp(rfc3339: "2026-06-01T00:00:00Z")!
        let events = try StudySimulator(configuration: configuration).submissions().map {
            try validator.validateSubmission($0.json, recordedAt: later, recordedBy: $0.sender).get()
        }
        let assessments = events.filter { $0.type == .safetyAssessed }
        let submissions = events.filter { $0.type == .regulatoryReportSubmitted }
        try #require(assessments.count == 1 && submissions.count == 1)
        guard case .safetyAssessed(let assessment) = assessments[0].payload,
              case .regulatoryReportSubmitted(let submission) = submissions[0].payload else { Issue.record("payloads"); return }
        #expect(assessment.susar && submission.adverseEventID == assessment.adverseEventID && submission.report == .initial)
        #expect(assessments[0].recordedBy == "sponsor" && submissions[0].recordedBy == "sponsor")
        let report = try #require(events.first { $0.eventID == assessment.adverseEventID })
        #expect(report.schemaVersion == 2)
        guard case .adverseEventReported(let ae) = report.payload else { Issue.record("not a report"); return }
        #expect(ae.serious && ae.expected == false)
        // Through the fold: one initial report, submitted.
        let participant = try #require(report.participantID)
        let rows = ParticipantFold.rows(participantID: participant, events: events.filter { $0.participantID == participant },
                                        protocols: ProtocolHistory(events: events.filter { $0.siteID == nil }))
        #expect(rows.expeditedReports.map(\.clock.report) == [.initial])
        #expect(rows.expeditedReports.first?.clock.submittedTo == "FDA")
        // Every other adverse event reported is not a SUSAR.
        #expect(events.filter { $0.type == .adverseEventReported }.count > 1)
    }
}
