import Foundation
import Postgres
import Projection
import ServiceRuntime
import Testing
import TestSupport
import TrialDomain

#if canImport(Glibc)
import Glibc
#endif

/// The metrics the safety and audit alert rules read (infra/prometheus/alerts.yml, groups `safety` and `audit`) and the
/// projector's signal and freshness metrics, against the real executables: events posted through ingest, applied by a
/// projector, scraped from `reporter watch`'s admin port and the projector's.
@Suite("operations: safety gauges, signals opened, audit verify metrics", .stack, .timeLimit(.minutes(5)))
struct SafetyMetricsTests {
    typealias Ops = OperationsTests

    static func rfc3339(secondsAgo: Double) -> String {
        Timestamp(microsecondsSinceEpoch: Int64((Date().timeIntervalSince1970 - secondsAgo) * 1_000_000)).utc(.second)
    }

    /// A serious adverse event (grade 3: also a severe one) reported `hoursAgo` hours ago, as the site would send it.
    static func seriousAdverseEvent(id: String, hoursAgo: Double) -> String {
        """
        {"event_id":"\(id)","type":"adverse_event.reported","schema_version":1,"study_id":"MICRO-LSD-01","site_id":"S01",\
        "participant_id":"S01-0007","occurred_at":"\(rfc3339(secondsAgo: hoursAgo * 3600))",\
        "data":{"term":"Panic attack","onset_at":"\(rfc3339(secondsAgo: hoursAgo * 3600 + 600))","grade":3,"serious":true,\
        "seriousness_criteria":["hospitalisation"],"causality":"probable","action_taken":"drug_withdrawn","outcome":"recovering"}}
        """
    }

    static var siteActivation: String {
        """
        {"event_id":"\(UUID().uuidString.lowercased())","type":"site.activated","schema_version":2,"study_id":"MICRO-LSD-01",\
        "site_id":"S01","occurred_at":"\(rfc3339(secondsAgo: 86_400))",\
        "data":{"site_name":"Auckland Clinical Research","country":"NZ","principal_investigator":"Dr. A. Ngata","protocol_version":"1.0",\
        "time_zone":"Pacific/Auckland"}}
        """
    }

    static func acknowledgement(of signalID: String) -> String {
        """
        {"event_id":"\(UUID().uuidString.lowercased())","type":"signal.acknowledged","schema_version":1,"study_id":"MICRO-LSD-01",\
        "site_id":"S01","participant_id":"S01-0007","occurred_at":"\(rfc3339(secondsAgo: 60))",\
        "data":{"signal_id":"\(signalID)","note":"sponsor notified by phone"}}
        """
    }

    static func post(_ body: String, to ingest: IngestProcess, token: String) async throws -> Ops.Answer {
        try await Ops.http("POST", port: ingest.port, "/v1/events",
                           headers: ["Content-Type": "application/json", "Authorization": "Bearer \(token)"], body: body)
    }

    /// The samples of a family whose name is exactly `name` (labels or not).
    static func family(_ name: String, _ samples: [String: Double]) -> [String: Double] {
        samples.filter { $0.key == name || $0.key.hasPrefix(name + "{") }
    }

    /// An SAE due in about 22 hours shows on `reporter watch`'s admin port with that many seconds and its age as the
    /// oldest unacknowledged critical signal; acknowledged, its series goes and the critical age falls to 0. The
    /// projector counts exactly the two signals it opened (by rule and severity; not the acknowledgement, not a
    /// resent event) and the freshness of every event it archived. Both expositions pass promtool.
    @Test func saeDeadlineAndSignalAgeFollowTheReadModels() async throws {
        let (url, ingest) = try await Ops.migratedDatabaseAndIngest()
        defer { Task { try? await ingest.stop() } }
        let site = try await ingest.token(subject: "dr.s01", site: "S01", role: .investigator)
        let monitor = try await ingest.token(subject: "monitor.mo", site: "S01", role: .monitor)
        // The topic exists before the projector subscribes: the site's activation first (it opens no signal).
        let sponsor = try await ingest.token(subject: "sponsor.sp", site: nil, role: .sponsor)
        #expect(try await Self.post(Self.siteActivation, to: ingest, token: sponsor).status == 202)

        let projectorPort = try IngestProcess.freePort()
        let projector = try ProjectorProcess(Ops.projectorEnvironment(databaseURL: url, topic: ingest.topic, adminPort: projectorPort),
                                             log: "safety-projector-\(UUID().uuidString)")
        defer { kill(projector.process.processIdentifier, SIGKILL) }

        var environment = ProcessInfo.processInfo.environment
        environment["MONITOR_DATABASE_URL"] = TestStack.url(url, user: DatabaseRole.monitor.rawValue)
        environment.removeValue(forKey: "DATABASE_URL")
        let reporterPort = try IngestProcess.freePort()
        environment["REPORTER_ADMIN_PORT"] = String(reporterPort)
        let watch = try ProjectorProcess(environment, log: "safety-watch-\(UUID().uuidString)",
                                         executable: TestEnvironment.executable("reporter"), arguments: ["watch"])
        defer { kill(watch.process.processIdentifier, SIGKILL) }
        _ = try await Ops.waitFor(port: reporterPort, "/ready") { $0.status == 200 }
        _ = try await Ops.waitFor(port: projectorPort, "/metrics") { Ops.samples($0.body)["projector_events_archived_total"] == 1 }

        // Nothing open yet: no SAE series, every severity's age 0, the read succeeded.
        let quiet = Ops.samples(try await Ops.scrape(port: reporterPort).text)
        #expect(quiet["reporter_safety_query_ok"] == 1, "\(quiet)")
        #expect(Self.family("trial_sae_report_due_seconds", quiet).isEmpty)
        #expect(quiet[#"trial_signal_unacknowledged_seconds{severity="critical"}"#] == 0, "\(quiet)")
        let openedBefore = Self.family("projector_signals_opened_total", Ops.samples(try await Ops.scrape(port: projectorPort).text))
        #expect(openedBefore.values.reduce(0, +) == 0, "an activation opens nothing: \(openedBefore)")

        let aeID = UUID().uuidString.lowercased()
        let report = Self.seriousAdverseEvent(id: aeID, hoursAgo: 2)
        let sent = ContinuousClock.now
        #expect(try await Self.post(report, to: ingest, token: site).status == 202)
        let signalID = "serious_adverse_event:\(aeID)"
        let series = #"trial_sae_report_due_seconds{site_id="S01",signal_id="\#(signalID)"}"#
        let due = try await Ops.waitFor(port: reporterPort, "/metrics") { Ops.samples($0.body)[series] != nil }
        let dueValues = Ops.samples(due.body)
        let slack = Double((ContinuousClock.now - sent).components.seconds) + 5
        // Deadline: occurred_at + 24 h = now + 22 h, less the seconds since the event was stamped.
        let seconds = try #require(dueValues[series])
        #expect(seconds <= 22 * 3600 + 2 && seconds > 22 * 3600 - slack, "\(seconds)")
        #expect(Self.family("trial_sae_report_due_seconds", dueValues).count == 1, "\(due.body)")
        let age = try #require(dueValues[#"trial_signal_unacknowledged_seconds{severity="critical"}"#])
        #expect(age >= 2 * 3600 - 2 && age < 2 * 3600 + slack, "\(age)")
        let warningAge = try #require(dueValues[#"trial_signal_unacknowledged_seconds{severity="warning"}"#])
        #expect(warningAge >= 2 * 3600 - 2, "the severe adverse event signal: \(warningAge)")
        let check = try await Ops.promtool(due.body)
        #expect(check.status == 0, "promtool check metrics: \(check.output)\n\(due.body)")

        // The site resends the same report, byte for byte (a retry): a duplicate, nothing opens again.
        #expect(try await Self.post(report, to: ingest, token: site).status == 202)
        #expect(try await Self.post(Self.acknowledgement(of: signalID), to: ingest, token: monitor).status == 202)
        let acknowledged = try await Ops.waitFor(port: reporterPort, "/metrics") { Ops.samples($0.body)[series] == nil }
        let after = Ops.samples(acknowledged.body)
        #expect(Self.family("trial_sae_report_due_seconds", after).isEmpty, "\(acknowledged.body)")
        #expect(after[#"trial_signal_unacknowledged_seconds{severity="critical"}"#] == 0, "\(acknowledged.body)")
        #expect((after[#"trial_signal_unacknowledged_seconds{severity="warning"}"#] ?? 0) >= 2 * 3600 - 2, "still open")

        let projected = try await Ops.waitFor(port: projectorPort, "/metrics") {
            let s = Ops.samples($0.body)
            return s["projector_events_archived_total"] == 3 && s["projector_duplicates_total"] == 1
        }
        let counters = Ops.samples(projected.body)
        #expect(counters["projector_rejected_total"] == nil || counters["projector_rejected_total"] == 0, "\(projected.body)")
        #expect(Self.family("projector_signals_opened_total", counters) == [
            #"projector_signals_opened_total{rule="serious_adverse_event",severity="critical"}"#: 1,
            #"projector_signals_opened_total{rule="severe_adverse_event",severity="warning"}"#: 1,
        ], "\(projected.body)")
        // One freshness observation per event archived, each within the test's run.
        #expect(counters["projector_freshness_seconds_count"] == 3, "\(projected.body)")
        let freshness = try #require(counters["projector_freshness_seconds_sum"])
        #expect(freshness >= 0 && freshness < 3 * 300, "\(freshness)")
        let projectorCheck = try await Ops.promtool(projected.body)
        #expect(projectorCheck.status == 0, "promtool check metrics: \(projectorCheck.output)\n\(projected.body)")
        #expect(try await watch.stop(SIGTERM) == 0)
        #expect(try await projector.stop(SIGTERM) == 0)
    }

    /// When the read fails (here: a database without the monitoring schema, where LISTEN still works, so the watch
    /// runs on) the scrape still answers, with `reporter_safety_query_ok 0` and no safety series.
    @Test func aFailedReadShowsAsQueryNotOK() async throws {
        // The roles are the cluster's: some database migrated makes trial_monitor exist; this one stays unmigrated.
        try Migrator.migrate(try PostgresConnection(url: try TestStack.freshDatabase()), logger: TestStack.logger)
        let url = try TestStack.freshDatabase()
        var environment = ProcessInfo.processInfo.environment
        environment["MONITOR_DATABASE_URL"] = TestStack.url(url, user: DatabaseRole.monitor.rawValue)
        let port = try IngestProcess.freePort()
        let watch = try ProjectorProcess(environment, log: "safety-nodb-\(UUID().uuidString)",
                                         executable: TestEnvironment.executable("reporter"),
                                         arguments: ["watch", "--admin-port", String(port)])
        defer { kill(watch.process.processIdentifier, SIGKILL) }
        _ = try await Ops.waitFor(port: port, "/ready") { $0.status == 200 }
        let answer = try await Ops.scrape(port: port)
        #expect(answer.samples["reporter_safety_query_ok"] == 0, "\(answer.text)")
        #expect(Self.family("trial_signal_unacknowledged_seconds", answer.samples).isEmpty, "\(answer.text)")
        #expect(try await watch.stop(SIGTERM) == 0)
    }

    /// `reporter audit verify --metrics-file`: ok 1 on an intact archive, 0 once an envelope is altered and when the
    /// database cannot be reached; the exit status is unchanged (0, 1, 1); the file passes promtool.
    @Test func auditVerifyWritesItsVerdictForTheTextfileCollector() async throws {
        let (db, events) = try AuditFixtures.archive()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("textfile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("audit_verify.prom")
        let reporter = TestEnvironment.executable("reporter").path
        func verify(_ databaseURL: String) async throws -> (status: Int32, metrics: [String: Double], text: String) {
            let run = try await runToEnd(URL(fileURLWithPath: reporter), ["audit", "verify", "--database-url", databaseURL, "--no-anchors", "--skip-log-check",
                                                       "--metrics-file", file.path])
            let text = try String(contentsOf: file, encoding: .utf8)
            return (run.status, Ops.samples(text), text)
        }
        let started = Date().timeIntervalSince1970.rounded(.down)
        let good = try await verify(db.url)
        #expect(good.status == 0)
        #expect(good.metrics["audit_chain_verify_ok"] == 1, "\(good.text)")
        let stamp = try #require(good.metrics["audit_chain_verify_last_run_timestamp_seconds"])
        #expect(stamp >= started && stamp <= Date().timeIntervalSince1970 + 1, "\(stamp)")
        let check = try await Ops.promtool(good.text)
        #expect(check.status == 0, "promtool check metrics: \(check.output)\n\(good.text)")

        try AuditFixtures.tamper(db, "UPDATE audit.events SET envelope = replace(envelope, '\"amount\":8', '\"amount\":80') WHERE event_id = '\(events[2].eventID)'")
        let tampered = try await verify(db.url)
        #expect(tampered.status == 1)
        #expect(tampered.metrics["audit_chain_verify_ok"] == 0, "\(tampered.text)")

        try Data("audit_chain_verify_ok 1\n".utf8).write(to: file)
        let unreachable = try await verify("postgresql://trial_auditor@127.0.0.1:\(try IngestProcess.freePort())/trial?connect_timeout=2")
        #expect(unreachable.status != 0)
        #expect(unreachable.metrics["audit_chain_verify_ok"] == 0, "\(unreachable.text)")
        // Only the file itself: the temporary one was renamed over it.
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["audit_verify.prom"])
    }
}
