import Foundation
import Hummingbird
import HummingbirdTesting
import IngestApp
import NIOCore
import Postgres
import Projection
import ServiceRuntime
import Simulator
import Testing
import TestSupport
import TrialAuth
import TrialDomain

/// The reproductions of issue 11, each as a client would try it: HTTP to ingest, Kafka, the projector, then the
/// read models as a monitor's own database login sees them. On the main of 2026-11-28 each of them got through.
@Suite("trust holes through ingest", .serialized, .stack, .timeLimit(.minutes(4)))
struct TrustHoleIntegrationTests {
    typealias E2E = IngestHarness

    static let protocolEventID = "1b5b1a8e-6c1f-4a4e-9a55-3f1f7c2b9d10"

    static func protocolEvent() -> JSONValue {
        ["event_id": .string(protocolEventID), "type": "study.protocol_defined", "schema_version": 2, "study_id": "MICRO-LSD-01",
         "occurred_at": "2026-04-01T09:00:00Z", "data": ParticipantStory.protocolRules]
    }

    static func enrolledWithDose(_ participant: String, amount: Double, doseID: String = UUID().uuidString) -> [JSONValue] {
        [E2E.event("participant.enrolled", participant: participant, occurredAt: "2026-05-01T09:00:00Z",
                   data: ["consented_at": "2026-04-30T10:00:00Z", "protocol_version": "1.0"]),
         E2E.event("dose.administered", participant: participant, eventID: doseID, occurredAt: "2026-05-02T09:00:00Z",
                   data: ["substance": "lsd", "amount": .number(amount), "unit": "ug", "route": "sublingual", "supervised": true,
                          "lot": "L1", "administered_by": "nurse"])]
    }

    static func post(_ client: some TestClientProtocol, _ json: JSONValue, token: String) async throws -> (HTTPResponse.Status, String) {
        let response = try await client.execute(uri: "/v1/events", method: .post, headers: E2E.headers(token), body: E2E.body(json))
        return (response.status, String(buffer: response.body))
    }

    /// A version 2 void of an S01-0007 event of `type`.
    static func void(_ type: String) -> JSONValue {
        ExampleCorpus.mergePatch(E2E.event("event.voided", data: [
            "voided_event_id": .string(UUID().uuidString), "voided_type": .string(type), "reason": "x"]), ["schema_version": 2])
    }

    static func monitor(_ url: String) throws -> PostgresConnection {
        try PostgresConnection(url: TestStack.url(url, user: DatabaseRole.monitor.rawValue))
    }

    /// 1. A site_staff token for S02 voided the protocol (no site_id): the version vanished and the dose rules stopped
    /// firing for every site; with `event.corrected` it could raise `max_dose`. Now both are refused, the protocol
    /// stays, and a dose above its maximum at S01 still raises its signal.
    @Test func aSiteTokenCannotSilenceTheStudysSafetyRules() async throws {
        let h = try await E2E.make()
        let sponsor = try await h.token(site: nil, role: .sponsor, subject: "sponsor")
        let staffS02 = try await h.token(site: "S02", role: .siteStaff, subject: "staff.s02")
        let investigatorS01 = try await h.token(site: "S01", subject: "dr.s01")
        var raised = ParticipantStory.protocolRules.objectValue!
        raised["substances"] = [["substance": "lsd", "units": ["ug"], "min_dose": 5, "max_dose": 500, "max_titration_step": 500]]
        let reproductionV1: JSONValue = [
            "event_id": .string(UUID().uuidString), "type": "event.voided", "schema_version": 1, "study_id": "MICRO-LSD-01",
            "occurred_at": .string(IngestService.systemClock().rfc3339),
            "data": ["voided_event_id": .string(Self.protocolEventID), "reason": "x"]]
        let voidV2 = ExampleCorpus.mergePatch(reproductionV1, ["schema_version": 2, "data": ["voided_type": "study.protocol_defined"]])
        let correction: JSONValue = [
            "event_id": .string(UUID().uuidString), "type": "event.corrected", "schema_version": 1, "study_id": "MICRO-LSD-01",
            "occurred_at": .string(IngestService.systemClock().rfc3339),
            "data": ["corrected_event_id": .string(Self.protocolEventID), "corrected_type": "study.protocol_defined",
                     "reason": "x", "data": .object(raised)]]
        try await h.app().test(.live) { client in
            #expect(try await Self.post(client, Self.protocolEvent(), token: sponsor).0 == .accepted)
            for event in Self.enrolledWithDose("S01-0007", amount: 40) {
                let status = try await Self.post(client, event, token: investigatorS01).0
                #expect(status == .accepted)
            }
            let (v1Status, v1Body) = try await Self.post(client, reproductionV1, token: staffS02)
            #expect(v1Status == .unprocessableContent && v1Body.contains("/schema_version"), "\(v1Status) \(v1Body)")
            for attempt in [voidV2, correction, ExampleCorpus.mergePatch(voidV2, ["site_id": "S02"])] {
                let (status, body) = try await Self.post(client, attempt, token: staffS02)
                #expect(status == .forbidden || status == .unprocessableContent, "\(status) \(body)")
            }
            let (status, body) = try await Self.post(client, correction, token: staffS02)
            #expect(status == .forbidden && body.contains("may not change 'study.protocol_defined' events"), "\(status) \(body)")
        }
        #expect(try TestStack.eventsInLog(topic: h.topic) == 3, "only the protocol, the enrolment and the dose were appended")
        let projector = BackgroundProjector(TestStack.projectorConfiguration(databaseURL: h.databaseURL, bootstrap: h.bootstrap, topic: h.topic))
        try await projector.catchUpAndStop()
        let monitor = try Self.monitor(h.databaseURL)
        #expect(try monitor.query("SELECT protocol_version FROM monitoring.protocol_versions").rows == [["1.0"]])
        #expect(try monitor.query("SELECT rule, status FROM monitoring.safety_signals WHERE participant_id = 'S01-0007' AND rule = 'dose_above_max'")
            .rows == [["dose_above_max", "open"]])
    }

    /// 1. Also: site staff corrected `participant.randomized` (the arm changed), voided `unblinding.performed`,
    /// corrected a monitor's acknowledgement; a sponsor corrected a site's clinical data.
    @Test func changesAreAuthorizedAsTheEventTheyChange() async throws {
        let h = try await E2E.make()
        let staff = try await h.token(site: "S01", role: .siteStaff, subject: "staff.s01")
        let sponsor = try await h.token(site: nil, role: .sponsor, subject: "sponsor")
        let correctArm = E2E.event("event.corrected", data: [
            "corrected_event_id": .string(UUID().uuidString), "corrected_type": "participant.randomized", "reason": "x",
            "data": ["kit_number": "K-1", "arm": "microdose"]])
        try await h.app().test(.live) { client in
            for (attempt, token) in [(correctArm, staff), (Self.void("unblinding.performed"), staff),
                                     (Self.void("signal.acknowledged"), staff), (Self.void("dose.administered"), sponsor),
                                     (Self.void("assessment.completed"), sponsor)] {
                let (status, body) = try await Self.post(client, attempt, token: token)
                #expect(status == .forbidden && body.contains("may not change"), "\(status) \(body)")
            }
        }
        #expect(try TestStack.eventsInLog(topic: h.topic) == 0)
    }

    /// 1. The projector applies a change only to an event of the same study, site and participant and of the type
    /// it names; otherwise a row and an `invalid_correction` signal show it to monitors.
    @Test func aMismatchedChangeIsVisibleAndChangesNothing() async throws {
        let h = try await E2E.make()
        let dr = try await h.token(site: "S01", subject: "dr.s01")
        let doseID = UUID().uuidString.lowercased()
        let wrongType = ExampleCorpus.mergePatch(E2E.event("event.voided", data: [
            "voided_event_id": .string(doseID), "voided_type": "vitals.recorded", "reason": "x"]), ["schema_version": 2])
        let otherParticipant = ExampleCorpus.mergePatch(E2E.event("event.voided", participant: "S01-0008", data: [
            "voided_event_id": .string(doseID), "voided_type": "dose.administered", "reason": "x"]), ["schema_version": 2])
        try await h.app().test(.live) { client in
            for event in Self.enrolledWithDose("S01-0007", amount: 8, doseID: doseID) + Self.enrolledWithDose("S01-0008", amount: 8) {
                let status = try await Self.post(client, event, token: dr).0
                #expect(status == .accepted)
            }
            for change in [wrongType, otherParticipant] {
                let status = try await Self.post(client, change, token: dr).0
                #expect(status == .accepted)
            }
        }
        let projector = BackgroundProjector(TestStack.projectorConfiguration(databaseURL: h.databaseURL, bootstrap: h.bootstrap, topic: h.topic))
        try await projector.catchUpAndStop()
        let monitor = try Self.monitor(h.databaseURL)
        #expect(try monitor.query("SELECT count(*) FROM monitoring.doses WHERE event_id = \(doseID)::uuid").rows == [["1"]])
        let refused = try monitor.query("""
            SELECT participant_id, in_effect, refusal IS NOT NULL FROM monitoring.corrections ORDER BY participant_id
            """)
        #expect(refused.rows == [["S01-0007", "f", "t"], ["S01-0008", "f", "t"]])
        let signals = try monitor.query("""
            SELECT participant_id, severity, status FROM monitoring.safety_signals WHERE rule = 'invalid_correction' ORDER BY participant_id
            """)
        #expect(signals.rows == [["S01-0007", "warning", "open"], ["S01-0008", "warning", "open"]])
    }

    /// 2. A valid token with a 250-character subject got a 202 for its event, which then halted the projector for
    /// everyone. Now the token is refused, naming the claim.
    @Test func aTokenSubjectThatCannotBeStoredIsRefused() async throws {
        let h = try await E2E.make()
        let long = try await h.token(site: "S01", subject: String(repeating: "x", count: 250) + "@hospital.example")
        let missed = E2E.event("dose.missed", data: ["reason": "participant_unavailable"])
        try await h.app().test(.live) { client in
            let (status, body) = try await Self.post(client, missed, token: long)
            #expect(status == .unauthorized && body.contains("subject (sub)"), "\(status) \(body)")
        }
        #expect(try TestStack.eventsInLog(topic: h.topic) == 0)
    }

    /// 2. Ingest may allow up to a day of clock skew; the projector re-checked `occurred_at` against 300 s and halted.
    @Test func theProjectorNeverReappliesTheClockSkew() async throws {
        let h = try await E2E.make()
        let dr = try await h.token(site: "S01", subject: "dr.s01")
        let ahead = IngestService.systemClock().adding(seconds: 1_800).rfc3339
        let missed = E2E.event("dose.missed", occurredAt: ahead, data: ["reason": "participant_unavailable"])
        try await h.app { $0.clockSkewSeconds = 3_600 }.test(.live) { client in
            let status = try await Self.post(client, missed, token: dr).0
                #expect(status == .accepted)
        }
        let projector = BackgroundProjector(TestStack.projectorConfiguration(databaseURL: h.databaseURL, bootstrap: h.bootstrap, topic: h.topic))
        try await projector.catchUpAndStop()
        #expect(projector.error == nil)
        #expect(try PostgresConnection(url: h.databaseURL).query("SELECT count(*) FROM audit.events").rows == [["1"]])
    }

    /// 4. A monitor assigned to some sites acknowledges only their signals (study-wide without a claim).
    @Test func aMonitorsSiteScopeLimitsAcknowledgements() async throws {
        let h = try await E2E.make()
        let assigned = try await h.authority.mint(subject: "mo", site: nil, role: .monitor, sites: ["S01"])
        let studyWide = try await h.token(site: nil, role: .monitor, subject: "lead")
        @Sendable func acknowledgement(_ participant: String) -> JSONValue {
            E2E.event("signal.acknowledged", participant: participant,
                      data: ["signal_id": .string("dose_above_max:\(UUID().uuidString.lowercased())"), "note": "seen"])
        }
        try await h.app().test(.live) { client in
            #expect(try await Self.post(client, acknowledgement("S01-0007"), token: assigned).0 == .accepted)
            let (status, body) = try await Self.post(client, acknowledgement("S02-0001"), token: assigned)
            #expect(status == .forbidden && body.contains("/site_id"), "\(status) \(body)")
            #expect(try await Self.post(client, acknowledgement("S02-0001"), token: studyWide).0 == .accepted)
        }
    }

    /// 4. `monitoring.doses.substance` showed `caffeine`, the active placebo: the arm. In a study whose placebo arm
    /// takes caffeine, no table or view a monitor can read holds the product, its amount, unit, route or lot.
    @Test func aMonitorCannotReadTheArmThroughTheActivePlacebo() async throws {
        let h = try await E2E.make()
        let sponsor = try await h.token(site: nil, role: .sponsor, subject: "sponsor")
        let dr = try await h.token(site: "S01", subject: "dr.s01")
        var rules = ParticipantStory.protocolRules.objectValue!
        rules["substances"] = [["substance": "lsd", "units": ["ug"], "min_dose": 5, "max_dose": 15, "max_titration_step": 1],
                               ["substance": "caffeine", "units": ["mg"], "min_dose": 50, "max_dose": 300, "max_titration_step": 500]]
        let defined = ExampleCorpus.mergePatch(Self.protocolEvent(), ["data": ["substances": rules["substances"]!]])
        let placebo = E2E.event("dose.administered", participant: "S01-0008", occurredAt: "2026-05-02T09:00:00Z",
                                data: ["substance": "caffeine", "amount": 400, "unit": "mg", "route": "oral", "supervised": true,
                                       "lot": "CAF-PLACEBO-7", "administered_by": "nurse"])
        let received = ["event_id": .string(UUID().uuidString), "type": "drug.received", "schema_version": 1, "study_id": "MICRO-LSD-01",
                        "site_id": "S01", "occurred_at": "2026-04-20T09:00:00Z",
                        "data": ["lot": "CAF-PLACEBO-7", "substance": "caffeine", "quantity": 5000, "unit": "mg", "supplier": "P",
                                 "expires_on": "2028-01-01"]] as JSONValue
        let dispensed = E2E.event("drug.dispensed", participant: "S01-0008", occurredAt: "2026-05-01T10:00:00Z",
                                  data: ["lot": "CAF-PLACEBO-7", "quantity": 400, "unit": "mg"])
        try await h.app().test(.live) { client in
            #expect(try await Self.post(client, defined, token: sponsor).0 == .accepted)
            for event in Self.enrolledWithDose("S01-0007", amount: 20) + [Self.enrolledWithDose("S01-0008", amount: 8)[0], received, dispensed, placebo] {
                let (status, body) = try await Self.post(client, event, token: dr)
                #expect(status == .accepted, "\(body)")
            }
        }
        let projector = BackgroundProjector(TestStack.projectorConfiguration(databaseURL: h.databaseURL, bootstrap: h.bootstrap, topic: h.topic))
        try await projector.catchUpAndStop()
        let monitor = try Self.monitor(h.databaseURL)
        let relations = try monitor.query("""
            SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables
            WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND has_table_privilege(table_schema || '.' || table_name, 'SELECT')
            ORDER BY 1
            """).decode(String.self)
        #expect(relations.contains("monitoring.doses") && relations.contains("monitoring.safety_signals"))
        #expect(!relations.contains { $0.hasPrefix("unblinded.") || $0.hasPrefix("audit.") })
        var everything = ""
        // The protocol names every product the study uses (the design is no secret); which one a participant got is.
        for relation in relations where relation != "monitoring.protocol_versions" {
            for text in try monitor.query(PostgresQuery(unsafeSQL: "SELECT t::text FROM \(relation) t")).decode(String.self) { everything += text + "\n" }
        }
        #expect(everything.contains("S01-0008") && everything.contains("dose_above_max"), "the monitor sees the doses and the signals")
        for revealing in ["caffeine", "CAF-PLACEBO", "lsd", "mg", "ug", "oral", "sublingual", ",400,", "(400"] {
            #expect(!everything.contains(revealing), "a monitor can read '\(revealing)'")
        }
        // Those cleared to see it still can.
        let unblinded = try PostgresConnection(url: TestStack.url(h.databaseURL, user: DatabaseRole.unblinded.rawValue))
        #expect(try unblinded.query("SELECT substance, amount::text, unit FROM unblinded.dose_products WHERE participant_id = 'S01-0008'")
            .rows == [["caffeine", "400", "mg"]])
    }
}
