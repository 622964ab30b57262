import Postgres
import TrialDomain

/// Set-based inserts of fold rows: one statement per table, each column an array for `unnest`.
enum ParticipantTables {
    /// An item answer as a PostgreSQL array element: a C-SSRS question that was not asked is NULL, not "no".
    static func item(_ answer: Int) -> String { answer == Instrument.notAsked ? "NULL" : String(answer) }

    /// `sites`: each participant's site (the fold's: the site of their first event).
    static func insert(_ all: [(String, ParticipantRows)], sites: [String: String], _ db: PostgresConnection) throws {
        let summaries = all.compactMap(\.1.summary)
        try insertSummaries(summaries, db)
        func site(_ id: String, _ rows: ParticipantRows) -> String {
            sites[id] ?? rows.summary?.siteID ?? Identifiers.site(ofParticipant: id) ?? ""
        }
        let doses = all.flatMap { id, rows in rows.doses.map { (id, site(id, rows), $0) } }
        if !doses.isEmpty {
            // What monitors see of a dose, and (apart, in the unblinded schema) what was given.
            try db.enqueue("""
                INSERT INTO monitoring.doses (event_id, participant_id, site_id, supervised, administered_by, witness,
                    administered_at, protocol_version, corrected, recorded_at, recorded_by, kit_number, blinded_label)
                SELECT * FROM unnest(\(array: doses.map(\.2.eventID))::uuid[], \(array: doses.map(\.0))::text[], \(array: doses.map(\.1))::text[],
                    \(array: doses.map(\.2.dose.supervised))::boolean[],
                    \(array: doses.map(\.2.dose.administeredBy))::text[], \(array: doses.map(\.2.dose.witness))::text[],
                    \(array: doses.map(\.2.administeredAt.rfc3339))::timestamptz[], \(array: doses.map(\.2.protocolVersion))::text[],
                    \(array: doses.map(\.2.corrected))::boolean[], \(array: doses.map(\.2.recordedAt.rfc3339))::timestamptz[],
                    \(array: doses.map(\.2.recordedBy))::text[], \(array: doses.map(\.2.dose.kitNumber))::text[],
                    \(array: doses.map(\.2.dose.blindedLabel))::text[])
                """)
            try db.enqueue("""
                INSERT INTO unblinded.dose_products (event_id, participant_id, site_id, substance, amount, unit, route, lot, administered_at,
                    administered_on, kit_number, blinded_label)
                SELECT * FROM unnest(\(array: doses.map(\.2.eventID))::uuid[], \(array: doses.map(\.0))::text[], \(array: doses.map(\.1))::text[],
                    \(array: doses.map(\.2.dose.substance?.rawValue))::text[],
                    \(array: doses.map { $0.2.dose.amount.map(CanonicalJSON.formatNumber) })::numeric[],
                    \(array: doses.map(\.2.dose.unit?.rawValue))::text[], \(array: doses.map(\.2.dose.route.rawValue))::text[],
                    \(array: doses.map(\.2.dose.lot))::text[], \(array: doses.map(\.2.administeredAt.rfc3339))::timestamptz[],
                    \(array: doses.map(\.2.administeredOn))::date[], \(array: doses.map(\.2.dose.kitNumber))::text[],
                    \(array: doses.map(\.2.dose.blindedLabel))::text[])
                """)
        }
        let assessments = all.flatMap { id, rows in rows.assessments.map { (id, site(id, rows), $0) } }
        if !assessments.isEmpty {
            try db.enqueue("""
                INSERT INTO monitoring.assessments (event_id, participant_id, site_id, instrument, items, total_score, rater,
                    assessed_at, corrected, recorded_at, recorded_by)
                SELECT e, p, s, i, it::integer[], t, r, a, c, ra, rb
                FROM unnest(\(array: assessments.map(\.2.eventID))::uuid[], \(array: assessments.map(\.0))::text[],
                    \(array: assessments.map(\.1))::text[], \(array: assessments.map(\.2.assessment.instrument.rawValue))::text[],
                    \(array: assessments.map { "{" + $0.2.assessment.items.map(Self.item).joined(separator: ",") + "}" })::text[],
                    \(array: assessments.map(\.2.assessment.total))::integer[], \(array: assessments.map(\.2.assessment.rater))::text[],
                    \(array: assessments.map(\.2.assessedAt.rfc3339))::timestamptz[], \(array: assessments.map(\.2.corrected))::boolean[],
                    \(array: assessments.map(\.2.recordedAt.rfc3339))::timestamptz[], \(array: assessments.map(\.2.recordedBy))::text[])
                    AS x(e, p, s, i, it, t, r, a, c, ra, rb)
                """)
        }
        let vitals = all.flatMap { id, rows in rows.vitals.map { (id, site(id, rows), $0) } }
        if !vitals.isEmpty {
            try db.enqueue("""
                INSERT INTO monitoring.vitals (event_id, participant_id, site_id, systolic_mmhg, diastolic_mmhg, heart_rate_bpm,
                    temperature_c, time_point, measured_at, corrected, recorded_at, recorded_by)
                SELECT * FROM unnest(\(array: vitals.map(\.2.eventID))::uuid[], \(array: vitals.map(\.0))::text[], \(array: vitals.map(\.1))::text[],
                    \(array: vitals.map(\.2.vitals.systolic))::integer[], \(array: vitals.map(\.2.vitals.diastolic))::integer[],
                    \(array: vitals.map(\.2.vitals.heartRate))::integer[],
                    \(array: vitals.map { $0.2.vitals.temperatureC.map(CanonicalJSON.formatNumber) })::numeric[],
                    \(array: vitals.map(\.2.vitals.timePoint.rawValue))::text[], \(array: vitals.map(\.2.measuredAt.rfc3339))::timestamptz[],
                    \(array: vitals.map(\.2.corrected))::boolean[], \(array: vitals.map(\.2.recordedAt.rfc3339))::timestamptz[],
                    \(array: vitals.map(\.2.recordedBy))::text[])
                """)
        }
        let aes = all.flatMap { id, rows in rows.adverseEvents.map { (id, site(id, rows), $0) } }
        if !aes.isEmpty {
            try db.enqueue("""
                INSERT INTO monitoring.adverse_events (event_id, participant_id, site_id, term, onset_at, grade, serious,
                    seriousness_criteria, causality, action_taken, outcome, resolved_at, reported_at, recorded_at, updates,
                    sponsor_notification_due, expected)
                SELECT e, p, s, t, o, g, se, sc::text[], c, a, oc, ra, rp, rc, u, d, ex
                FROM unnest(\(array: aes.map(\.2.eventID))::uuid[], \(array: aes.map(\.0))::text[], \(array: aes.map(\.1))::text[],
                    \(array: aes.map(\.2.current.term))::text[], \(array: aes.map(\.2.current.onsetAt.rfc3339))::timestamptz[],
                    \(array: aes.map(\.2.current.grade))::integer[], \(array: aes.map(\.2.current.serious))::boolean[],
                    \(array: aes.map { "{" + $0.2.current.seriousnessCriteria.map(\.rawValue).joined(separator: ",") + "}" })::text[],
                    \(array: aes.map(\.2.current.causality.rawValue))::text[], \(array: aes.map(\.2.current.actionTaken.rawValue))::text[],
                    \(array: aes.map(\.2.current.outcome.rawValue))::text[], \(array: aes.map { $0.2.resolvedAt?.rfc3339 })::timestamptz[],
                    \(array: aes.map(\.2.reportedAt.rfc3339))::timestamptz[], \(array: aes.map(\.2.recordedAt.rfc3339))::timestamptz[],
                    \(array: aes.map(\.2.updates))::integer[], \(array: aes.map { $0.2.sponsorNotificationDue?.rfc3339 })::timestamptz[],
                    \(array: aes.map(\.2.current.expected))::boolean[])
                    AS x(e, p, s, t, o, g, se, sc, c, a, oc, ra, rp, rc, u, d, ex)
                """)
        }
        try insertDeviations(all.flatMap(\.1.deviations), db)
        let medications = all.flatMap(\.1.medications)
        if !medications.isEmpty {
            try db.enqueue("""
                INSERT INTO monitoring.concomitant_medications (medication_id, participant_id, site_id, name, atc_code, dose, unit,
                    frequency, indication, started_on, stopped_on, stop_reason, changes, classes, recorded_by, recorded_at)
                SELECT m, p, s, n, a, d, u, f, i, so, st, sr, c, cl::text[], rb, ra
                FROM unnest(\(array: medications.map(\.medicationID))::uuid[], \(array: medications.map(\.participantID))::text[],
                    \(array: medications.map(\.siteID))::text[], \(array: medications.map(\.name))::text[],
                    \(array: medications.map(\.atcCode))::text[], \(array: medications.map { CanonicalJSON.formatNumber($0.regimen.dose) })::numeric[],
                    \(array: medications.map(\.regimen.unit.rawValue))::text[], \(array: medications.map(\.regimen.frequency.rawValue))::text[],
                    \(array: medications.map(\.indication))::text[], \(array: medications.map(\.startedOn))::date[],
                    \(array: medications.map(\.stoppedOn))::date[], \(array: medications.map(\.stopReason))::text[],
                    \(array: medications.map(\.changes))::integer[], \(array: medications.map { "{" + $0.classes.joined(separator: ",") + "}" })::text[],
                    \(array: medications.map(\.recordedBy))::text[], \(array: medications.map(\.recordedAt.rfc3339))::timestamptz[])
                    AS x(m, p, s, n, a, d, u, f, i, so, st, sr, c, cl, rb, ra)
                """)
        }
        try insertMovements(all.flatMap(\.1.movements), db)
        try insertSignals(all.flatMap(\.1.signals), db)
        try insertCorrections(all.flatMap(\.1.corrections), db)
        try insertExpeditedReports(all.flatMap(\.1.expeditedReports), db)
        let allocations = all.compactMap { id, rows in rows.allocation.map { (id, site(id, rows), $0) } }
        if !allocations.isEmpty {
            try db.enqueue("""
                INSERT INTO unblinded.allocations (participant_id, site_id, kit_number, arm, randomized_at, event_id)
                SELECT * FROM unnest(\(array: allocations.map(\.0))::text[], \(array: allocations.map(\.1))::text[],
                    \(array: allocations.map(\.2.kitNumber))::text[], \(array: allocations.map(\.2.arm))::text[],
                    \(array: allocations.map(\.2.randomizedAt.rfc3339))::timestamptz[], \(array: allocations.map(\.2.eventID))::uuid[])
                """)
        }
    }

    static func insertSummaries(_ s: [ParticipantSummary], _ db: PostgresConnection) throws {
        guard !s.isEmpty else { return }
        func score(_ i: Instrument, _ k: KeyPath<ScoreSummary, Int?>) -> [Int?] { s.map { $0.scores[i]?[keyPath: k] } }
        try db.enqueue("""
            INSERT INTO monitoring.participants (participant_id, site_id, study_id, status, protocol_version, screened_at,
                consented_at, enrolled_at, withdrawn_at, withdrawal_reason, completed_at, doses_administered, doses_missed,
                adherence_pct, last_dose_at,
                baseline_phq9, latest_phq9, change_phq9, baseline_madrs, latest_madrs, change_madrs,
                baseline_gad7, latest_gad7, change_gad7, baseline_qids_sr16, latest_qids_sr16, change_qids_sr16,
                response, remission, unblinded_at, open_signals, baseline_who5, latest_who5, change_who5, first_dose_at, age, sex)
            SELECT * FROM unnest(\(array: s.map(\.participantID))::text[], \(array: s.map(\.siteID))::text[],
                \(array: s.map(\.studyID))::text[], \(array: s.map(\.status.rawValue))::text[], \(array: s.map(\.protocolVersion))::text[],
                \(array: s.map { $0.screenedAt?.rfc3339 })::timestamptz[], \(array: s.map { $0.consentedAt?.rfc3339 })::timestamptz[],
                \(array: s.map { $0.enrolledAt?.rfc3339 })::timestamptz[], \(array: s.map { $0.withdrawnAt?.rfc3339 })::timestamptz[],
                \(array: s.map(\.withdrawalReason))::text[], \(array: s.map { $0.completedAt?.rfc3339 })::timestamptz[],
                \(array: s.map(\.dosesAdministered))::integer[], \(array: s.map(\.dosesMissed))::integer[],
                \(array: s.map { $0.adherencePercent.map(CanonicalJSON.formatNumber) })::numeric[],
                \(array: s.map { $0.lastDoseAt?.rfc3339 })::timestamptz[],
                \(array: score(.phq9, \.baseline))::integer[], \(array: score(.phq9, \.latest))::integer[], \(array: score(.phq9, \.change))::integer[],
                \(array: score(.madrs, \.baseline))::integer[], \(array: score(.madrs, \.latest))::integer[], \(array: score(.madrs, \.change))::integer[],
                \(array: score(.gad7, \.baseline))::integer[], \(array: score(.gad7, \.latest))::integer[], \(array: score(.gad7, \.change))::integer[],
                \(array: score(.qidsSR16, \.baseline))::integer[], \(array: score(.qidsSR16, \.latest))::integer[],
                \(array: score(.qidsSR16, \.change))::integer[],
                \(array: s.map(\.response))::boolean[], \(array: s.map(\.remission))::boolean[],
                \(array: s.map { $0.unblindedAt?.rfc3339 })::timestamptz[], \(array: s.map(\.openSignals))::integer[],
                \(array: score(.who5, \.baseline))::integer[], \(array: score(.who5, \.latest))::integer[],
                \(array: score(.who5, \.change))::integer[], \(array: s.map { $0.firstDoseAt?.rfc3339 })::timestamptz[],
                \(array: s.map(\.age))::integer[], \(array: s.map(\.sex))::text[])
            """)
    }

    static func insertDeviations(_ d: [DeviationRow], _ db: PostgresConnection) throws {
        guard !d.isEmpty else { return }
        try db.enqueue("""
            INSERT INTO monitoring.deviations (event_id, site_id, participant_id, category, severity, description, occurred_at, recorded_by,
                detected_by)
            SELECT * FROM unnest(\(array: d.map(\.eventID))::uuid[], \(array: d.map(\.siteID))::text[], \(array: d.map(\.participantID))::text[],
                \(array: d.map(\.deviation.category.rawValue))::text[], \(array: d.map(\.deviation.severity.rawValue))::text[],
                \(array: d.map(\.deviation.description))::text[], \(array: d.map(\.occurredAt.rfc3339))::timestamptz[],
                \(array: d.map(\.recordedBy))::text[], \(array: d.map { $0.detectedBy?.rawValue })::text[])
            """)
    }

    static func insertMovements(_ m: [DrugMovementRow], _ db: PostgresConnection) throws {
        guard !m.isEmpty else { return }
        try db.enqueue("""
            INSERT INTO unblinded.drug_movements (event_id, site_id, participant_id, lot, kind, quantity, unit, occurred_at, expires_on)
            SELECT * FROM unnest(\(array: m.map(\.eventID))::uuid[], \(array: m.map(\.siteID))::text[], \(array: m.map(\.participantID))::text[],
                \(array: m.map(\.lot))::text[], \(array: m.map(\.kind.rawValue))::text[],
                \(array: m.map { CanonicalJSON.formatNumber($0.quantity.amount) })::numeric[], \(array: m.map(\.quantity.unit.rawValue))::text[],
                \(array: m.map(\.occurredAt.rfc3339))::timestamptz[], \(array: m.map(\.expiresOn))::date[])
            """)
    }

    /// Physical counts (`drug.counted`), judged or not yet (see `LotCustody`).
    static func insertCounts(_ c: [InventoryCountRow], _ db: PostgresConnection) throws {
        guard !c.isEmpty else { return }
        try db.enqueue("""
            INSERT INTO unblinded.drug_counts (event_id, site_id, lot, counted, unit, counted_by, witnessed_by, counted_at, expected_balance,
                discrepancy)
            SELECT * FROM unnest(\(array: c.map(\.eventID))::uuid[], \(array: c.map(\.siteID))::text[], \(array: c.map(\.lot))::text[],
                \(array: c.map { CanonicalJSON.formatNumber($0.counted.amount) })::numeric[], \(array: c.map(\.counted.unit.rawValue))::text[],
                \(array: c.map(\.countedBy))::text[], \(array: c.map(\.witnessedBy))::text[], \(array: c.map(\.countedAt.rfc3339))::timestamptz[],
                \(array: c.map { $0.expectedBalance.map(LotAccountability.decimal) })::numeric[], \(array: c.map(\.discrepancy))::text[])
            """)
    }

    static func insertCorrections(_ c: [CorrectionRow], _ db: PostgresConnection) throws {
        guard !c.isEmpty else { return }
        try db.enqueue("""
            INSERT INTO monitoring.corrections (event_id, participant_id, site_id, kind, target_event_id, target_type, reason,
                in_effect, occurred_at, recorded_at, recorded_by, refusal)
            SELECT * FROM unnest(\(array: c.map(\.eventID))::uuid[], \(array: c.map(\.participantID))::text[],
                \(array: c.map(\.siteID))::text[], \(array: c.map(\.kind))::text[],
                \(array: c.map(\.targetEventID))::uuid[], \(array: c.map(\.targetType))::text[],
                \(array: c.map(\.reason))::text[], \(array: c.map(\.inEffect))::boolean[],
                \(array: c.map(\.occurredAt.rfc3339))::timestamptz[], \(array: c.map(\.recordedAt.rfc3339))::timestamptz[],
                \(array: c.map(\.recordedBy))::text[], \(array: c.map(\.refusal))::text[])
            """)
    }

    static func insertSignals(_ g: [SignalRow], _ db: PostgresConnection) throws {
        guard !g.isEmpty else { return }
        try db.enqueue("""
            INSERT INTO monitoring.safety_signals (signal_id, participant_id, site_id, rule, severity, trigger_event_id,
                trigger_occurred_at, details, status, acknowledged_by, acknowledged_at, deadline, resolution)
            SELECT * FROM unnest(\(array: g.map(\.signalID))::text[], \(array: g.map(\.participantID))::text[], \(array: g.map(\.siteID))::text[],
                \(array: g.map(\.rule.rawValue))::text[], \(array: g.map(\.severity.rawValue))::text[], \(array: g.map(\.triggerEventID))::text[],
                \(array: g.map(\.triggerOccurredAt.rfc3339))::timestamptz[], \(array: g.map(\.details))::text[],
                \(array: g.map(\.status.rawValue))::text[], \(array: g.map(\.acknowledgedBy))::text[],
                \(array: g.map { $0.acknowledgedAt?.rfc3339 })::timestamptz[], \(array: g.map { $0.deadline?.rfc3339 })::timestamptz[],
                \(array: g.map(\.resolution))::text[])
            """)
    }

    /// The SUSAR clocks' facts (issue 14): no "now" here, the view `monitoring.expedited_reports` adds it.
    static func insertExpeditedReports(_ x: [ExpeditedReportRow], _ db: PostgresConnection) throws {
        guard !x.isEmpty else { return }
        try db.enqueue("""
            INSERT INTO monitoring.expedited_report_clocks (report_id, adverse_event_id, participant_id, site_id, term, report,
                fatal_or_life_threatening, classified_by, day_zero, due, submitted_at, submitted_to)
            SELECT * FROM unnest(\(array: x.map(\.reportID))::text[], \(array: x.map(\.adverseEventID))::uuid[],
                \(array: x.map(\.participantID))::text[], \(array: x.map(\.siteID))::text[], \(array: x.map(\.term))::text[],
                \(array: x.map(\.clock.report.rawValue))::text[], \(array: x.map(\.clock.fatalOrLifeThreatening))::boolean[],
                \(array: x.map(\.classifiedBy.rawValue))::text[], \(array: x.map(\.clock.firstKnowledgeAt.rfc3339))::timestamptz[],
                \(array: x.map(\.clock.due.rfc3339))::timestamptz[], \(array: x.map { $0.clock.submittedAt?.rfc3339 })::timestamptz[],
                \(array: x.map(\.clock.submittedTo))::text[])
            """)
    }
}
