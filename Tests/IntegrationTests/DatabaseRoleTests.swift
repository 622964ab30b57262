import Foundation
import Postgres
@testable import Projection
import Reporting
import ServiceRuntime
import Testing
import TestSupport
import TrialDomain

/// Migration 0005's roles, each used through a real login of its own: what it can and cannot read or write.
@Suite("database roles", .stack, .timeLimit(.minutes(4)))
struct DatabaseRoleTests {
    /// A migrated database holding a simulated study (arms included), applied by a session acting as trial_projector.
    static func populated() throws -> String {
        let url = try TestStack.freshDatabase()
        try Migrator.migrate(try PostgresConnection(url: url), logger: TestStack.logger)
        let projector = try PostgresConnection(url: url, role: DatabaseRole.projector.rawValue)
        try TestStack.apply(try StudyFixtures.simulatedEvents(), to: projector)
        return url
    }

    static func login(_ url: String, as role: DatabaseRole) throws -> PostgresConnection {
        let db = try PostgresConnection(url: TestStack.url(url, user: role.rawValue))
        #expect(try db.query("SELECT current_user, session_user").rows == [[role.rawValue, role.rawValue]])
        return db
    }

    static func count(_ db: PostgresConnection, _ table: String) throws -> Int {
        try db.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(table)")).decodeFirst(Int.self)
    }

    /// Runs each statement and expects PostgreSQL to refuse it for lack of privilege (SQLSTATE 42501).
    static func expectRefused(_ db: PostgresConnection, _ statements: String..., sourceLocation: SourceLocation = #_sourceLocation) {
        for sql in statements {
            do {
                try db.execute(unsafeSQL: sql)
                Issue.record("allowed: \(sql)", sourceLocation: sourceLocation)
            } catch {
                #expect(error.sqlState == "42501", "\(sql): \(error)", sourceLocation: sourceLocation)
            }
        }
    }

    @Test func aMonitorReadsMonitoringAndNeverAnArm() throws {
        let url = try Self.populated()
        let monitor = try Self.login(url, as: .monitor)
        let participants = try Self.count(try PostgresConnection(url: url), "monitoring.participants")
        let seen = try Self.count(monitor, "monitoring.participants")
        #expect(participants >= 18 && seen == participants)
        #expect(try Self.count(monitor, "monitoring.sites") == 3)
        // No column named arm is visible to the session anywhere, nor any statistics about one.
        #expect(try monitor.query("SELECT table_schema, table_name FROM information_schema.columns WHERE column_name = 'arm'").isEmpty)
        #expect(try monitor.query("SELECT 1 FROM pg_stats WHERE attname = 'arm'").isEmpty)
        Self.expectRefused(monitor,
            "SELECT arm FROM unblinded.allocations",
            "SELECT data FROM audit.events",
            "UPDATE monitoring.safety_signals SET status = 'acknowledged'",
            "DELETE FROM monitoring.doses",
            "INSERT INTO monitoring.site_activity (site_id, last_event_recorded_at, events) VALUES ('S09', now(), 1)",
            "SELECT * FROM projection.checkpoints")
    }

    @Test func anAuditorReadsTheArchiveButChangesNothing() throws {
        let url = try Self.populated()
        let auditor = try Self.login(url, as: .auditor)
        #expect(try Self.count(auditor, "audit.events") == (try StudyFixtures.simulatedEvents().count))
        #expect(try Self.count(auditor, "monitoring.participants") >= 18)
        #expect(try AuditVerification.run(auditor).intact)
        Self.expectRefused(auditor,
            "SELECT arm FROM unblinded.allocations",
            "UPDATE audit.events SET recorded_by = 'mallory'",
            "DELETE FROM audit.events",
            "INSERT INTO audit.rejected (kafka_topic, kafka_partition, kafka_offset, event_id, reason, envelope) VALUES ('t', 0, 0, gen_random_uuid(), 'x', '{}')",
            "DELETE FROM monitoring.safety_signals")
    }

    @Test func theUnblindedRoleReadsAllocationsOnly() throws {
        let url = try Self.populated()
        let unblinded = try Self.login(url, as: .unblinded)
        // The simulated study randomizes through the system (issue 16): every arm comes from the schedule's kits.
        #expect(try Self.count(unblinded, "unblinded.participant_arms") > 0)
        #expect(try Self.count(unblinded, "unblinded.randomization_kits") > 0)
        Self.expectRefused(unblinded,
            "SELECT * FROM monitoring.participants",
            "SELECT * FROM audit.events",
            "DELETE FROM unblinded.allocations")
    }

    @Test func theProjectorAppendsButCannotRewriteTheArchive() throws {
        let url = try Self.populated()
        let projector = try Self.login(url, as: .projector)
        #expect(try Rebuild.run(projector, dryRun: false, logger: TestStack.logger).tables.isEmpty == false)
        Self.expectRefused(projector,
            "UPDATE audit.events SET recorded_by = 'mallory'",
            "DELETE FROM audit.events",
            "TRUNCATE audit.events",
            "ALTER TABLE audit.events DISABLE TRIGGER events_append_only",
            "DROP TABLE monitoring.participants",
            "CREATE TABLE audit.shadow (x int)",
            "UPDATE audit.rejected SET reason = 'x'")
        // Not even the owner can change an archived event: the append-only trigger refuses every role.
        let owner = try PostgresConnection(url: url)
        do {
            try owner.query("UPDATE audit.events SET recorded_by = 'mallory'")
            Issue.record("the owner changed the archive")
        } catch {
            #expect(error.message.contains("append-only"))
        }
    }

    /// Ingest's role sees three things: each archived event's id and content digest, what a data query step may name
    /// of it (participant, type, the event a correction or void changes: migration 0023), and what a signature may name
    /// (participant, site, type, chain point and link, the SHA-256 of the envelope: migration 0025; recorder, changed type,
    /// witnesses: 0028). Not the events' data
    /// (health data and arms), not the rejected records, not the read models; and it writes nothing.
    @Test func theIngestRoleReadsOnlyEventDigestsAndReferences() throws {
        let url = try Self.populated()
        let ingest = try Self.login(url, as: .ingest)
        #expect(try Self.count(ingest, "audit.event_digests") == (try StudyFixtures.simulatedEvents().count))
        let columns = try ingest.query("""
            SELECT table_schema || '.' || table_name || '.' || column_name FROM information_schema.columns
            WHERE table_schema IN ('audit', 'monitoring', 'projection', 'unblinded', 'site_api') ORDER BY table_name, ordinal_position
            """)
        #expect(columns.rows == [// Each randomized participant's kit (issue 16, blinded dosing: a dose must come from it; migration 0029).
                                 ["audit.assigned_kits.study_id"], ["audit.assigned_kits.participant_id"], ["audit.assigned_kits.kit_number"],
                                 // The blinded labels each study's schedules state (the same for every arm).
                                 ["audit.blinded_labels.study_id"], ["audit.blinded_labels.blinded_label"],
                                 ["audit.event_digests.event_id"], ["audit.event_digests.content_sha256"],
                                 ["audit.event_references.event_id"], ["audit.event_references.participant_id"],
                                 ["audit.event_references.type"], ["audit.event_references.changed_event_id"],
                                 // Which studies randomize through the system, and since when (issue 16): never the schedule.
                                 // Each participant's status (only the enrolled are randomized) and a digest of each study's
                                 // randomization design (a later schedule keeps it): never an arm (migration 0029).
                                 ["audit.participant_statuses.participant_id"], ["audit.participant_statuses.status"],
                                 // Participants a site randomized before the schedule (their doses stay open).
                                 ["audit.pre_schedule_allocations.study_id"], ["audit.pre_schedule_allocations.participant_id"],
                                 ["audit.randomization_designs.study_id"], ["audit.randomization_designs.design_sha256"],
                                 ["audit.randomization_schedules.study_id"], ["audit.randomization_schedules.loaded_at"],
                                 ["audit.signable_events.event_id"], ["audit.signable_events.participant_id"],
                                 ["audit.signable_events.site_id"], ["audit.signable_events.type"], ["audit.signable_events.chain_seq"],
                                 ["audit.signable_events.chain_hash"], ["audit.signable_events.envelope_sha256"],
                                 // Migration 0028: who recorded it, what a correction changes and whom a destruction names
                                 // as witnesses (the signing rules), and who witnessed which destruction.
                                 ["audit.signable_events.recorded_by"], ["audit.signable_events.changed_type"],
                                 ["audit.signable_events.witnesses"],
                                 ["audit.witness_signatures.destruction_event_id"], ["audit.witness_signatures.witness"],
                                 ["audit.witness_signatures.signature_id"], ["audit.witness_signatures.recorded_at"]])
        #expect(try Self.count(ingest, "audit.signable_events") == (try StudyFixtures.simulatedEvents().count))
        Self.expectRefused(ingest,
            "SELECT * FROM audit.events",
            "SELECT * FROM audit.rejected",
            "SELECT * FROM audit.chain_head",
            "SELECT * FROM monitoring.participants",
            "SELECT * FROM monitoring.safety_signals",
            "SELECT arm FROM unblinded.allocations",
            "SELECT * FROM projection.checkpoints",
            "INSERT INTO audit.event_digests (event_id, content_sha256) VALUES (gen_random_uuid(), sha256('x'))",
            "DELETE FROM audit.event_digests",
            "UPDATE audit.event_digests SET content_sha256 = sha256('x')")
    }

    /// Events archived before migration 0008 have no digest: the projector fills them in when it recomputes, equal to
    /// the digests it writes while archiving.
    @Test func digestsMissingFromAnOlderArchiveAreFilledOnRecompute() throws {
        let url = try Self.populated()
        let owner = try PostgresConnection(url: url)
        let written = try owner.query("SELECT event_id, encode(content_sha256, 'hex') FROM audit.event_digests ORDER BY 1").rows
        #expect(written.count == (try StudyFixtures.simulatedEvents().count))
        try owner.query("DELETE FROM audit.event_digests")
        try owner.query("INSERT INTO projection.recompute_requests (reason) VALUES ('test: digests lost')")
        try Recompute.serveRequests(try PostgresConnection(url: url, role: DatabaseRole.projector.rawValue), logger: TestStack.logger)
        #expect(try owner.query("SELECT event_id, encode(content_sha256, 'hex') FROM audit.event_digests ORDER BY 1").rows == written)
    }

    /// `projector rebuild` does what a recompute request asks (digests filled, every read model recomputed), so it
    /// serves the requests: before, they stayed and the next projector to start recomputed the whole archive again,
    /// and the filling statement scanned the archive from its start for every chunk of digests.
    @Test func aRebuildFillsMissingDigestsAndServesTheRecomputeRequests() throws {
        let url = try Self.populated()
        let owner = try PostgresConnection(url: url)
        let written = try owner.query("SELECT event_id, encode(content_sha256, 'hex') FROM audit.event_digests ORDER BY 1").rows
        // Gaps all through the archive, so the filling walks past digests that exist, in chunks smaller than it.
        try owner.query("""
            DELETE FROM audit.event_digests WHERE event_id IN (SELECT event_id FROM audit.events WHERE archive_seq % 3 <> 0)
            """)
        try owner.query("INSERT INTO projection.recompute_requests (reason) VALUES ('test: digests lost')")
        let requests = try Self.count(owner, "projection.recompute_requests")
        let projector = try PostgresConnection(url: url, role: DatabaseRole.projector.rawValue)
        #expect(try Rebuild.run(projector, dryRun: true, logger: TestStack.logger).identical)
        #expect(try Self.count(owner, "projection.recompute_requests") == requests, "a dry run changes nothing")
        #expect(try Rebuild.run(projector, logger: TestStack.logger).identical)
        #expect(try Self.count(owner, "projection.recompute_requests") == 0)
        #expect(try owner.query("SELECT event_id, encode(content_sha256, 'hex') FROM audit.event_digests ORDER BY 1").rows == written)
        try owner.query("DELETE FROM audit.event_digests WHERE event_id IN (SELECT event_id FROM audit.events WHERE archive_seq % 4 = 1)")
        #expect(try EventDigests.fillMissing(projector, chunk: 5) > 0)
        #expect(try owner.query("SELECT event_id, encode(content_sha256, 'hex') FROM audit.event_digests ORDER BY 1").rows == written)
    }

    @Test func reporterUsesTheLeastPrivilegedRoleAndUnblindsOnlyOnRequest() async throws {
        let url = try Self.populated()
        let participant = try PostgresConnection(url: url).query(
            "SELECT participant_id FROM unblinded.participant_arms ORDER BY participant_id LIMIT 1").decodeFirst(String.self)
        let asMonitor = ["MONITOR_DATABASE_URL": TestStack.url(url, user: "trial_monitor"), "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"]
        let status = try await Self.reporter(["status"], environment: asMonitor)
        #expect(status.exit == 0 && status.output.contains(participant), "\(status.output)")

        let blinded = try await Self.reporter(["participant", participant], environment: asMonitor)
        #expect(blinded.exit == 0 && !blinded.output.contains("ARM"))
        // A monitor's login cannot unblind, however the command is asked.
        var monitorEverywhere = asMonitor
        monitorEverywhere["UNBLINDED_DATABASE_URL"] = TestStack.url(url, user: "trial_monitor")
        let refused = try await Self.reporter(["participant", participant, "--unblinded"], environment: monitorEverywhere)
        #expect(refused.exit != 0 && refused.output.contains("trial_unblinded") && !refused.output.contains("ARM"), "\(refused.output)")
        var withUnblindedLogin = asMonitor
        withUnblindedLogin["UNBLINDED_DATABASE_URL"] = TestStack.url(url, user: "trial_unblinded")
        let unblinded = try await Self.reporter(["participant", participant, "--unblinded", "--reason", "SAE causality"],
                                                environment: withUnblindedLogin)
        #expect(unblinded.exit == 0 && unblinded.output.contains("ARM (unblinded)"), "\(unblinded.output)")
        // The per-participant reconciliation (issue 14) beside it: dispensed − administered − returned of each lot.
        #expect(unblinded.output.contains("ACCOUNTABILITY (unblinded)") && unblinded.output.contains("lot LSD-2026-A: dispensed "),
                "\(unblinded.output)")
        #expect(!blinded.output.contains("ACCOUNTABILITY") && !blinded.output.contains("LSD-2026-A"))

        // Each unblinded read is recorded first, with the login and the server's time; the refused one read nothing.
        let asAuditor = ["AUDITOR_DATABASE_URL": TestStack.url(url, user: "trial_auditor")]
        let access = try await Self.reporter(["audit", "access", "--participant", participant, "--format", "json"], environment: asAuditor)
        let accesses = try JSONParser().parse(access.output.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(access.exit == 0, "\(access.output)")
        guard case .array(let records) = accesses, records.count == 1, let record = records.first else {
            Issue.record("expected one access record: \(access.output)")
            return
        }
        #expect(record["accessed_by"] == "trial_unblinded" && record["participant_id"] == .string(participant))
        #expect(record["command"] == "reporter participant --unblinded" && record["reason"] == "SAE causality")
        // Nobody rewrites or erases it, not even the one who read; only the server says who and when; monitors do not see it.
        let reader = try Self.login(url, as: .unblinded)
        Self.expectRefused(reader,
            "UPDATE audit.unblinded_access SET reason = 'x'",
            "DELETE FROM audit.unblinded_access",
            "INSERT INTO audit.unblinded_access (participant_id, command, accessed_by) VALUES ('S01-0001', 'x', 'someone else')",
            "SELECT * FROM audit.unblinded_access")
        Self.expectRefused(try PostgresConnection(url: url), "UPDATE audit.unblinded_access SET reason = 'x'", "TRUNCATE audit.unblinded_access")
        Self.expectRefused(try Self.login(url, as: .monitor), "SELECT * FROM audit.unblinded_access")

        // Archived straight through the BatchWriter, without a log or anchors: only the database part is verified here.
        let verify = try await Self.reporter(["audit", "verify", "--no-anchors", "--skip-log-check"], environment: ["AUDITOR_DATABASE_URL": TestStack.url(url, user: "trial_auditor")])
        #expect(verify.exit == 0, "\(verify.output)")
        let auditorAsMonitor = try await Self.reporter(["audit", "verify", "--no-anchors", "--skip-log-check"], environment: ["AUDITOR_DATABASE_URL": TestStack.url(url, user: "trial_monitor")])
        #expect(auditorAsMonitor.exit != 0 && auditorAsMonitor.output.contains("trial_auditor"), "\(auditorAsMonitor.output)")

        // Issue 16: monitors read the kits and never an arm; the DSMB report needs --unblinded and the unblinded login.
        let kits = try await Self.reporter(["randomization", "--format", "json"], environment: asMonitor)
        #expect(kits.exit == 0 && kits.output.contains("\"kit_number\":\"K-") && !kits.output.contains("microdose"), "\(kits.output)")
        let unasked = try await Self.reporter(["dsmb"], environment: withUnblindedLogin)
        #expect(unasked.exit != 0 && unasked.output.contains("--unblinded"), "\(unasked.output)")
        let dsmbAsMonitor = try await Self.reporter(["dsmb", "--unblinded"], environment: monitorEverywhere)
        #expect(dsmbAsMonitor.exit != 0 && dsmbAsMonitor.output.contains("trial_unblinded"), "\(dsmbAsMonitor.output)")
        let dsmb = try await Self.reporter(["dsmb", "--unblinded", "--format", "json", "--reason", "interim review"], environment: withUnblindedLogin)
        #expect(dsmb.exit == 0, "\(dsmb.output)")
        let board = try JSONParser().parse(dsmb.output.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(board["arms"]?.arrayValue?.compactMap { $0["arm"]?.stringValue } == ["microdose", "placebo"], "\(dsmb.output)")
        #expect(board["arms"]?.arrayValue?.map { $0["enrolled"]?.numberValue ?? 0 }.reduce(0, +) == Double(try Self.count(Self.owner(url), "unblinded.participant_arms")))
        // Per assessor and time point (issue 16 review: week 4 and week 8 guesses are not mixed).
        let points = board["blinding"]?.arrayValue?.map { "\($0["assessor"]?.stringValue ?? "?") \($0["week"]?.numberValue.map { Int($0) } ?? -1)" }
        #expect(Set(points ?? []).count == points?.count && Set((points ?? []).map { $0.split(separator: " ")[0] }) == ["participant", "rater"]
                && points?.allSatisfy { !$0.hasSuffix(" -1") } == true, "\(dsmb.output)")
        #expect(try PostgresConnection(url: url).query("""
            SELECT accessed_by, command, reason FROM audit.unblinded_access WHERE participant_id = '*'
            """).rows == [["trial_unblinded", "reporter dsmb --unblinded", "interim review"]])
    }

    static func owner(_ url: String) throws -> PostgresConnection { try PostgresConnection(url: url) }

    static func reporter(_ arguments: [String], environment: [String: String]) async throws -> (exit: Int32, output: String) {
        try await TestStack.run("reporter", arguments, environment: environment)
    }
}
