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
                                ["factors": [["factor": "site", "value": "S02"]], "blocks": [block([("K-201", 0)])]]],
                     "contents": [["arm": .string(arms[0]), "blinded_label": "study drug, level 2", "substance": "lsd", "amount": 10, "unit": "ug"],
                                  ["arm": .string(arms[1]), "blinded_label": "study drug, level 2", "substance": "caffeine", "amount": 50,
                                   "unit": "mg"]]],
        ]
    }

    /// `event` at schema version `v`.
    static func version(_ v: Int, _ event: JSONValue) -> JSONValue {
        guard case .object(var o) = event else { return event }
        o["schema_version"] = .number(Double(v))
        return .object(o)
    }

    /// A blinded dose (v3) of `kit` at level 2.
    static func blindedDose(_ kit: String, label: String = "study drug, level 2") -> JSONValue {
        ["kit_number": .string(kit), "blinded_label": .string(label), "route": "oral", "supervised": true, "administered_by": "nurse.s01"]
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
            try await projector.waitUntilCaughtUp()
            // Before any schedule: a request names what the archive does not hold (422, unknown reference); a site's own
            // allocation still passes (the path of old logs).
            let early = try await live.post(event("participant.randomization_requested", "S01-0001", daysAgo: 11, ["stratum": [["factor": "site", "value": "S01"]]]), dr1)
            #expect(early.status == .unprocessableContent && early.pointers == ["/study_id"], "\(early.body)")
            #expect(early.json["type"]?.stringValue == "/problems/unknown-reference")
            // S01-0004 is randomized the old way, by the site, before any schedule.
            try await live.expectAccepted(event("participant.enrolled", "S01-0004", daysAgo: 12,
                                                ["consented_at": .string(now.adding(days: -13).rfc3339), "protocol_version": "1.0"]), dr1)
            try await live.expectAccepted(event("participant.randomized", "S01-0004", daysAgo: 11, ["kit_number": "OLD-4", "arm": "x"]), dr1)

            // Only the unblinded statistician loads a schedule.
            #expect(try await live.post(Self.schedule(), sponsor).status == .forbidden)
            #expect(try await live.post(Self.schedule(), dr1).status == .forbidden)
            try await live.expectAccepted(Self.schedule(), statistician)
            try await projector.waitUntilCaughtUp()

            // A second schedule must keep the first one's arms and control arm: another control arm is refused.
            if case .object(var second) = Self.schedule(), case .object(var data)? = second["data"] {
                data["control_arm"] = .string(Self.arms[0])
                data["schedule_id"] = "SCHED-2"
                second["data"] = .object(data)
                let contradicting = try await live.post(.object(second), statistician)
                #expect(contradicting.status == .unprocessableContent && contradicting.pointers == ["/data/arms"], "\(contradicting.body)")
            }

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
            // Review finding: a participant not enrolled, or no longer participating, could be randomized (and use up a
            // kit). Ingest refuses: not enrolled (yet) is an unknown reference, withdrawn a 422.
            let stranger = try await live.post(event("participant.randomization_requested", "S02-0009", daysAgo: 10, ["stratum": [["factor": "site", "value": "S02"]]]), dr2)
            #expect(stranger.status == .unprocessableContent && stranger.pointers == ["/participant_id"], "\(stranger.body)")
            #expect(stranger.json["type"]?.stringValue == "/problems/unknown-reference")
            try await live.expectAccepted(event("participant.enrolled", "S02-0002", daysAgo: 12,
                                                ["consented_at": .string(now.adding(days: -13).rfc3339), "protocol_version": "1.0"]), dr2)
            try await live.expectAccepted(event("participant.withdrawn", "S02-0002", daysAgo: 11,
                                                ["reason": "withdrew_consent", "initiated_by": "participant"]), dr2)
            try await projector.waitUntilCaughtUp()
            let withdrawn = try await live.post(event("participant.randomization_requested", "S02-0002", daysAgo: 10, ["stratum": [["factor": "site", "value": "S02"]]]), dr2)
            #expect(withdrawn.status == .unprocessableContent && withdrawn.pointers == ["/participant_id"] && withdrawn.body.contains("withdrawn"),
                    "\(withdrawn.body)")
            // A second request for a randomized participant changes nothing.
            try await live.expectAccepted(event("participant.randomization_requested", "S01-0001", daysAgo: 9, ["stratum": [["factor": "site", "value": "S01"]]]), dr1)
            try await projector.waitUntilCaughtUp()

            let db = try PostgresConnection(url: h.databaseURL)
            #expect(try db.query("""
                SELECT participant_id, kit_number FROM monitoring.randomizations WHERE kit_number IS NOT NULL ORDER BY participant_id
                """).rows == [["S01-0001", "K-101"], ["S01-0002", "K-102"], ["S02-0001", "K-201"]])

            // Blinded dosing: with the schedule loaded, a dose naming its substance is refused (and so is its correction's),
            // and a label the schedule does not state; a dose from another participant's kit is recorded as given (review
            // finding: it was refused, though it happened) and raises a critical signal naming kits only; every dose is
            // recorded by kit and label.
            let open = try await live.post(Self.version(2, event("dose.administered", "S01-0001", daysAgo: 8, [
                "substance": "caffeine", "amount": 50, "unit": "mg", "route": "oral", "supervised": true, "lot": "CAF-1", "administered_by": "nurse.s01",
            ])), dr1)
            #expect(open.status == .unprocessableContent && open.pointers == ["/data/substance"], "\(open.body)")
            #expect(open.body.contains("schema_version 3"), "\(open.body)")
            let wrongKit = try await live.post(Self.version(3, event("dose.administered", "S01-0001", daysAgo: 8, Self.blindedDose("K-102"))), dr1)
            #expect(wrongKit.status == .accepted, "\(wrongKit.body)")
            let unknownLabel = Self.blindedDose("K-101", label: "study drug, level 99")
            let unlabelled = try await live.post(Self.version(3, event("dose.administered", "S01-0001", daysAgo: 8, unknownLabel)), dr1)
            #expect(unlabelled.status == .unprocessableContent && unlabelled.pointers == ["/data/blinded_label"], "\(unlabelled.body)")
            #expect(unlabelled.body.contains("'study drug, level 2'"), "\(unlabelled.body)")
            for (participant, kit) in [("S01-0001", "K-101"), ("S01-0002", "K-102")] {
                try await live.expectAccepted(Self.version(3, event("dose.administered", participant, daysAgo: 8, Self.blindedDose(kit))), dr1)
            }
            try await projector.waitUntilCaughtUp()
            #expect(try db.query("SELECT participant_id, kit_number, blinded_label FROM monitoring.doses ORDER BY 1, 2").rows
                    == [["S01-0001", "K-101", "study drug, level 2"], ["S01-0001", "K-102", "study drug, level 2"],
                        ["S01-0002", "K-102", "study drug, level 2"]])
            let mismatch = try db.query("""
                SELECT participant_id, severity, details FROM monitoring.safety_signals WHERE rule = 'dose_kit_mismatch'
                """).decode((String, String, String).self)
            #expect(mismatch.count == 1 && mismatch.first?.0 == "S01-0001" && mismatch.first?.1 == "critical")
            #expect(mismatch.first.map { d in d.2.contains("kit K-102") && d.2.contains("assigned kit K-101") && Self.arms.allSatisfy { !d.2.contains($0) } } == true)
            // What each dose really was, for unblinded readers only: the placebo kit held caffeine, the active one LSD; the
            // dose from the other kit as treated (that kit's LSD), beside the participant's randomized arm.
            let unblindedReader = try PostgresConnection(url: h.databaseURL, role: DatabaseRole.unblinded.rawValue)
            #expect(try unblindedReader.query("""
                SELECT participant_id, kit_number, substance, amount::text, unit, arm = treated_arm FROM unblinded.dose_exposure
                WHERE content_resolved ORDER BY 1, 2
                """).rows == [["S01-0001", "K-101", "caffeine", "50", "mg", "t"], ["S01-0001", "K-102", "lsd", "10", "ug", "f"],
                              ["S01-0002", "K-102", "lsd", "10", "ug", "t"]])
            #expect(try db.query("""
                SELECT participant_id, rule, severity, status FROM monitoring.safety_signals WHERE rule = 'stratum_exhausted'
                """).rows == [["S01-0003", "stratum_exhausted", "critical", "open"]])
            let exhausted = try db.query("SELECT details FROM monitoring.safety_signals WHERE rule = 'stratum_exhausted'").decode(String.self)
            #expect(exhausted.allSatisfy { d in Self.arms.allSatisfy { !d.contains($0) } } && exhausted.first?.contains("site=S01") == true)
            // Review finding: a participant the site randomized before the schedule could not be dosed at all (v2
            // refused, v3 "no kit"). Their doses stay open (v2), and so may a correction of one.
            let openDose: JSONValue = ["substance": "lsd", "amount": 10, "unit": "ug", "route": "oral", "supervised": true, "lot": "LSD-1",
                                       "administered_by": "nurse.s01"]
            try await live.expectAccepted(Self.version(2, event("dose.administered", "S01-0004", daysAgo: 7, openDose)), dr1)

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
            // Review finding: a guess made after the participant's emergency unblinding counted in the indices. Now it is
            // marked and the DSMB report leaves it out.
            for (daysAgo, guess) in [(2, "placebo"), (0, "active")] {
                try await live.expectAccepted(event("blinding.assessed", "S01-0001", daysAgo: daysAgo,
                                                    ["assessor": "participant", "guess": .string(guess), "certainty": 3]), dr1)
            }
            try await projector.waitUntilCaughtUp()
            let unblindedDB = try PostgresConnection(url: h.databaseURL, role: DatabaseRole.unblinded.rawValue)
            #expect(try unblindedDB.query("""
                SELECT guess, after_unblinding, week FROM unblinded.blinding_guesses WHERE participant_id = 'S01-0001' ORDER BY assessed_at
                """).rows == [["placebo", "f", "1"], ["active", "t", "1"]])
            let board = try DSMBReport.load(unblindedDB, reason: "test")
            #expect(board.blinding.map { [$0.label, "\($0.table.placebo.guessedPlacebo)", "\($0.table.placebo.guessedActive)"] }
                    == [["participant, week 1", "1", "0"]], "\(board.text)")

            // Review finding: the record was written in the caller's transaction, so BEGIN; read; ROLLBACK showed the arm
            // and left no record. Now a record written in the reading transaction itself opens nothing, and the one-step
            // function is gone.
            let records = "SELECT count(*) FROM audit.unblinded_access"
            let recorded = try db.query(PostgresQuery(unsafeSQL: records)).decodeFirst(Int64.self)
            try siteDB.execute(unsafeSQL: "BEGIN")
            try siteDB.query("SELECT set_config('trial.site', 'S01', true)")
            let sameTransaction = try siteDB.query("SELECT site_api.record_emergency_unblinding('S01-0001', 'dr.s01')").decodeFirst(Int64?.self)
            #expect(sameTransaction != nil)
            #expect(try siteDB.query("SELECT arm FROM site_api.emergency_unblinding('S01-0001', 'dr.s01', \(sameTransaction ?? 0))").isEmpty)
            try siteDB.execute(unsafeSQL: "ROLLBACK")
            #expect(try db.query(PostgresQuery(unsafeSQL: records)).decodeFirst(Int64.self) == recorded)
            #expect(throws: (any Error).self) { try siteDB.execute(unsafeSQL: "SELECT * FROM site_api.emergency_unblinding('S01-0001', 'dr.s01')") }
            DatabaseRoleTests.expectRefused(siteDB, "SELECT * FROM site_api.unblinding_target('S01-0001', 'dr.s01')")

            let seen = try RandomizationReport.load(monitorDB)
            #expect(seen.unblindings.map(\.participantID) == ["S01-0001"] && seen.unblindings.first?.armReads == 1)
            #expect(Self.arms.allSatisfy { !seen.text.contains($0) })
            #expect(try monitorDB.query("SELECT unblinded_at IS NOT NULL FROM monitoring.participants WHERE participant_id = 'S01-0001'").rows
                    == [["t"]])

            // The unblinded reader sees the arms; a rebuild from the archive gives the very same kits.
            let unblinded = try PostgresConnection(url: h.databaseURL, role: DatabaseRole.unblinded.rawValue)
            #expect(try unblinded.query("SELECT participant_id, arm, control FROM unblinded.participant_arms ORDER BY 1").rows
                    == [["S01-0001", Self.arms[1], "t"], ["S01-0002", Self.arms[0], "f"], ["S01-0004", "x", nil], ["S02-0001", Self.arms[0], "f"]])
            await projector.stop()
            let rebuilt = try Rebuild.run(try PostgresConnection(url: h.databaseURL, role: DatabaseRole.projector.rawValue), dryRun: false,
                                          logger: TestStack.logger)
            #expect(rebuilt.identical, "\(rebuilt.text)")
        }
    }
}
