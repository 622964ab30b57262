import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Postgres
import Simulator
import Testing
import TestSupport
import TrialAuth
import TrialDomain

/// Every event type of the catalogue through the real HTTP API, Kafka and the projector's archive.
@Suite("event catalogue through ingest", .serialized, .stack, .timeLimit(.minutes(4)))
struct CatalogueThroughIngestTests {
    static let corpus = TestEnvironment.corpus

    /// A token for someone allowed to submit `event`: its site's investigator, else the sponsor, else the unblinded
    /// statistician (a randomization schedule), else a monitor.
    static func token(for event: JSONValue, _ authority: TokenAuthority) async throws -> String {
        let type = event["type"]?.stringValue.flatMap(EventType.init(rawValue:))
        let site = event["site_id"]?.stringValue
        // A correction or void is sent by someone who may submit the event it changes.
        let changed = (event["data"]?["corrected_type"] ?? event["data"]?["voided_type"])?.stringValue.flatMap(EventType.init(rawValue:))
        let roles = (changed ?? type)?.submitters ?? [.investigator]
        let role: Role = site != nil && roles.contains(.investigator) ? .investigator : roles.contains(.sponsor) ? .sponsor
            : roles.contains(.unblindedStatistician) ? .unblindedStatistician : .monitor
        // A signature needs the signer's printed name and a fresh authentication in the token.
        let name = type == .signatureApplied ? event["data"]?["printed_name"]?.stringValue : nil
        return try await authority.mint(subject: "\(role.rawValue).tester", site: role.isSiteBound ? site : nil, role: role,
                                        name: name, authTime: name == nil ? nil : Date())
    }

    @Test func everyTypeIsAcceptedArchivedAndEveryInvalidOneNamesItsField() async throws {
        let h = try await IngestHarness.make()
        let cases = try ExampleCorpus.load(from: Self.corpus)
        var minted: [String: String] = [:]
        for c in cases { minted[c.id] = try await Self.token(for: c.event, h.authority) }
        let tokens = minted
        let valid = cases.filter { $0.expectedPointer == nil }
        try await h.app().test(.live) { client in
            for c in cases {
                let response = try await client.execute(uri: "/v1/events", method: .post,
                                                        headers: IngestHarness.headers(tokens[c.id]!),
                                                        body: IngestHarness.body(c.event))
                if let pointer = c.expectedPointer {
                    #expect(response.status == .unprocessableContent, "\(c.id) (\(c.why)): \(response.status)")
                    let pointers = try IngestHarness.json(response)["errors"].map { errors -> [String] in
                        guard case .array(let list) = errors else { return [] }
                        return list.compactMap { $0["pointer"]?.stringValue }
                    } ?? []
                    #expect(pointers.contains(pointer), "\(c.id) (\(c.why)): errors at \(pointers), expected \(pointer)")
                } else {
                    #expect(response.status == .accepted, "\(c.id): \(String(buffer: response.body))")
                }
            }
        }
        let projector = BackgroundProjector(TestStack.projectorConfiguration(databaseURL: h.databaseURL, bootstrap: h.bootstrap, topic: h.topic))
        try await projector.catchUpAndStop()
        let db = try PostgresConnection(url: h.databaseURL)
        let archived = try db.query("SELECT type, count(*) FROM audit.events GROUP BY type ORDER BY type")
        let expected = Dictionary(grouping: valid, by: \.type).mapValues(\.count)
        #expect(Dictionary(uniqueKeysWithValues: try archived.decode((String, Int).self)) == expected)
        #expect(Set(expected.keys) == Set(EventType.allCases.map(\.rawValue)))
        // Who recorded each event comes from the token, never from the body.
        let recorders = try db.query("SELECT DISTINCT recorded_by FROM audit.events ORDER BY 1").decode(String.self)
        #expect(recorders == ["investigator.tester", "monitor.tester", "sponsor.tester", "unblinded_statistician.tester"])
    }

    /// Issue 14's review: a site's calendar days are its own. `site.activated` v2 names the site's IANA time zone, which
    /// ingest checks against the time zone database; the projector counts the DEA's business day of a loss in it, though
    /// the site wrote the discovery in UTC.
    @Test func aSitesTimeZoneIsCheckedAndDecidesItsCalendarDays() async throws {
        let h = try await IngestHarness.make()
        let sponsor = try await h.authority.mint(subject: "sponsor.tester", site: nil, role: .sponsor)
        let investigator = try await h.authority.mint(subject: "investigator.tester", site: "S07", role: .investigator)
        @Sendable func activation(_ zone: String) -> JSONValue {
            ["event_id": .string(UUID().uuidString.lowercased()), "type": "site.activated", "schema_version": 2, "study_id": "MICRO-LSD-01",
             "site_id": "S07", "occurred_at": "2026-01-02T09:00:00-05:00",
             "data": ["site_name": "Unit 7", "country": "US", "principal_investigator": "Dr. Q", "protocol_version": "1.0",
                      "time_zone": .string(zone)]]
        }
        try await h.app().test(.live) { client in
            for zone in ["Mars/Olympus", "Etc/GMT+5", "EST", "+02:00"] {
                let response = try await client.execute(uri: "/v1/events", method: .post, headers: IngestHarness.headers(sponsor),
                                                        body: IngestHarness.body(activation(zone)))
                let body = String(buffer: response.body)
                #expect(response.status == .unprocessableContent && body.contains("/data/time_zone"), "\(zone): \(response.status) \(body)")
            }
            let accepted = try await client.execute(uri: "/v1/events", method: .post, headers: IngestHarness.headers(sponsor),
                                                    body: IngestHarness.body(activation("America/New_York")))
            #expect(accepted.status == .accepted, "\(String(buffer: accepted.body))")
            // Wednesday 22:30 in New York, written in UTC: due by the end of the site's Thursday, 2026-01-09T05:00Z.
            let loss: JSONValue = ["event_id": .string(UUID().uuidString.lowercased()), "type": "drug.lost", "schema_version": 1,
                                   "study_id": "MICRO-LSD-01", "site_id": "S07", "occurred_at": "2026-01-08T04:00:00Z",
                                   "data": ["lot": "LSD-2026-A", "quantity": 10, "unit": "ug", "kind": "loss",
                                            "discovered_at": "2026-01-08T03:30:00Z", "description": "a vial broke"]]
            let reported = try await client.execute(uri: "/v1/events", method: .post, headers: IngestHarness.headers(investigator),
                                                    body: IngestHarness.body(loss))
            #expect(reported.status == .accepted, "\(String(buffer: reported.body))")
        }
        let projector = BackgroundProjector(TestStack.projectorConfiguration(databaseURL: h.databaseURL, bootstrap: h.bootstrap, topic: h.topic))
        try await projector.catchUpAndStop()
        let db = try PostgresConnection(url: h.databaseURL)
        #expect(try db.query("SELECT site_id, time_zone FROM monitoring.site_profiles").rows == [["S07", "America/New_York"]])
        #expect(try db.query("""
            SELECT to_char(deadline AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI') FROM monitoring.safety_signals WHERE rule = 'drug_loss'
            """).rows == [["2026-01-09T05:00"]])
    }
}
