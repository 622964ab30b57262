import Foundation
import Hummingbird
import HummingbirdTesting
import IngestApp
import Postgres
import Projection
import Reporting
import ServiceRuntime
import Testing
import TestSupport
import TrialDomain

/// Issue 16, the blind by design, end to end over real sockets: the statistician's schedule, sites' requests through
/// ingest, the projector's kits, what sites and monitors read (kits, never arms), the refusal of a site's own
/// allocation, emergency unblinding through the site read API with its access record, and an active placebo.
@Suite("system-owned randomization and the blind through ingest", .serialized, .stack, .timeLimit(.minutes(4)))
struct BlindingIntegrationTests {
    typealias E2E = IngestHarness

    /// Arm names no blinded answer may contain.
    static let arms = ["LSD-ACTIVE-10UG", "CAFFEINE-ACTIVE-PLACEBO"]

    typealias Answer = IngestAnswer

    static func schedule() -> JSONValue {
        func block(_ kits: [(String, Int)]) -> JSONValue {
            ["kits": .array(kits.map { ["kit_number": .string($0.0), "arm": .string(arms[$0.1])] })]
        }
        return [
            "event_id": .string(UUID().uuidString), "type": "randomization.schedule_loaded", "schema_version": 1, "study_id": "MICRO-LSD-01",
            "occurred_at": .string(IngestService.systemClock().adding(days: -20).rfc3339),
            "data": ["schedule_id": "SCHED-1", "arms": .array(arms.map(JSONValue.string)), "control_arm": .string(arms[1]),
                     "strata": [["factors": [["factor": "site", "value": "S01"]], "blocks": [block([("K-101", 1), ("K-102", 0)])]],
                                ["factors": [["factor": "site", "value": "S02"]], "blocks": [block([("K-201", 0)])]]]],
        ]
    }

    /// Every string anywhere in `json`.
    static func strings(_ json: JSONValue) -> [String] {
        switch json {
        case .string(let s): [s]
        case .array(let a): a.flatMap(strings)
        case .object(let o): o.keys.map { $0 } + o.values.flatMap(strings)
        default: []
        }
    }

    @Test func theSystemRandomizesSitesLearnKitsNeverArmsAndAnEmergencyUnblindingIsRecorded() async throws {
        let h = try await E2E.make()
        let projector = BackgroundProjector(TestStack.projectorConfiguration(databaseURL: h.databaseURL, bootstrap: h.bootstrap, topic: h.topic))
        let sponsor = try await h.token(site: nil, role: .sponsor, subject: "sponsor")
        let statistician = try await h.token(site: nil, role: .unblindedStatistician, subject: "stat.unblinded")
        let dr1 = try await h.token(site: "S01", subject: "dr.s01")
        let nurse1 = try await h.token(site: "S01", role: .siteStaff, subject: "nurse.s01")
        let dr2 = try await h.token(site: "S02", subject: "dr.s02")
        let monitor = try await h.token(site: nil, role: .monitor, subject: "monitor")
        let now = IngestService.systemClock()
        @Sendable func event(_ type: String, _ participant: String, daysAgo: Int, _ data: JSONValue) -> JSONValue {
            E2E.event(type, participant: participant, occurredAt: now.adding(days: -daysAgo).rfc3339, data: data)
        }
        try await h.app { $0.databaseURL = h.databaseURL }.test(.live) { client in
            let live = LiveIngest(client)
            try await live.expectAccepted(SafetyRulesIntegrationTests.protocolEvent(), sponsor)
            for (participant, token) in [("S01-0001", dr1), ("S01-0002", dr1), ("S01-0003", dr1), ("S02-0001", dr2)] {
                try await live.expectAccepted(event("participant.enrolled", participant, daysAgo: 12,
                                               ["consented_at": .string(now.adding(days: -13).rfc3339), "protocol_version": "1.0"]), token)
            }
            // Before any schedule: a request names what the archive does not hold (422, unknown reference); a site's own
            // allocation still passes (the path of old logs).
            let early = try await live.post(event("participant.randomization_requested", "S01-0001", daysAgo: 11, ["stratum": [["factor": "site", "value": "S01"]]]), dr1)
            #expect(early.status == .unprocessableContent && early.pointers == ["/study_id"], "\(early.body)")
            #expect(early.json["type"]?.stringValue == "/problems/unknown-reference")

            // Only the unblinded statistician loads a schedule.
            #expect(try await live.post(Self.schedule(), sponsor).status == .forbidden)
            #expect(try await live.post(Self.schedule(), dr1).status == .forbidden)
            try await live.expectAccepted(Self.schedule(), statistician)
            try await projector.waitUntilCaughtUp()

            // Now a site's own allocation is refused, with what to do instead.
            let own = try await live.post(event("participant.randomized", "S01-0003", daysAgo: 10, ["kit_number": "K-9", "arm": "x"]), dr1)
            #expect(own.status == .unprocessableContent && own.pointers == ["/type"], "\(own.body)")
            #expect(own.body.contains("participant.randomization_requested"), "\(own.body)")

            // Requests: S01 gets K-101 then K-102; S02 K-201; S01's third finds its stratum exhausted.
            try await live.expectAccepted(event("participant.randomization_requested", "S01-0001", daysAgo: 10, ["stratum": [["factor": "site", "value": "S01"]]]), nurse1)
            try await projector.waitUntilCaughtUp()
            try await live.expectAccepted(event("participant.randomization_requested", "S01-0002", daysAgo: 10, ["stratum": [["factor": "site", "value": "S01"]]]), dr1)
            try await live.expectAccepted(event("participant.randomization_requested", "S02-0001", daysAgo: 10, ["stratum": [["factor": "site", "value": "S02"]]]), dr2)
            try await projector.waitUntilCaughtUp()
            try await live.expectAccepted(event("participant.randomization_requested", "S01-0003", daysAgo: 10, ["stratum": [["factor": "site", "value": "S01"]]]), dr1)
            // A second request for a randomized participant changes nothing.
            try await live.expectAccepted(event("participant.randomization_requested", "S01-0001", daysAgo: 9, ["stratum": [["factor": "site", "value": "S01"]]]), dr1)
            try await projector.waitUntilCaughtUp()

            let db = try PostgresConnection(url: h.databaseURL)
            #expect(try db.query("""
                SELECT participant_id, kit_number FROM monitoring.randomizations WHERE kit_number IS NOT NULL ORDER BY participant_id
                """).rows == [["S01-0001", "K-101"], ["S01-0002", "K-102"], ["S02-0001", "K-201"]])
            #expect(try db.query("""
                SELECT participant_id, rule, severity, status FROM monitoring.safety_signals WHERE rule = 'stratum_exhausted'
                """).rows == [["S01-0003", "stratum_exhausted", "critical", "open"]])
            let exhausted = try db.query("SELECT details FROM monitoring.safety_signals WHERE rule = 'stratum_exhausted'").decode(String.self)
            #expect(exhausted.allSatisfy { d in Self.arms.allSatisfy { !d.contains($0) } } && exhausted.first?.contains("site=S01") == true)

            // The site reads its kit (never the arm) through the site read API; another site's participant is a 404.
            let read = try await live.get("/v1/participants/S01-0001", nurse1)
            #expect(read.status == .ok, "\(read.body)")
            let kits = read.json["randomizations"]?.arrayValue?.compactMap { $0["kit_number"]?.stringValue }
            #expect(kits == ["K-101"], "\(read.body)")
            for text in Self.strings(read.json) { #expect(Self.arms.allSatisfy { !text.contains($0) }, "an arm in the site's answer: \(text)") }
            #expect(!read.body.contains("\"arm\""))
            #expect(try await live.get("/v1/participants/S01-0001", dr2).status == .notFound)

            // Monitors see kits, never arms: not in any table or view they may read.
            let monitorDB = try PostgresConnection(url: h.databaseURL, role: DatabaseRole.monitor.rawValue)
            let report = try RandomizationReport.load(monitorDB)
            #expect(report.requests.compactMap(\.kitNumber) == ["K-101", "K-102", "K-201"], "\(report.text)")
            #expect(Self.arms.allSatisfy { !report.text.contains($0) && !CanonicalJSON.string(report.json).contains($0) })
            #expect(try monitorDB.query("SELECT 1 FROM information_schema.columns WHERE column_name IN ('arm', 'control')").isEmpty)
            DatabaseRoleTests.expectRefused(monitorDB, "SELECT arm FROM unblinded.randomization_kits", "SELECT * FROM unblinded.participant_arms",
                                            "SELECT * FROM unblinded.blinding_guesses")
            // The site's database role reads no arm either, and no function of the site API returns one without a request.
            let siteDB = try PostgresConnection(url: h.databaseURL, role: DatabaseRole.site.rawValue)
            #expect(try siteDB.query("SELECT 1 FROM information_schema.columns WHERE table_schema = 'site_api' AND column_name LIKE '%arm%'").isEmpty)
            DatabaseRoleTests.expectRefused(siteDB, "SELECT arm FROM unblinded.randomization_kits", "SELECT * FROM monitoring.randomizations")

            // Emergency unblinding: without a request of their own, the investigator reads nothing (403), site staff never.
            let unasked = try await live.get("/v1/participants/S01-0001/unblinding", dr1)
            #expect(unasked.status == .forbidden && unasked.pointers == ["/participant_id"], "\(unasked.body)")
            #expect(try await live.get("/v1/participants/S01-0001/unblinding", nurse1).status == .forbidden)
            try await live.expectAccepted(event("unblinding.requested", "S01-0001", daysAgo: 1,
                                           ["reason": "Serotonin syndrome suspected: the emergency physician needs the allocation"]), dr1)
            try await projector.waitUntilCaughtUp()
            // Another investigator of the same site did not ask: refused; another site's investigator: 404.
            let colleague = try await h.token(site: "S01", subject: "dr2.s01")
            #expect(try await live.get("/v1/participants/S01-0001/unblinding", colleague).status == .forbidden)
            #expect(try await live.get("/v1/participants/S01-0001/unblinding", dr2).status == .notFound)
            let revealed = try await live.get("/v1/participants/S01-0001/unblinding", dr1)
            #expect(revealed.status == .ok, "\(revealed.body)")
            #expect(revealed.json["arm"]?.stringValue == Self.arms[1] && revealed.json["kit_number"]?.stringValue == "K-101", "\(revealed.body)")
            // The read was recorded first: who (the investigator), for whom, why; monitors see that it happened, not what.
            let access = try db.query("SELECT accessed_by, participant_id, reason FROM audit.unblinded_access").rows
            #expect(access == [["dr.s01", "S01-0001", "Serotonin syndrome suspected: the emergency physician needs the allocation"]])
            let seen = try RandomizationReport.load(monitorDB)
            #expect(seen.unblindings.map(\.participantID) == ["S01-0001"] && seen.unblindings.first?.armReads == 1)
            #expect(Self.arms.allSatisfy { !seen.text.contains($0) })
            #expect(try monitorDB.query("SELECT unblinded_at IS NOT NULL FROM monitoring.participants WHERE participant_id = 'S01-0001'").rows
                    == [["t"]])

            // The unblinded reader sees the arms; a rebuild from the archive gives the very same kits.
            let unblinded = try PostgresConnection(url: h.databaseURL, role: DatabaseRole.unblinded.rawValue)
            #expect(try unblinded.query("SELECT participant_id, arm, control FROM unblinded.participant_arms ORDER BY 1").rows
                    == [["S01-0001", Self.arms[1], "t"], ["S01-0002", Self.arms[0], "f"], ["S02-0001", Self.arms[0], "f"]])
            await projector.stop()
            let rebuilt = try Rebuild.run(try PostgresConnection(url: h.databaseURL, role: DatabaseRole.projector.rawValue), dryRun: false,
                                          logger: TestStack.logger)
            #expect(rebuilt.identical, "\(rebuilt.text)")
        }
    }
}
