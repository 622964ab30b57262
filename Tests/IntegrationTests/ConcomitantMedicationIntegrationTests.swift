import Foundation
import Hummingbird
import HummingbirdTesting
import IngestApp
import Postgres
import Projection
import Reporting
import Simulator
import Testing
import TestSupport
import TrialDomain

/// Issue 19's medication log and rules end to end: HTTP to ingest, Kafka, the projector, the read models and the
/// participant timeline.
@Suite("concomitant medications through ingest", .serialized, .stack, .timeLimit(.minutes(4)))
struct ConcomitantMedicationIntegrationTests {
    typealias E2E = IngestHarness

    static func dose(_ at: String) -> JSONValue {
        ExampleCorpus.mergePatch(E2E.event("dose.administered", occurredAt: at, data: [
            "substance": "lsd", "amount": 10, "unit": "ug", "route": "sublingual", "supervised": true, "lot": "L1",
            "administered_by": "nurse.s01",
        ]), ["schema_version": 2])
    }

    static func medication(_ id: String, _ name: String, atc: String, startedOn: String, recorded at: String) -> JSONValue {
        E2E.event("medication.started", eventID: id, occurredAt: at, data: [
            "name": .string(name), "atc_code": .string(atc), "dose": 400, "unit": "mg", "frequency": "twice_daily",
            "indication": "bipolar disorder prophylaxis", "started_on": .string(startedOn),
        ])
    }

    /// Two doses; then lithium is entered, taken since before the first (critical on both doses, recorded late);
    /// tramadol started after the last dose fires nothing until a dose is given with it (a warning); a stable
    /// sertraline raised during dosing is an antidepressant change. An ATC code that
    /// is not one is refused with its field; a stop of lithium makes it past. The timeline shows them.
    @Test func medicationsAndTheirSignalsEndToEnd() async throws {
        let h = try await E2E.make()
        let sponsor = try await h.token(site: nil, role: .sponsor, subject: "sponsor")
        let dr = try await h.token(site: "S01", subject: "dr.s01")
        let lithium = UUID().uuidString.lowercased()
        let tramadol = UUID().uuidString.lowercased()
        let firstDose = UUID().uuidString.lowercased()
        let sertraline = UUID().uuidString.lowercased()
        let raised = UUID().uuidString.lowercased()
        try await h.app().test(.live) { client in
            func post(_ json: JSONValue, token: String) async throws -> (HTTPResponse.Status, String) {
                let response = try await client.execute(uri: "/v1/events", method: .post, headers: E2E.headers(token), body: E2E.body(json))
                return (response.status, String(buffer: response.body))
            }
            let protocolEvent: JSONValue = ["event_id": .string(UUID().uuidString), "type": "study.protocol_defined", "schema_version": 2,
                                            "study_id": "MICRO-LSD-01", "occurred_at": "2026-04-01T09:00:00Z",
                                            "data": ParticipantStory.protocolRules]
            #expect(try await post(protocolEvent, token: sponsor).0 == .accepted)
            let (refused, body) = try await post(Self.medication(UUID().uuidString, "lithium", atc: "LITHIUM", startedOn: "2026-01-01",
                                                                 recorded: "2026-05-01T09:00:00Z"), token: dr)
            #expect(refused == .unprocessableContent && body.contains("/data/atc_code"), "\(refused) \(body)")
            let events: [JSONValue] = [
                E2E.event("participant.enrolled", occurredAt: "2026-05-01T09:00:00Z",
                          data: ["consented_at": "2026-04-30T09:00:00Z", "protocol_version": "1.0"]),
                // The doses' lot is dispensed to the participant (issue 14: else each dose is out of custody too).
                E2E.event("drug.dispensed", occurredAt: "2026-05-01T10:00:00Z", data: ["lot": "L1", "quantity": 30, "unit": "ug"]),
                ExampleCorpus.mergePatch(Self.dose("2026-05-02T09:00:00Z"), ["event_id": .string(firstDose)]),
                Self.dose("2026-05-05T09:00:00Z"),
                Self.medication(lithium, "lithium carbonate", atc: "N05AN01", startedOn: "2026-03-01", recorded: "2026-05-06T09:00:00Z"),
                E2E.event("medication.stopped", occurredAt: "2026-05-06T09:05:00Z",
                          data: ["medication_id": .string(lithium), "stopped_on": "2026-05-06", "reason": "contraindicated"]),
                Self.medication(tramadol, "tramadol", atc: "N02AX02", startedOn: "2026-05-20", recorded: "2026-05-20T10:00:00Z"),
                Self.dose("2026-05-21T09:00:00Z"),
                E2E.event("medication.started", eventID: sertraline, occurredAt: "2026-05-01T09:30:00Z", data: [
                    "name": "sertraline", "atc_code": "N06AB06", "dose": 50, "unit": "mg", "frequency": "daily",
                    "indication": "depression", "started_on": "2025-06-01",
                ]),
                E2E.event("medication.changed", eventID: raised, occurredAt: "2026-05-22T09:00:00Z", data: [
                    "medication_id": .string(sertraline), "dose": 100, "unit": "mg", "frequency": "daily", "changed_on": "2026-05-22",
                ]),
            ]
            for event in events {
                let (status, body) = try await post(event, token: dr)
                #expect(status == .accepted, "\(body)")
            }
        }
        let projector = BackgroundProjector(TestStack.projectorConfiguration(databaseURL: h.databaseURL, bootstrap: h.bootstrap, topic: h.topic))
        try await projector.catchUpAndStop()
        #expect(projector.error == nil)
        let db = try PostgresConnection(url: h.databaseURL)
        #expect(try db.query("""
            SELECT s.rule, s.severity, d.administered_at::text FROM monitoring.safety_signals s
            JOIN monitoring.doses d ON d.event_id::text = s.trigger_event_id
            WHERE s.rule IN ('contraindicated_medication', 'serotonergic_combination') ORDER BY d.administered_at
            """).rows == [["contraindicated_medication", "critical", "2026-05-02 09:00:00+00"],
                          ["contraindicated_medication", "critical", "2026-05-05 09:00:00+00"],
                          ["serotonergic_combination", "warning", "2026-05-21 09:00:00+00"]])
        #expect(try db.query("""
            SELECT name, status, dose::text, changes, stopped_on::text, classes::text FROM monitoring.concomitant_medications ORDER BY name
            """).rows == [["lithium carbonate", "stopped", "400", "0", "2026-05-06", "{contraindicated}"],
                          ["sertraline", "current", "100", "1", nil, "{antidepressant}"],
                          ["tramadol", "current", "400", "0", nil, "{serotonergic}"]])
        let timeline = try ParticipantTimeline.load(db, participantID: "S01-0007").text
        #expect(timeline.contains("lithium carbonate (N05AN01) 400 mg twice_daily") && timeline.contains("medication stopped"), "\(timeline)")
        #expect(timeline.contains("current medications  tramadol 400 mg twice_daily") || timeline.contains("tramadol 400 mg twice_daily"))
        #expect(try db.query("SELECT count(*) FROM monitoring.safety_signals WHERE trigger_event_id = \(firstDose)").rows == [["1"]])
        // Sertraline taken since long before Day 1 is no change; its dose raised during dosing is (the protocol does not
        // require a stable dose: no deviation).
        #expect(try db.query("""
            SELECT trigger_event_id, severity FROM monitoring.safety_signals WHERE rule = 'antidepressant_change'
            """).rows == [[raised, "warning"]])
        #expect(try db.query("SELECT count(*) FROM monitoring.deviations").rows == [["0"]])
    }
}
