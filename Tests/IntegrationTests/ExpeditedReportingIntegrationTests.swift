import Foundation
import Hummingbird
import HummingbirdTesting
import IngestApp
import Postgres
import Projection
import Reporting
import ServiceRuntime
import Simulator
import Testing
import TestSupport
import TrialDomain

/// Issue 14, "Expedited (SUSAR) reporting", end to end: HTTP to ingest, Kafka, the projector, then
/// `monitoring.expedited_reports` (as of now), `reporter safety`'s report, and who may read what.
@Suite("SUSAR clocks through ingest", .serialized, .stack, .timeLimit(.minutes(4)))
struct ExpeditedReportingIntegrationTests {
    typealias E2E = IngestHarness

    static func seriousReport(_ id: String, expected: Bool?, criteria: [JSONValue] = ["hospitalisation"], at now: Timestamp) -> JSONValue {
        var data: [String: JSONValue] = ["term": "Hepatitis", "onset_at": .string(now.adding(days: -2).rfc3339), "grade": 3, "serious": true,
                                         "seriousness_criteria": .array(criteria), "causality": "probable",
                                         "action_taken": "dose_interrupted", "outcome": "recovering"]
        if let expected { data["expected"] = .bool(expected) }
        let event = E2E.event("adverse_event.reported", eventID: id, occurredAt: now.adding(days: -1).rfc3339, data: .object(data))
        return expected == nil ? event : ExampleCorpus.mergePatch(event, ["schema_version": 2])
    }

    /// A site's unexpected serious suspected reaction (v2) gets a 15-day clock; an expected one (v2) gets none; a v1
    /// life-threatening report gets two once the sponsor assesses it a SUSAR, and the sponsor's submission closes the
    /// initial one. A site may not send the sponsor's events, and an "expected SUSAR" is refused at its field.
    @Test func siteAndSponsorClassificationsGiveClocksAndTheViewSaysWhatIsOwedAsOfNow() async throws {
        let h = try await E2E.make()
        let sponsor = try await h.token(site: nil, role: .sponsor, subject: "sponsor.safety")
        let dr = try await h.token(site: "S01", subject: "dr.s01")
        let now = IngestService.systemClock()
        let unexpected = UUID().uuidString.lowercased()
        let expected = UUID().uuidString.lowercased()
        let lifeThreatening = UUID().uuidString.lowercased()
        try await h.app().test(.live) { client in
            func post(_ json: JSONValue, _ token: String) async throws -> (HTTPResponse.Status, String) {
                let response = try await client.execute(uri: "/v1/events", method: .post, headers: E2E.headers(token), body: E2E.body(json))
                return (response.status, String(buffer: response.body))
            }
            #expect(try await post(SafetyRulesIntegrationTests.protocolEvent(), sponsor).0 == .accepted)
            for event in [
                E2E.event("participant.enrolled", occurredAt: now.adding(days: -10).rfc3339,
                          data: ["consented_at": .string(now.adding(days: -11).rfc3339), "protocol_version": "1.0"]),
                E2E.event("participant.randomized", occurredAt: now.adding(days: -9).rfc3339, data: ["kit_number": "K-7", "arm": "lsd-10ug"]),
                Self.seriousReport(unexpected, expected: false, at: now),
                Self.seriousReport(expected, expected: true, at: now),
                Self.seriousReport(lifeThreatening, expected: nil, criteria: ["life_threatening"], at: now),
            ] {
                let (status, body) = try await post(event, dr)
                #expect(status == .accepted, "\(body)")
            }
            let assessment = E2E.event("safety.assessed", occurredAt: now.rfc3339, data: [
                "adverse_event_id": .string(lifeThreatening), "causality": "probable", "expected": false, "susar": true])
            let (bySite, siteBody) = try await post(assessment, dr)
            #expect(bySite == .forbidden && siteBody.contains("sponsor"), "\(bySite) \(siteBody)")
            let contradictory = ExampleCorpus.mergePatch(assessment, ["event_id": .string(UUID().uuidString), "data": ["expected": true]])
            let (refused, refusal) = try await post(contradictory, sponsor)
            #expect(refused == .unprocessableContent && refusal.contains("/data/susar"), "\(refused) \(refusal)")
            #expect(try await post(assessment, sponsor).0 == .accepted)
            let submission = E2E.event("regulatory_report.submitted", occurredAt: now.rfc3339, data: [
                "adverse_event_id": .string(lifeThreatening), "report": "initial", "recipient": "FDA", "reference": "SR-1"])
            #expect(try await post(submission, sponsor).0 == .accepted)
        }
        let projector = BackgroundProjector(TestStack.projectorConfiguration(databaseURL: h.databaseURL, bootstrap: h.bootstrap, topic: h.topic))
        try await projector.catchUpAndStop()
        #expect(projector.error == nil)
        let db = try PostgresConnection(url: h.databaseURL)
        let rows = try db.query("""
            SELECT report_id, classified_by, fatal_or_life_threatening, status, days_left, overdue, submitted_to, submitted_late,
                   due - day_zero = interval '15 days' OR (report = 'initial' AND fatal_or_life_threatening AND due - day_zero = interval '7 days')
            FROM monitoring.expedited_reports
            """).rows
        let wanted: [[String?]] = [
            ["\(lifeThreatening):follow_up", "sponsor", "t", "due", "14", "f", nil, "f", "t"],
            ["\(lifeThreatening):initial", "sponsor", "t", "submitted", nil, "f", "FDA", "f", "t"],
            ["\(unexpected):initial", "site", "f", "due", "14", "f", nil, "f", "t"],
        ]
        #expect(rows.sorted { $0[0]! < $1[0]! } == wanted.sorted { $0[0]! < $1[0]! }, "the expected event (\(expected)) has no clock")
        // What the site said of expectedness, NULL for the v1 report that did not say.
        let expectedness = try db.query("SELECT event_id::text, expected FROM monitoring.adverse_events").rows
        #expect(Set(expectedness) == [[unexpected, "f"], [expected, "t"], [lifeThreatening, nil]])

        // As of now: the same facts 20 days older are overdue, with whole days left counted down (as the pure clock).
        try db.execute(unsafeSQL: """
            UPDATE monitoring.expedited_report_clocks SET day_zero = day_zero - interval '20 days', due = due - interval '20 days'
            WHERE report_id = '\(unexpected):initial'
            """)
        #expect(try db.query("SELECT status, days_left, overdue FROM monitoring.expedited_reports WHERE report_id = \("\(unexpected):initial")").rows
                == [["overdue", "-6", "t"]])
        let report = try ExpeditedReportsReport.load(db)
        #expect(report.reports.map(\.reportID) == ["\(unexpected):initial", "\(lifeThreatening):follow_up", "\(lifeThreatening):initial"],
                "overdue first, then owed by due date, then submitted")
        #expect(report.text.contains("OVERDUE") && report.text.contains("to FDA"), "\(report.text)")
        #expect(try ExpeditedReportsReport.load(db, owedOnly: true).reports.count == 2)
        guard case .array(let items) = report.json else { Issue.record("reporter safety --json is not an array"); return }
        #expect(items.first?["days_left"] == .number(-6))

        // Monitors read the view, never an arm; the arms next to the reports are for trial_unblinded only.
        let monitor = try DatabaseRoleTests.login(h.databaseURL, as: .monitor)
        #expect(try DatabaseRoleTests.count(monitor, "monitoring.expedited_reports") == 3)
        #expect(try monitor.query("""
            SELECT column_name FROM information_schema.columns
            WHERE table_schema = 'monitoring' AND table_name LIKE 'expedited_report%' AND column_name LIKE '%arm%'
            """).isEmpty)
        DatabaseRoleTests.expectRefused(monitor, "SELECT * FROM unblinded.expedited_report_arms")
        var forMonitor = report
        #expect(throws: (any Error).self, "a monitor cannot unblind the reports") { try forMonitor.revealArms(monitor) }
        #expect(!report.text.contains("lsd-10ug") && !CanonicalJSON.string(report.json).contains("\"arm\""), "blind unless revealed")
        let unblinded = try DatabaseRoleTests.login(h.databaseURL, as: .unblinded)
        #expect(try DatabaseRoleTests.count(unblinded, "unblinded.expedited_report_arms") == 3)
        // reporter safety --unblinded: the read is recorded first, once per participant shown.
        var revealed = report
        try revealed.revealArms(unblinded, reason: "SUSAR report to the FDA")
        #expect(revealed.arms?.count == 3 && revealed.arms?.values.allSatisfy { $0 == "lsd-10ug" } == true)
        #expect(revealed.text.contains("ARM (unblinded)") && revealed.text.contains("lsd-10ug"), "\(revealed.text)")
        #expect(try db.query("SELECT participant_id, command, reason FROM audit.unblinded_access").rows
                == [["S01-0007", "reporter safety --unblinded", "SUSAR report to the FDA"]])
    }
}
