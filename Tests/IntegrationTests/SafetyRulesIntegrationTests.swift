import Foundation
import Hummingbird
import HummingbirdTesting
import IngestApp
import Postgres
import Projection
import Simulator
import Testing
import TestSupport
import TrialDomain

/// Issue 14's rules end to end: HTTP to ingest, Kafka, the projector, then the read models.
@Suite("safety rules through ingest", .serialized, .stack, .timeLimit(.minutes(4)))
struct SafetyRulesIntegrationTests {
    typealias E2E = IngestHarness

    static func post(_ client: some TestClientProtocol, _ json: JSONValue, token: String) async throws -> (HTTPResponse.Status, String) {
        let response = try await client.execute(uri: "/v1/events", method: .post, headers: E2E.headers(token), body: E2E.body(json))
        return (response.status, String(buffer: response.body))
    }

    static func protocolEvent(item9: Int = 1) -> JSONValue {
        var rules = ParticipantStory.protocolRules.objectValue!
        var thresholds = rules["safety_thresholds"]!.objectValue!
        thresholds["phq9_item9_min"] = .number(Double(item9))
        rules["safety_thresholds"] = .object(thresholds)
        return ["event_id": .string(UUID().uuidString), "type": "study.protocol_defined", "schema_version": 2, "study_id": "MICRO-LSD-01",
                "occurred_at": "2026-04-01T09:00:00Z", "data": .object(rules)]
    }

    /// An AE reported 4 days ago and updated to serious 3 days ago: the sponsor deadline is 24 h after the update, in the
    /// signal and in adverse_events alike. A monitor acknowledges it now with a backdated occurred_at: the
    /// acknowledgement counts at the server's recorded_at, and the SAE stays reported late. A C-SSRS v2 with a remote
    /// attempt only is a warning; QIDS-SR16 item 12 of 2 is critical; a protocol with phq9_item9_min 2 is refused.
    @Test func saeClockSuicidalityAndThresholdsEndToEnd() async throws {
        let h = try await E2E.make()
        let sponsor = try await h.token(site: nil, role: .sponsor, subject: "sponsor")
        let dr = try await h.token(site: "S01", subject: "dr.s01")
        let monitor = try await h.token(site: nil, role: .monitor, subject: "monitor.mo")
        let now = IngestService.systemClock()
        let aeID = UUID().uuidString.lowercased()
        let updatedAt = now.adding(days: -3)
        let qidsItems = (0..<16).map { JSONValue.number($0 == 11 ? 2 : 0) }
        try await h.app().test(.live) { client in
            let (refused, body) = try await Self.post(client, Self.protocolEvent(item9: 2), token: sponsor)
            #expect(refused == .unprocessableContent && body.contains("/data/safety_thresholds/phq9_item9_min"), "\(refused) \(body)")
            #expect(try await Self.post(client, Self.protocolEvent(), token: sponsor).0 == .accepted)
            let events: [JSONValue] = [
                E2E.event("participant.enrolled", occurredAt: now.adding(days: -10).rfc3339,
                          data: ["consented_at": .string(now.adding(days: -11).rfc3339), "protocol_version": "1.0"]),
                E2E.event("adverse_event.reported", eventID: aeID, occurredAt: now.adding(days: -4).rfc3339,
                          data: ["term": "Syncope", "onset_at": .string(now.adding(days: -5).rfc3339), "grade": 2, "serious": false,
                                 "seriousness_criteria": [], "causality": "possible", "action_taken": "none", "outcome": "recovering"]),
                E2E.event("adverse_event.updated", occurredAt: updatedAt.rfc3339,
                          data: ["adverse_event_id": .string(aeID), "grade": 3, "serious": true, "seriousness_criteria": ["hospitalisation"]]),
                ExampleCorpus.mergePatch(E2E.event("assessment.completed", occurredAt: now.adding(days: -2).rfc3339, data: [
                    "instrument": "cssrs_screen", "items": [false, false, .null, .null, .null, true, false]]), ["schema_version": 2]),
                ExampleCorpus.mergePatch(E2E.event("assessment.completed", occurredAt: now.adding(days: -1).rfc3339, data: [
                    "instrument": "qids_sr16", "items": .array(qidsItems), "total": 2]), ["schema_version": 2]),
            ]
            for event in events {
                let (status, body) = try await Self.post(client, event, token: dr)
                #expect(status == .accepted, "\(body)")
            }
            let backdated = E2E.event("signal.acknowledged", occurredAt: updatedAt.adding(seconds: 3_600).rfc3339,
                                      data: ["signal_id": .string("serious_adverse_event:\(aeID)"), "note": "sponsor told"])
            #expect(try await Self.post(client, backdated, token: monitor).0 == .accepted)
        }
        let projector = BackgroundProjector(TestStack.projectorConfiguration(databaseURL: h.databaseURL, bootstrap: h.bootstrap, topic: h.topic))
        try await projector.catchUpAndStop()
        #expect(projector.error == nil)
        let db = try PostgresConnection(url: h.databaseURL)
        let due = updatedAt.adding(seconds: 86_400).rfc3339
        #expect(try db.query("""
            SELECT a.sponsor_notification_due = g.deadline, a.sponsor_notification_due = \(due)::timestamptz
            FROM monitoring.adverse_events a JOIN monitoring.safety_signals g ON g.trigger_event_id = a.event_id::text
            WHERE g.rule = 'serious_adverse_event'
            """).rows == [["t", "t"]])
        #expect(try db.query("""
            SELECT status, reported_late, past_deadline, acknowledged_at > deadline FROM monitoring.sae_deadlines
            """).rows == [["acknowledged", "t", "f", "t"]])
        #expect(try db.query("""
            SELECT severity, details FROM monitoring.safety_signals WHERE rule = 'suicidality' ORDER BY severity
            """).rows == [["critical", "QIDS-SR16 item 12 (thoughts of death or suicide) scored 2"],
                          ["warning", "C-SSRS screen: moderate risk, yes to Q6 (lifetime only)"]])
        #expect(try db.query("SELECT items FROM monitoring.assessments WHERE instrument = 'cssrs_screen'").rows == [["{0,0,NULL,NULL,NULL,1,0}"]])
    }
}
