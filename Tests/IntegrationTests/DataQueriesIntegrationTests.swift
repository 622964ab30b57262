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

/// Issue 15, "Data queries" and "A read API for sites", end to end over real sockets: HTTP to ingest, Kafka, the
/// projector, `monitoring.queries`, the reports, and the site read API reading as `trial_site`.
@Suite("data queries and the site read API through ingest", .serialized, .stack, .timeLimit(.minutes(4)))
struct DataQueriesIntegrationTests {
    typealias E2E = IngestHarness

    typealias Answer = IngestAnswer

    /// A query's whole life (raise → answer with a correction → close → reopen → answer → close), steps that do not fit
    /// shown as refused, scope refusals with specific problems, and what a site's coordinator reads of it.
    @Test func aQuerysWholeLifeThroughIngestTheProjectorAndTheSiteReadAPI() async throws {
        let h = try await E2E.make()
        let projector = BackgroundProjector(TestStack.projectorConfiguration(databaseURL: h.databaseURL, bootstrap: h.bootstrap, topic: h.topic))
        let sponsor = try await h.token(site: nil, role: .sponsor, subject: "sponsor")
        let dr1 = try await h.token(site: "S01", subject: "dr.s01")
        let dr2 = try await h.token(site: "S02", subject: "dr.s02")
        let monitor = try await h.authority.mint(subject: "monitor.s01", site: nil, role: .monitor, sites: ["S01"])
        let now = IngestService.systemClock()
        @Sendable func id() -> String { UUID().uuidString.lowercased() }
        let (vitals, otherVitals, correction, query) = (id(), id(), id(), id())
        @Sendable func vitalsData(_ temperature: Double) -> JSONValue {
            ["systolic_mmhg": 120, "diastolic_mmhg": 80, "heart_rate_bpm": 70, "temperature_c": .number(temperature), "time_point": "pre_dose"]
        }
        @Sendable func step(_ type: String, participant: String = "S01-0007", eventID: String? = nil, _ data: JSONValue) -> JSONValue {
            E2E.event(type, participant: participant, eventID: eventID ?? id(), occurredAt: now.rfc3339, data: data)
        }
        try await h.app { $0.databaseURL = h.databaseURL }.test(.live) { client in
            let live = LiveIngest(client)
            try await live.expectAccepted(SafetyRulesIntegrationTests.protocolEvent(), sponsor)
            for (participant, token, vitalsID) in [("S01-0007", dr1, vitals), ("S02-0001", dr2, otherVitals)] {
                try await live.expectAccepted(E2E.event("participant.enrolled", participant: participant, occurredAt: now.adding(days: -10).rfc3339,
                                                   data: ["consented_at": .string(now.adding(days: -11).rfc3339), "protocol_version": "1.0"]), token)
                try await live.expectAccepted(E2E.event("participant.randomized", participant: participant, occurredAt: now.adding(days: -9).rfc3339,
                                                   data: ["kit_number": "K-77", "arm": "lsd-10ug"]), token)
                try await live.expectAccepted(E2E.event("vitals.recorded", participant: participant, eventID: vitalsID,
                                                   occurredAt: now.adding(days: -2).rfc3339, data: vitalsData(37.0)), token)
            }
            try await projector.waitUntilCaughtUp()

            // A monitor assigned to S01 raises nothing at S02 (403), nor about S02's event under an S01 participant (422).
            let atS02 = try await live.post(step("query.raised", participant: "S02-0001", ["event_id": .string(otherVitals), "pointer": "", "question": "?"]), monitor)
            #expect(atS02.status == .forbidden && atS02.pointers == ["/site_id"], "\(atS02.body)")
            let foreign = try await live.post(step("query.raised", ["event_id": .string(otherVitals), "pointer": "", "question": "?"]), monitor)
            #expect(foreign.status == .unprocessableContent && foreign.pointers == ["/data/event_id"], "\(foreign.body)")
            #expect(foreign.body.contains("is not a recorded event of participant S01-0007") && !foreign.body.contains("S02"), "\(foreign.body)")
            #expect(foreign.json["type"]?.stringValue == "/problems/unknown-reference", "\(foreign.body)")
            // Bad input: a pointer that is not a JSON Pointer, named at its field.
            let badPointer = try await live.post(step("query.raised", ["event_id": .string(vitals), "pointer": "temperature", "question": "?"]), monitor)
            #expect(badPointer.status == .unprocessableContent && badPointer.pointers == ["/data/pointer"], "\(badPointer.body)")
            // A site raises no query.
            #expect(try await live.post(step("query.raised", ["event_id": .string(vitals), "pointer": "", "question": "?"]), dr1).status == .forbidden)

            try await live.expectAccepted(step("query.raised", eventID: query, [
                "event_id": .string(vitals), "pointer": "/temperature_c", "question": "Source says 36.6 °C; please check"]), monitor)
            try await projector.waitUntilCaughtUp()
            // Another site answers nothing of S01's: not under its own participant (422, nothing of S01 named) ...
            let otherSite = try await live.post(step("query.answered", participant: "S02-0001", ["query_id": .string(query), "text": "ours?"]), dr2)
            #expect(otherSite.status == .unprocessableContent && otherSite.pointers == ["/data/query_id"] && !otherSite.body.contains("S01"),
                    "\(otherSite.body)")
            // ... nor under S01's participant (403).
            let underS01 = try await live.post(step("query.answered", ["query_id": .string(query), "text": "ours?"]), dr2)
            #expect(underS01.status == .forbidden, "\(underS01.body)")

            try await live.expectAccepted(step("event.corrected", eventID: correction, [
                "corrected_event_id": .string(vitals), "corrected_type": "vitals.recorded", "reason": "Transcription error (query)",
                "data": vitalsData(36.6)]), dr1)
            try await projector.waitUntilCaughtUp()
            try await live.expectAccepted(step("query.answered", ["query_id": .string(query), "text": "Corrected to 36.6",
                                                              "correction_event_id": .string(correction)]), dr1)
            try await live.expectAccepted(step("query.closed", ["query_id": .string(query)]), monitor)
            try await live.expectAccepted(step("query.reopened", ["query_id": .string(query), "reason": "The time point is wrong too"]), monitor)
            try await projector.waitUntilCaughtUp()
            let db = try PostgresConnection(url: h.databaseURL)
            #expect(try db.query("SELECT status, reopened, reopenings, open_days IS NOT NULL FROM monitoring.queries").rows == [["open", "t", "1", "t"]])
            try await live.expectAccepted(step("query.answered", ["query_id": .string(query), "text": "Time point confirmed pre-dose"]), dr1)
            try await live.expectAccepted(step("query.closed", ["query_id": .string(query), "note": "Resolved"]), monitor)
            // A close of a closed query is recorded (ingest does not judge a query's state) and shown refused.
            try await live.expectAccepted(step("query.closed", ["query_id": .string(query)]), monitor)
            try await projector.waitUntilCaughtUp()

            #expect(try db.query("""
                SELECT status, answer, answered_by, closed_by, reopenings, correction_event_id::text, refusal FROM monitoring.queries
                """).rows == [["closed", "Time point confirmed pre-dose", "dr.s01", "monitor.s01", "1", nil, nil]])
            #expect(try db.query("SELECT action, refusal IS NULL FROM monitoring.query_steps ORDER BY recorded_at, event_id").rows
                    == [["raised", "t"], ["answered", "t"], ["closed", "t"], ["reopened", "t"], ["answered", "t"], ["closed", "t"], ["closed", "f"]])
            #expect(try db.query("SELECT refusal FROM monitoring.query_steps WHERE refusal IS NOT NULL").rows == [["the query is already closed"]])
            #expect(try db.query("SELECT correction_event_id::text FROM monitoring.query_steps WHERE correction_event_id IS NOT NULL").rows
                    == [[correction]])
            #expect(try db.query("SELECT open_queries, open_query_median_age_days FROM monitoring.sites WHERE site_id = 'S01'").rows == [["0", nil]])

            // reporter queries and reporter participant
            let report = try QueriesReport.load(db, site: "S01")
            #expect(report.queries.map(\.facts.status) == [.closed] && report.text.contains("Source says 36.6"), "\(report.text)")
            #expect(try QueriesReport.load(db, openOnly: true).queries.isEmpty)
            let timeline = try ParticipantTimeline.load(db, participantID: "S01-0007")
            #expect(timeline.entries.filter { $0.kind.hasPrefix("query ") }.count == 7, "\(timeline.text)")
            #expect(timeline.text.contains("REFUSED: the query is already closed") && timeline.text.contains("1 open") == false)

            // The site read API: own participant with queries and what is due; never an arm, kit or product.
            let own = try await live.get("/v1/participants/S01-0007", dr1)
            #expect(own.status == .ok, "\(own.body)")
            #expect(own.json["participant"]?["status"]?.stringValue == "enrolled")
            guard case .array(let queries)? = own.json["queries"] else { Issue.record("no queries: \(own.body)"); return }
            #expect(queries.map { $0["status"]?.stringValue } == ["closed"] && queries.first?["query_id"]?.stringValue == query)
            for key in ["open_signals", "overdue_assessments"] { #expect(own.json[key] != nil, "\(key) missing: \(own.body)") }
            #expect(!own.body.contains("lsd-10ug") && !own.body.contains("K-77") && !own.body.contains("\"arm\""), "\(own.body)")
            // Another site's participant is answered exactly as one that does not exist.
            let foreignRead = try await live.get("/v1/participants/S02-0001", dr1)
            let missing = try await live.get("/v1/participants/S01-9999", dr1)
            #expect(foreignRead.status == .notFound && missing.status == .notFound)
            #expect(foreignRead.json["type"] == missing.json["type"] && foreignRead.json["title"] == missing.json["title"])
            #expect(!foreignRead.body.contains("enrolled") && !foreignRead.body.contains("S02-0001\""), "\(foreignRead.body)")
            let siteQueries = try await live.get("/v1/sites/S01/queries?status=closed", dr1)
            #expect(siteQueries.status == .ok && siteQueries.body.contains(query), "\(siteQueries.body)")
            let otherSiteQueries = try await live.get("/v1/sites/S02/queries", dr1)
            #expect(otherSiteQueries.status == .forbidden && otherSiteQueries.pointers == ["/site_id"], "\(otherSiteQueries.body)")
            let badStatus = try await live.get("/v1/sites/S01/queries?status=pending", dr1)
            #expect(badStatus.status == .unprocessableContent && badStatus.pointers == ["/status"], "\(badStatus.body)")
            let badID = try await live.get("/v1/participants/not-a-participant", dr1)
            #expect(badID.status == .unprocessableContent && badID.pointers == ["/participant_id"], "\(badID.body)")
            #expect(try await live.get("/v1/participants/S01-0007", monitor).status == .forbidden)
            let anonymous = try await live.get("/v1/participants/S01-0007", nil)
            #expect(anonymous.status == .unauthorized && anonymous.json["type"]?.stringValue == "/problems/unauthenticated")

            // A second query stays open: the sites overview counts it, and its age is as of the reading (the same facts
            // three days older read three days older; nothing about "now" is stored).
            let second = id()
            try await live.expectAccepted(step("query.raised", eventID: second, [
                "event_id": .string(vitals), "pointer": "/time_point", "question": "Pre-dose or post-dose?"]), monitor)
            try await projector.waitUntilCaughtUp()
            try db.execute(unsafeSQL: """
                UPDATE monitoring.data_queries SET raised_at = raised_at - interval '3 days', opened_at = opened_at - interval '3 days'
                WHERE query_id = '\(second)'
                """)
            #expect(try db.query("SELECT open_queries, open_query_median_age_days >= 3 FROM monitoring.sites WHERE site_id = 'S01'").rows
                    == [["1", "t"]])
            #expect(try db.query("SELECT status, age_days >= 3, open_days >= 3 FROM monitoring.queries WHERE query_id = \(second)").rows
                    == [["open", "t", "t"]])
            #expect(try QueriesReport.load(db, site: "S01", openOnly: true).queries.map(\.facts.queryID) == [second])
            let open = try await live.get("/v1/sites/S01/queries?status=open", dr1)
            guard case .array(let openQueries)? = open.json["queries"] else { Issue.record("\(open.body)"); return }
            guard case .number(let age)? = openQueries.first?["age_days"] else { Issue.record("no age: \(open.body)"); return }
            #expect(openQueries.map { $0["query_id"]?.stringValue } == [second] && age >= 3)
        }
        try await projector.catchUpAndStop()
        #expect(projector.error == nil)

        // The database enforces it: trial_site reads the site_api views only, and only the site its transaction names.
        let site = try PostgresConnection(url: h.databaseURL, role: DatabaseRole.site.rawValue)
        DatabaseRoleTests.expectRefused(site, "SELECT * FROM monitoring.participants", "SELECT * FROM unblinded.allocations",
                                        "SELECT * FROM audit.events", "SELECT * FROM monitoring.queries")
        #expect(try DatabaseRoleTests.count(site, "site_api.participants") == 0, "no site named: nothing")
        try site.execute(unsafeSQL: "SELECT set_config('trial.site', 'S01', false)")
        #expect(try site.query("SELECT participant_id FROM site_api.participants").rows == [["S01-0007"]])
        // The site learns its participants' kit numbers (issue 16: site_api.randomizations), never an arm or what a kit holds.
        #expect(try site.query("""
            SELECT table_name, column_name FROM information_schema.columns
            WHERE table_schema = 'site_api' AND (column_name LIKE '%arm%' OR column_name IN ('kit_number', 'substance', 'amount', 'unit', 'lot'))
            """).rows == [["randomizations", "kit_number"]])
    }
}
