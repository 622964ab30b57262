import Foundation
import Hummingbird
import HummingbirdTesting
import IngestApp
import Postgres
import Projection
import ServiceRuntime
import Simulator
import Testing
import TestSupport
import TrialDomain

/// Issue 14, Schedule I chain of custody, as sites and monitors meet it: HTTP to ingest, Kafka, the projector, then the
/// read models through each role's own database login.
@Suite("chain of custody through ingest", .serialized, .stack, .timeLimit(.minutes(4)))
struct ChainOfCustodyIntegrationTests {
    typealias E2E = IngestHarness

    static func siteEvent(_ type: String, site: String = "S01", occurredAt: String, _ data: JSONValue) -> JSONValue {
        ["event_id": .string(UUID().uuidString), "type": .string(type), "schema_version": 1, "study_id": "MICRO-LSD-01",
         "site_id": .string(site), "occurred_at": .string(occurredAt), "data": data]
    }

    static func dose(_ at: String) -> JSONValue {
        E2E.event("dose.administered", occurredAt: at, data: ["substance": "lsd", "amount": 8, "unit": "ug", "route": "sublingual",
                                                              "supervised": true, "lot": "LSD-ARM-B", "administered_by": "nurse"])
    }

    static func post(_ client: some TestClientProtocol, _ json: JSONValue, token: String) async throws -> (HTTPResponse.Status, String) {
        let response = try await client.execute(uri: "/v1/events", method: .post, headers: E2E.headers(token), body: E2E.body(json))
        return (response.status, String(buffer: response.body))
    }

    @Test func dosesCountsAndLossesAreHeldToTheChainOfCustody() async throws {
        let h = try await E2E.make()
        let sponsor = try await h.token(site: nil, role: .sponsor, subject: "sponsor")
        let dr = try await h.token(site: "S01", subject: "dr.s01")
        let staffS02 = try await h.token(site: "S02", role: .siteStaff, subject: "staff.s02")
        let monitorToken = try await h.token(site: nil, role: .monitor, subject: "monitor.m")
        let protocolEvent: JSONValue = ["event_id": .string(UUID().uuidString), "type": "study.protocol_defined", "schema_version": 2,
                                        "study_id": "MICRO-LSD-01", "occurred_at": "2026-04-01T09:00:00Z", "data": ParticipantStory.protocolRules]
        let firstDose = Self.dose("2026-05-04T09:00:00Z")
        let expiredDose = Self.dose("2026-05-12T09:00:00+02:00")  // the lot expires on 2026-05-11
        let loss = Self.siteEvent("drug.lost", occurredAt: "2026-05-13T11:00:00+02:00", [
            "lot": "LSD-ARM-B", "quantity": 24, "unit": "ug", "kind": "theft", "discovered_at": "2026-05-13T10:00:00+02:00",
            "description": "blister pack missing"])
        // 1000 received − 16 dispensed (entered late, below) − 24 lost.
        let count = Self.siteEvent("drug.counted", occurredAt: "2026-05-13T12:00:00+02:00", [
            "lot": "LSD-ARM-B", "quantity": 960, "unit": "ug", "counted_by": "pharmacist.s01", "witnessed_by": "dr.s01"])
        try await h.app().test(.live) { client in
            #expect(try await Self.post(client, protocolEvent, token: sponsor).0 == .accepted)
            for event in [
                Self.siteEvent("drug.received", occurredAt: "2026-04-20T09:00:00Z", [
                    "lot": "LSD-ARM-B", "substance": "lsd", "quantity": 1000, "unit": "ug", "supplier": "P", "expires_on": "2026-05-11"]),
                E2E.event("participant.enrolled", occurredAt: "2026-05-01T09:00:00Z",
                          data: ["consented_at": "2026-04-30T10:00:00Z", "protocol_version": "1.0"]),
                firstDose, expiredDose, loss, count,
            ] {
                let (status, body) = try await Self.post(client, event, token: dr)
                #expect(status == .accepted, "\(body)")
            }
            // Who may send them, and a count witnessed by the one who counted.
            let (selfWitnessed, problem) = try await Self.post(client, ExampleCorpus.mergePatch(count, [
                "event_id": .string(UUID().uuidString), "data": ["witnessed_by": "pharmacist.s01"]]), token: dr)
            #expect(selfWitnessed == .unprocessableContent && problem.contains("/data/witnessed_by"))
            #expect(try await Self.post(client, ExampleCorpus.mergePatch(loss, ["event_id": .string(UUID().uuidString)]), token: staffS02).0
                == .forbidden)
            #expect(try await Self.post(client, ExampleCorpus.mergePatch(count, ["event_id": .string(UUID().uuidString)]), token: monitorToken).0
                == .forbidden)
            let configuration = TestStack.projectorConfiguration(databaseURL: h.databaseURL, bootstrap: h.bootstrap, topic: h.topic)
            try await BackgroundProjector(configuration).catchUpAndStop()
            let monitor = try PostgresConnection(url: TestStack.url(h.databaseURL, user: DatabaseRole.monitor.rawValue))
            func custodySignals() throws -> [String: [String?]] {
                var signals: [String: [String?]] = [:]
                for row in try monitor.query("""
                    SELECT rule, trigger_event_id, participant_id, severity, status, details FROM monitoring.safety_signals
                    WHERE rule IN ('expired_lot_used', 'undispensed_lot_used', 'inventory_discrepancy', 'drug_loss') ORDER BY 1, 2
                    """).rows {
                    signals[row[0]! + ":" + row[1]!] = Array(row[2...])
                }
                return signals
            }
            let eventID = { (event: JSONValue) in event["event_id"]!.stringValue!.lowercased() }
            let before = try custodySignals()
            #expect(Set(before.keys) == ["undispensed_lot_used:\(eventID(firstDose))", "undispensed_lot_used:\(eventID(expiredDose))",
                                         "expired_lot_used:\(eventID(expiredDose))", "inventory_discrepancy:\(eventID(count))",
                                         "drug_loss:\(eventID(loss))"])
            #expect(before["expired_lot_used:\(eventID(expiredDose))"]?[0...2] == ["S01-0007", "critical", "open"])
            #expect(before["drug_loss:\(eventID(loss))"]?[0...2] == [nil, "critical", "open"])
            for (_, row) in before {
                for revealing in ["LSD", "ARM", " ug", "lsd", "960", "976", " 24 "] { #expect(row[3]?.contains(revealing) == false, "\(row[3] ?? "")") }
            }
            // Discovered Wednesday 2026-05-13 (+02:00): due by the end of Thursday there; past by now.
            #expect(try monitor.query("SELECT notification_due, overdue FROM monitoring.drug_loss_notifications").rows
                == [["2026-05-14 22:00:00+00", "t"]])

            // The dispensing, entered now but dated before both doses, resolves what it covers.
            let dispensed = E2E.event("drug.dispensed", occurredAt: "2026-05-01T10:00:00Z", data: ["lot": "LSD-ARM-B", "quantity": 16, "unit": "ug"])
            let (status, body) = try await Self.post(client, dispensed, token: dr)
            #expect(status == .accepted, "\(body)")
            try await BackgroundProjector(configuration).catchUpAndStop()
            #expect(Set(try custodySignals().keys) == ["expired_lot_used:\(eventID(expiredDose))", "drug_loss:\(eventID(loss))"])
            let unblinded = try PostgresConnection(url: TestStack.url(h.databaseURL, user: DatabaseRole.unblinded.rawValue))
            #expect(try unblinded.query("SELECT expected_balance::text, discrepancy FROM unblinded.drug_counts").rows == [["960", nil]])
            #expect(try unblinded.query("""
                SELECT participant_id, dispensed::text, administered::text, returned::text, balance::text FROM unblinded.participant_accountability
                """).rows == [["S01-0007", "16", "16", "0", "0"]])
            #expect(try unblinded.query("SELECT lost::text, balance::text FROM unblinded.drug_accountability").rows == [["24", "960"]])
        }
    }
}
