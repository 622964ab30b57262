import Foundation
import Hummingbird
import HummingbirdTesting
import IngestApp
import Postgres
import Projection
import ServiceRuntime
import Simulator
import Synchronization
import Testing
import TestSupport
import TrialDomain

/// Issue 16, blinded dosing: the blind holds by construction. Two simulated studies, identical except that every kit of
/// the schedule holds the other arm (the placebo arm an active placebo, caffeine), are projected over the broker into
/// two databases: every table and view the monitor's and the site's database roles can read (enumerated from the
/// catalog, not listed by hand) holds byte-identical rows, and so does every site-facing answer of the site read API,
/// while the unblinded schema differs. An arm leaking anywhere a monitor or site reads would make the two differ.
@Suite("arm indistinguishability", .serialized, .stack, .timeLimit(.minutes(6)))
struct ArmIndistinguishabilityTests {
    /// The same study; `permuted` swaps the arm of every kit and nothing else.
    static func study(permuted: Bool) throws -> [RecordedEvent] {
        var configuration = StudySimulator.Configuration(start: Timestamp(rfc3339: "2026-01-05T00:00:00Z")!)
        configuration.sites = 2
        configuration.participantsPerSite = 4
        configuration.weeks = 3
        configuration.seed = 16
        configuration.armsPermuted = permuted
        let validator = EventValidator()
        return try StudySimulator(configuration: configuration).submissions().map {
            try validator.validateSubmission($0.json, recordedAt: Timestamp(rfc3339: "2026-03-01T00:00:00Z")!, recordedBy: $0.sender).get()
        }
    }

    /// Every table and view `role` may read, from the catalog (`has_table_privilege`), outside PostgreSQL's own schemas.
    static func readable(by role: DatabaseRole, _ db: PostgresConnection) throws -> [String] {
        try db.query("""
            SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
              AND n.nspname NOT LIKE 'pg_toast%' AND has_table_privilege(\(role.rawValue), c.oid, 'SELECT')
              AND has_schema_privilege(\(role.rawValue), n.oid, 'USAGE')
            ORDER BY 1
            """).decode(String.self)
    }

    /// Every row of each relation as `role` reads it (as text, sorted), per relation; for the site role once per site.
    static func snapshot(_ url: String, role: DatabaseRole, relations: [String], sites: [String]) throws -> [String: [String]] {
        let db = try PostgresConnection(url: url, role: role.rawValue)
        var out: [String: [String]] = [:]
        for site in role == .site ? sites : [""] {
            if role == .site { try db.query("SELECT set_config('trial.site', \(site), false)") }
            for relation in relations {
                // Rows as JSON without the archive positions (`chainPositions`); sorted once digests are masked.
                let rows = try db.query(PostgresQuery(unsafeSQL: """
                    SELECT (to_jsonb(t) \(chainPositions.map { "- '\($0)'" }.joined(separator: " ")))::text FROM \(relation) t ORDER BY 1
                    """))
                out[relation + (site.isEmpty ? "" : " as \(site)")] = try rows.decode(String?.self).map { $0 ?? "NULL" }
            }
        }
        return out
    }

    /// Where an event stands in the archive's hash chain. Two projections of one log archive its partitions in the order
    /// their batches came (the full suite's load once interleaved them differently), so a casebook's chain point moves
    /// between them; it is a locator that no arm decides (the content is compared: `events_sha256`, `last_event_id`).
    static let chainPositions = ["chain_seq", "casebook_chain_seq"]

    /// `text` with every SHA-256 (64 hex digits) as `<sha256>`, and every chain position as `#`. The casebook's
    /// `chain_hash` digests the whole archive up to the participant's last event, the sealed schedule included, so it
    /// differs whenever any archived byte does: a digest, from which no arm can be read (the schedule's event id, time and
    /// kit order are unknown to the site).
    static func withoutDigests(_ text: String) -> String {
        chainPositions.reduce(text.replacingOccurrences(of: "[0-9a-f]{64}", with: "<sha256>", options: .regularExpression)) {
            $0.replacingOccurrences(of: "\"\($1)\":[0-9]+", with: "\"\($1)\":#", options: .regularExpression)
        }
    }

    /// `text` with every run of digits (and a decimal point within) as `#`.
    static func withoutNumbers(_ text: String) -> String {
        text.replacingOccurrences(of: "[0-9]+(\\.[0-9]+)?", with: "#", options: .regularExpression)
    }

    @Test func monitorsAndSitesReadTheSameWhicheverArmEachKitHolds() async throws {
        let original = try Self.study(permuted: false)
        let permuted = try Self.study(permuted: true)
        // The pair differs in the schedule's arms only.
        let differing = zip(original, permuted).filter { $0.canonicalBytes != $1.canonicalBytes }.map(\.0.type)
        #expect(original.count == permuted.count && differing == [.randomizationScheduleLoaded])
        #expect(original.contains { if case .doseAdministered(let d) = $0.payload { d.kitNumber != nil && d.substance == nil } else { false } })

        let urlA = try await TestStack.project(original)
        let urlB = try await TestStack.project(permuted)
        let owner = try PostgresConnection(url: urlA)
        let sites = try owner.query("SELECT DISTINCT site_id FROM monitoring.participants ORDER BY 1").decode(String.self)
        #expect(sites == ["S01", "S02"])

        for role in [DatabaseRole.monitor, .site] {
            let relations = try Self.readable(by: role, owner)
            #expect(!relations.isEmpty)
            let a = try Self.snapshot(urlA, role: role, relations: relations, sites: sites).mapValues { $0.map(Self.withoutDigests).sorted() }
            let b = try Self.snapshot(urlB, role: role, relations: relations, sites: sites).mapValues { $0.map(Self.withoutDigests).sorted() }
            // Views "as of now" (hours left, days overdue) move between two reads of the same database: read A again to
            // tell them; they must then agree with their times left out (the tables under them are compared exactly).
            let again = try Self.snapshot(urlA, role: role, relations: relations, sites: sites).mapValues { $0.map(Self.withoutDigests).sorted() }
            for key in a.keys.sorted() where a[key] != b[key] {
                let moving = a[key] != again[key]
                #expect(moving && a[key]?.map(Self.withoutNumbers) == b[key]?.map(Self.withoutNumbers),
                        "\(role.rawValue) reads \(key) differently when the arms are swapped: \(Array(Set(a[key] ?? []).symmetricDifference(b[key] ?? []).prefix(4)))")
            }
            // No arm name and no product of either arm in anything they read.
            let text = a.values.joined().joined(separator: "\n").lowercased()
            for word in ["microdose", "caffeine", "\"arm\""] { #expect(!text.contains(word), "\(role.rawValue) reads '\(word)'") }
        }
        // The monitors read the doses by kit and blinded label.
        #expect(try owner.query("SELECT count(*) FROM monitoring.doses WHERE kit_number IS NULL OR blinded_label IS NULL").decodeFirst(Int64.self) == 0)
        #expect(try owner.query("SELECT count(*) FROM monitoring.dose_kit_mismatches").decodeFirst(Int64.self) == 0)

        // The unblinded schema differs: the arms, and what the doses really were (LSD in ug, caffeine in mg).
        let unblindedA = try PostgresConnection(url: urlA, role: DatabaseRole.unblinded.rawValue)
        let unblindedB = try PostgresConnection(url: urlB, role: DatabaseRole.unblinded.rawValue)
        let exposure = PostgresQuery(unsafeSQL: "SELECT arm, substance, unit, count(*) FROM unblinded.dose_exposure WHERE content_resolved GROUP BY 1, 2, 3 ORDER BY 1, 2")
        let exposedA = try unblindedA.query(exposure).rows
        #expect(exposedA.map { [$0[0], $0[1], $0[2]] } == [["microdose", "lsd", "ug"], ["placebo", "caffeine", "mg"]], "\(exposedA)")
        #expect(try unblindedA.query("SELECT count(*) FROM unblinded.dose_exposure WHERE NOT content_resolved").decodeFirst(Int64.self) == 0)
        // Review finding: the trajectories left out the baseline. Week 0 is each participant's baseline score.
        #expect(try unblindedA.query("""
            SELECT count(*) FILTER (WHERE s.total = p.baseline_phq9), count(*), count(DISTINCT s.participant_id)
            FROM unblinded.dsmb_scores s JOIN unblinded.dsmb_participants p USING (participant_id) WHERE s.instrument = 'phq9' AND s.week = 0
            """).rows == [["8", "8", "8"]])
        let arms = PostgresQuery(unsafeSQL: "SELECT participant_id, arm FROM unblinded.participant_arms ORDER BY 1")
        let armsA = try unblindedA.query(arms).rows, armsB = try unblindedB.query(arms).rows
        #expect(armsA.count == 8 && armsA.map { $0[0] } == armsB.map { $0[0] } && zip(armsA, armsB).allSatisfy { $0[1] != $1[1] })
        #expect(try unblindedA.query(exposure).rows != unblindedB.query(exposure).rows)

        // Every site-facing answer of the site read API is the same, byte for byte.
        let h = try await IngestHarness.make()
        let participants = try owner.query("SELECT participant_id, site_id FROM monitoring.participants ORDER BY 1").decode((String, String).self)
        let unblinded = Set(original.filter { $0.type == .unblindingRequested }.compactMap(\.participantID))
        var answers: [[String]] = []
        for url in [urlA, urlB] {
            let bodies = Mutex<[String]>([])
            try await h.app { $0.databaseURL = url }.test(.live) { client in
                let live = LiveIngest(client)
                for (participant, site) in participants {
                    let token = try await h.token(site: site, subject: "investigator.\(site.lowercased())")
                    // An emergency unblinding the investigator asked for shows the arm to them, as it must: not compared.
                    let paths = ["/v1/participants/\(participant)"] + (unblinded.contains(participant) ? [] : ["/v1/participants/\(participant)/unblinding"])
                    for path in paths {
                        let answer = try await live.get(path, token)
                        bodies.withLock { $0.append("\(path) \(answer.status.code) \(answer.body)") }
                    }
                }
                for site in sites {
                    let token = try await h.token(site: site, subject: "investigator.\(site.lowercased())")
                    let answer = try await live.get("/v1/sites/\(site)/queries", token)
                    bodies.withLock { $0.append("queries \(site) \(answer.status.code) \(answer.body)") }
                }
            }
            answers.append(bodies.withLock { $0 })
        }
        #expect(answers[0].count == participants.count * 2 - unblinded.count + sites.count)
        #expect(answers[0].contains { $0.contains("\"randomizations\"") && $0.contains("K-") })
        for (a, b) in zip(answers[0], answers[1]) { #expect(Self.withoutDigests(a) == Self.withoutDigests(b)) }
        for body in answers[0] { #expect(!body.contains("microdose") && !body.contains("caffeine")) }
    }
}
