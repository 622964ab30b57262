import Foundation
import Postgres
import Projection
import Reporting
import ServiceRuntime
import Simulator
import Testing
import TestSupport
import TrialDomain

/// The monitoring schema in PostgreSQL: accountability, views, notifications, reports.
@Suite("monitoring read models in PostgreSQL", .serialized, .stack, .timeLimit(.minutes(4)))
struct MonitoringTests {
    static func story(_ build: (inout ParticipantStory) -> Void) -> [RecordedEvent] {
        var s = ParticipantStory.standard()
        build(&s)
        return s.events
    }

    @Test func accountabilityReconcilesOrFlagsADiscrepancy() throws {
        let db = try TestStack.migratedDatabase()
        let events = Self.story { s in
            s.add(.drugReceived, day: -5, ["lot": "L1", "substance": "lsd", "quantity": 100, "unit": "ug", "supplier": "P",
                                           "expires_on": "2028-01-01"])
            s.add(.drugDispensed, day: 0, ["lot": "L1", "quantity": 8, "unit": "ug"])
            s.dose(day: 0, 8)
            s.add(.drugReturned, day: 10, ["lot": "L1", "quantity": 92, "unit": "ug"], siteLevel: true)
        }
        try TestStack.apply(events, to: db)
        #expect(try db.query("""
            SELECT received::text, dispensed::text, administered::text, returned_to_sponsor::text, balance::text, discrepancy
            FROM unblinded.drug_accountability WHERE site_id = 'S01' AND lot = 'L1'
            """).rows == [["100", "8", "8", "92", "0", "f"]])
        #expect(try db.query("SELECT count(*) FROM monitoring.safety_signals WHERE rule = 'accountability_discrepancy'").rows == [["0"]])

        // 20 more dispensed than the stock holds.
        var more = ParticipantStory(counter: 100)
        more.add(.drugDispensed, day: 3, ["lot": "L1", "quantity": 20, "unit": "ug"])
        try TestStack.apply(more.events, to: db, from: Int64(events.count))
        let row = try db.query("SELECT balance::text, discrepancy, discrepancy_reason FROM unblinded.drug_accountability WHERE lot = 'L1'")
        #expect(row.rows == [["-20", "t", "balance is negative (-20 ug)"]])
        let signal = try db.query("SELECT signal_id, status, participant_id FROM monitoring.safety_signals WHERE rule = 'accountability_discrepancy'")
        // Named after the lot's first movement (its receipt), never the lot: monitors must not learn which lot it is.
        let receipt = events.first { $0.type == .drugReceived }!.eventID
        #expect(signal.rows == [["accountability_discrepancy:\(receipt)", "open", nil]])
        // A monitor acknowledges the site signal by that name.
        var ack = ParticipantStory(counter: 200)
        ack.add(.signalAcknowledged, day: 20, ["signal_id": .string("accountability_discrepancy:\(receipt)"), "note": "pharmacy recount"],
                siteLevel: true, recordedBy: "monitor.mo")
        try TestStack.apply(ack.events, to: db, from: Int64(events.count + 1))
        #expect(try db.query("SELECT status, acknowledged_by FROM monitoring.safety_signals WHERE rule = 'accountability_discrepancy'").rows
                == [["acknowledged", "monitor.mo"]])
        // A receipt of the lot dated before the first one, entered now: the signal takes its name (the old row goes), and
        // is open again under it.
        var earlier = ParticipantStory(counter: 300)
        let firstReceipt = earlier.add(.drugReceived, day: -9, ["lot": "L1", "substance": "lsd", "quantity": 1, "unit": "ug", "supplier": "P",
                                                                "expires_on": "2028-01-01"])
        try TestStack.apply(earlier.events, to: db, from: Int64(events.count + 2))
        #expect(try db.query("""
            SELECT signal_id, trigger_event_id::text, status FROM monitoring.safety_signals WHERE rule = 'accountability_discrepancy'
            """).rows == [["accountability_discrepancy:\(firstReceipt)", firstReceipt, "open"]])
        #expect(try Rebuild.run(db, logger: TestStack.logger).identical)
    }

    /// WHO-5 (issue 19): the raw scores in monitoring.participants, the percentage in the participant report.
    @Test func wellBeingScoresReachTheParticipantSummary() throws {
        let db = try TestStack.migratedDatabase()
        let events = Self.story { s in
            func who5(_ day: Double, _ items: [Int]) {
                s.add(.assessmentCompleted, day: day, ["instrument": "who5", "items": .array(items.map { .number(Double($0)) }),
                                                       "total": .number(Double(items.reduce(0, +)))])
            }
            who5(-1, [2, 1, 2, 1, 2])
            s.dose(day: 0.5, 8)
            who5(14, [3, 3, 4, 3, 3])
        }
        try TestStack.apply(events, to: db)
        #expect(try db.query("SELECT baseline_who5, latest_who5, change_who5 FROM monitoring.participants").rows == [["8", "16", "8"]])
        #expect(try db.query("SELECT instrument, total_score FROM monitoring.assessments").rows == [["who5", "8"], ["who5", "16"]])
        let timeline = try ParticipantTimeline.load(db, participantID: ParticipantStory.standard().participant)
        #expect(timeline.text.contains("WHO-5 baseline → latest") && timeline.text.contains("8 → 16 (64 %)"), "\(timeline.text)")
    }

    /// Visits and doses are due on the protocol's calendar from Day 1 (the first dose, 2026-01-05T21:00Z): weekly PHQ-9
    /// within a day, doses on days 0 and 3 of every week within a day. A missed visit stays missed when a later
    /// assessment comes outside its window (rolling forward from the last assessment hid it), and a missed dose nobody
    /// reported lowers adherence like a reported one.
    @Test func schedulesAreAnchoredToDay1() throws {
        let db = try TestStack.migratedDatabase()
        var s = ParticipantStory()
        var rules = ParticipantStory.protocolRules.objectValue!
        rules["dosing_schedule"] = ["cycle_days": 7, "dose_days": [0, 3], "window_days": 1]
        s.add(.protocolDefined, day: -30, .object(rules))
        s.add(.participantEnrolled, day: 0, hour: 8, ["consented_at": "2026-01-03T10:00:00Z", "protocol_version": "1.0"])
        let phq9 = [1, 1, 1, 1, 1, 1, 1, 1, 0]
        s.phq9(day: 0, items: phq9)
        s.dose(day: 0.5, 8)
        s.dose(day: 3.5, 9)
        s.phq9(day: 7.5, items: phq9)      // visit 1 (due day 7.5)
        s.dose(day: 7.5, 10)
        // day 10.5: a dose nobody reported; visit 2 (day 14.5) missed
        s.add(.doseMissed, day: 14.5, ["reason": "participant_unavailable"])
        s.dose(day: 17.5, 10)
        s.phq9(day: 21.5, items: phq9)     // visit 3
        s.phq9(day: 26, items: phq9)       // 2.5 days before visit 4: outside its window
        try TestStack.apply(s.events, to: db)
        #expect(try db.query("""
            SELECT visit, due_at::text, window_closes_at::text FROM monitoring.overdue_assessments WHERE visit <= 5 ORDER BY visit
            """).rows == [["2", "2026-01-19 21:00:00+00", "2026-01-20 21:00:00+00"],
                          ["4", "2026-02-02 21:00:00+00", "2026-02-03 21:00:00+00"],
                          ["5", "2026-02-09 21:00:00+00", "2026-02-10 21:00:00+00"]])
        // Enrolled since January: every weekly visit after the last is overdue as of now, one row each.
        #expect(try db.query("SELECT count(*) > 40 FROM monitoring.overdue_assessments").rows == [["t"]])
        // Doses due every day 0 and 3 since Day 1 (well over 60 by now); 4 given, 1 missed reported.
        #expect(try db.query("""
            SELECT day1_at::text, doses_due > 60, doses_administered, doses_missed_reported, doses_unreported > 60, adherence_pct < 10
            FROM monitoring.dose_adherence
            """).rows == [["2026-01-05 21:00:00+00", "t", "4", "1", "t", "t"]])
        // Completed on day 20: the calendar stops there (days 0, 3, 7, 10, 14, 17 due: 6).
        var done = ParticipantStory(counter: 100)
        done.add(.participantCompleted, day: 20, [:])
        try TestStack.apply(done.events, to: db, from: Int64(s.events.count))
        #expect(try db.query("""
            SELECT doses_due, doses_administered, doses_missed_reported, doses_unreported, adherence_pct::text FROM monitoring.dose_adherence
            """).rows == [["6", "4", "1", "1", "66.7"]])
        #expect(try db.query("SELECT count(*) FROM monitoring.overdue_assessments").rows == [["0"]], "only enrolled participants are due")
    }

    @Test func timeDependentViewsAreComputedAtReadTime() throws {
        let db = try TestStack.migratedDatabase()
        // Events dated long ago: the serious AE is past its deadline and the weekly PHQ-9 is overdue now.
        let events = Self.story { s in
            s.phq9(day: 0, items: [1, 1, 1, 1, 1, 1, 1, 1, 0])
            // The dose is in custody: its lot received and dispensed to the participant (issue 14).
            s.add(.drugReceived, day: -5, ["lot": "L1", "substance": "lsd", "quantity": 100, "unit": "ug", "supplier": "P",
                                           "expires_on": "2028-01-01"])
            s.add(.drugDispensed, day: 0, ["lot": "L1", "quantity": 8, "unit": "ug"])
            s.dose(day: 0.5, 8)
            s.add(.adverseEventReported, day: 1, ["term": "Syncope", "onset_at": "2026-01-06T08:00:00Z", "grade": 3, "serious": true,
                                                  "seriousness_criteria": ["hospitalisation"], "causality": "possible",
                                                  "action_taken": "dose_interrupted", "outcome": "recovering"])
        }
        try TestStack.apply(events, to: db)
        #expect(try db.query("SELECT past_deadline FROM monitoring.sae_deadlines").rows == [["t"]])
        #expect(try db.query("SELECT instrument, days_overdue > 300 FROM monitoring.overdue_assessments WHERE visit = 1").rows == [["phq9", "t"]])
        #expect(try db.query("SELECT days_since_last_dose > 300 FROM monitoring.participant_activity").rows == [["t"]])
        #expect(try db.query("SELECT enrolled, doses, open_adverse_events, open_signals FROM monitoring.sites").rows == [["1", "1", "1", "2"]])
        // Nothing the projector stored depends on when it ran.
        let columns = try db.query("""
            SELECT table_name || '.' || column_name FROM information_schema.columns
            WHERE table_schema = 'monitoring' AND column_default ILIKE '%now()%'
            """)
        #expect(columns.isEmpty)
    }

    @Test func criticalSignalsAreNotifiedOnceWhenTheyOpen() throws {
        let db = try TestStack.migratedDatabase()
        let listener = try PostgresConnection(url: db.url)
        try listener.query("LISTEN critical_signals")
        let events = Self.story { s in s.phq9(day: 1, items: [1, 1, 1, 1, 1, 1, 1, 1, 2]) }
        try TestStack.apply(events, to: db)
        let note = try #require(try listener.waitForNotification(timeoutSeconds: 5))
        let payload = try JSONParser().parse(note.payload)
        #expect(payload["rule"] == "suicidality" && payload["participant_id"] == "S01-0001")
        // Recomputing the same participant (a later, unrelated event) does not notify again.
        var later = ParticipantStory(counter: 50)
        later.add(.vitalsRecorded, day: 2, ["systolic_mmhg": 120, "diastolic_mmhg": 80, "heart_rate_bpm": 70, "time_point": "follow_up"])
        try TestStack.apply(later.events, to: db, from: Int64(events.count))
        #expect(try listener.waitForNotification(timeoutSeconds: 1) == nil)
        // Nor does a rebuild, which recomputes every signal from scratch.
        #expect(try Rebuild.run(db, logger: TestStack.logger).identical)
        #expect(try listener.waitForNotification(timeoutSeconds: 1) == nil)
    }

    /// A refused query whose queried event is not the participant's (no event type on its row) is shown in the
    /// clinician's timeline as a query about that event, not as an unknown query.
    @Test func aRefusedQueryWithoutAnEventTypeIsShownAsAQuery() throws {
        var s = ParticipantStory.standard()
        let elsewhere = "00000000-0000-4000-8000-000000000999"
        s.add(.queryRaised, day: 2, ["event_id": .string(elsewhere), "pointer": "", "question": "whose?"], recordedBy: "monitor")
        let db = try TestStack.migratedDatabase()
        try TestStack.apply(s.events, to: db)
        let timeline = try ParticipantTimeline.load(db, participantID: s.participant)
        let line = try #require(timeline.entries.first { $0.kind == "query raised" })
        #expect(line.text.hasPrefix("? \(elsewhere): whose?"), "\(line.text)")
        #expect(!timeline.text.contains("unknown query"))
    }

    @Test func reportsShowSignalsCriticalFirstAndAClinicianTimeline() throws {
        let db = try TestStack.migratedDatabase()
        var configuration = StudySimulator.Configuration(start: Timestamp(rfc3339: "2026-01-05T00:00:00Z")!)
        configuration.sites = 2
        configuration.participantsPerSite = 5
        configuration.weeks = 4
        let validator = EventValidator()
        let events = try StudySimulator(configuration: configuration).submissions().map {
            try validator.validateSubmission($0.json, recordedAt: Timestamp(rfc3339: "2026-03-01T00:00:00Z")!, recordedBy: $0.sender).get()
        }
        try TestStack.apply(events, to: db)
        let signals = try SignalsReport.load(db, includeAcknowledged: true).signals
        let severities = signals.map(\.severity)
        #expect(severities == severities.sorted { rank($0) < rank($1) }, "critical first")
        let timeline = try ParticipantTimeline.load(db, participantID: "S01-0001")
        let kinds = Set(timeline.entries.map(\.kind))
        #expect(kinds.isSuperset(of: ["screened", "enrolled", "dose", "PHQ9", "MADRS", "vitals", "completed"]))
        #expect(timeline.entries.map(\.at) == timeline.entries.map(\.at).sorted())
        #expect(!timeline.text.contains("microdose") && !timeline.text.contains("placebo"), "no arm in the monitors' view")
        #expect(throws: ParticipantTimeline.NotFound.self) { try ParticipantTimeline.load(db, participantID: "S09-0001") }
        let status = try StatusReport.load(db)
        #expect(status.sites.map(\.siteID) == ["S01", "S02"])
        #expect(status.sites.allSatisfy { $0.enrolled + $0.completed + $0.withdrawn == 5 && $0.screenFailed == 2 })
    }

    @Test func theArmNeverReachesTheMonitoringSchema() throws {
        let db = try TestStack.migratedDatabase()
        let events = Self.story { s in s.add(.participantRandomized, day: 0.2, ["kit_number": "K-7", "arm": "placebo-arm-X"]) }
        try TestStack.apply(events, to: db)
        #expect(try db.query("SELECT arm FROM unblinded.allocations").rows == [["placebo-arm-X"]])
        for table in readModelTables where table.hasPrefix("monitoring.") {
            let hits = try db.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(table) t WHERE t::text LIKE '%placebo-arm-X%'"))
            #expect(hits.rows == [["0"]], "\(table) mentions the arm")
        }
    }
}

private func rank(_ severity: String) -> Int { severity == "critical" ? 0 : severity == "warning" ? 1 : 2 }

@Suite("reporter executable", .stack, .timeLimit(.minutes(4)))
struct ReporterExecutableTests {
    static let binary = TestEnvironment.executable("reporter")

    /// `reporter watch --count 1` on `db`, once it is listening; its standard output is the pipe.
    static func listeningWatcher(_ db: PostgresConnection) async throws -> (Process, Pipe) {
        let watch = Process()
        watch.executableURL = Self.binary
        watch.arguments = ["watch", "--count", "1", "--idle-timeout", "90", "--database-url", db.url]
        let output = Pipe()
        watch.standardOutput = output
        try watch.run()
        // The signal must open after the watcher LISTENs, or it is not news to it: wait for that, however slowly a
        // loaded machine starts it (it went on after 10 s before, and the watcher idled out without a signal).
        // The watcher idles out no sooner than this wait gives up: suites running beside it can keep this task from
        // resuming for more than 20 s on two cores, and a watcher that had idled out by then failed the test.
        let deadline = Date().addingTimeInterval(90)
        while try db.query("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'").rows != [["1"]] {
            guard Date() < deadline, watch.kernelTermination == nil else {
                Issue.record("reporter watch did not LISTEN within 90 s (\(watch.kernelTermination.map(\.description) ?? "still running"))")
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return (watch, output)
    }

    @Test func watchPrintsANewCriticalSignal() async throws {
        let db = try TestStack.migratedDatabase()
        let (watch, output) = try await Self.listeningWatcher(db)
        var story = ParticipantStory.standard()
        story.dose(day: 0, 8)
        story.dose(day: 5, 8, supervised: true)
        story.add(.vitalsRecorded, day: 6, ["systolic_mmhg": 120, "diastolic_mmhg": 80, "heart_rate_bpm": 70, "time_point": "follow_up"])
        story.dose(day: -4, 8)  // before consent: critical
        try TestStack.apply(story.events, to: db)
        let end = try await waitForExit(watch)
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(end == .exited(0))
        #expect(text.contains("CRITICAL dose_outside_participation S01-0001 (S01)"), "\(text)")
    }

    /// `reporter watch` runs until interrupted: SIGTERM stops it cleanly (it was killed by the signal before), within
    /// its quarter-second waits; the bound only catches a stop that waits for something else (a loaded machine takes
    /// seconds to reap a child).
    @Test func watchStopsCleanlyOnSIGTERM() async throws {
        let db = try TestStack.migratedDatabase()
        let (watch, output) = try await Self.listeningWatcher(db)
        let (status, seconds) = try await signalAndWait(watch)
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(status == 0)
        #expect(seconds < 10, "stopped \(seconds) s after SIGTERM")
        #expect(text.contains("watching for critical signals"), "\(text)")
    }

    /// Any login may `NOTIFY critical_signals`: watch prints only signals monitoring.safety_signals holds, and prints
    /// them from the table, so a forged notification shows nothing.
    @Test func watchIgnoresForgedNotifications() async throws {
        let db = try TestStack.migratedDatabase()
        let (watch, output) = try await Self.listeningWatcher(db)
        // Another login (no right to write monitoring at all) forges two notifications.
        let intruder = try PostgresConnection(url: TestStack.url(db.url, user: DatabaseRole.auditor.rawValue))
        let forged = CanonicalJSON.string([
            "signal_id": "suicidality:6f1c2a4e-0000-4000-8000-000000000666", "participant_id": "S01-0666", "site_id": "S01",
            "rule": "suicidality", "details": "FORGED: call the site now",
        ])
        try intruder.query("SELECT pg_notify('critical_signals', \(forged))")
        try intruder.query("NOTIFY critical_signals, 'FORGED plain text'")
        var story = ParticipantStory.standard()
        story.dose(day: -4, 8)  // before consent: a real critical signal
        try TestStack.apply(story.events, to: db)
        let end = try await waitForExit(watch)
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(end == .exited(0))
        #expect(!text.contains("FORGED") && !text.contains("S01-0666"), "\(text)")
        #expect(text.contains("CRITICAL dose_outside_participation S01-0001 (S01)"), "\(text)")
    }
}
