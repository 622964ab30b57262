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
        return try await authority.mint(subject: "\(role.rawValue).tester", site: role.isSiteBound ? site : nil, role: role)
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
}
