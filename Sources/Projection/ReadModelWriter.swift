import Postgres
import TrialDomain

/// Writes `ReadModelChanges` with set-based statements (one per table), then recomputes the summaries.
enum ReadModelWriter {
    static func write(_ changes: ReadModelChanges, _ db: PostgresConnection) throws {
        let enrolments = changes.enrolments
        if !enrolments.isEmpty {
            // Two enrolment events for one participant: the earliest (then lowest event_id) wins, in any arrival order.
            try db.query("""
                INSERT INTO monitoring.participants (participant_id, site_id, study_id, status, protocol_version,
                    consented_at, enrolled_at, enrolment_event_id)
                SELECT DISTINCT ON (pid) pid, site, study, 'enrolled', pv, ca::timestamptz, ea::timestamptz, e
                FROM unnest(\(array: enrolments.map(\.participantID))::text[], \(array: enrolments.map(\.siteID))::text[],
                            \(array: enrolments.map(\.studyID))::text[], \(array: enrolments.map(\.protocolVersion))::text[],
                            \(array: enrolments.map(\.consentedAt.rfc3339))::text[], \(array: enrolments.map(\.enrolledAt.rfc3339))::text[],
                            \(array: enrolments.map(\.eventID))::uuid[]) AS x(pid, site, study, pv, ca, ea, e)
                ORDER BY pid, ea::timestamptz, e
                ON CONFLICT (participant_id) DO UPDATE SET
                    site_id = excluded.site_id, study_id = excluded.study_id, protocol_version = excluded.protocol_version,
                    consented_at = excluded.consented_at, enrolled_at = excluded.enrolled_at,
                    enrolment_event_id = excluded.enrolment_event_id
                WHERE (excluded.enrolled_at, excluded.enrolment_event_id)
                    < (monitoring.participants.enrolled_at, monitoring.participants.enrolment_event_id)
                """)
        }
        let doses = changes.doses
        if !doses.isEmpty {
            try db.query("""
                INSERT INTO monitoring.doses (event_id, participant_id, site_id, substance, amount, unit, route, supervised,
                    lot, administered_by, administered_at, recorded_at, recorded_by)
                SELECT e, pid, site, sub, amt, u, r, sup, lot, by, aa::timestamptz, ra::timestamptz, rb
                FROM unnest(\(array: doses.map(\.eventID))::uuid[], \(array: doses.map(\.participantID))::text[],
                            \(array: doses.map(\.siteID))::text[], \(array: doses.map(\.dose.substance.rawValue))::text[],
                            \(array: doses.map { CanonicalJSON.formatNumber($0.dose.amount) })::numeric[],
                            \(array: doses.map(\.dose.unit.rawValue))::text[], \(array: doses.map(\.dose.route.rawValue))::text[],
                            \(array: doses.map(\.dose.supervised))::boolean[], \(array: doses.map(\.dose.lot))::text[],
                            \(array: doses.map(\.dose.administeredBy))::text[], \(array: doses.map(\.administeredAt.rfc3339))::text[],
                            \(array: doses.map(\.recordedAt.rfc3339))::text[], \(array: doses.map(\.recordedBy))::text[])
                    AS x(e, pid, site, sub, amt, u, r, sup, lot, by, aa, ra, rb)
                ON CONFLICT (event_id) DO NOTHING
                """)
        }
        let assessments = changes.assessments
        if !assessments.isEmpty {
            try db.query("""
                INSERT INTO monitoring.assessments (event_id, participant_id, site_id, instrument, items, total_score,
                    assessed_at, recorded_at, recorded_by)
                SELECT e, pid, site, ins, it::integer[], tot, aa::timestamptz, ra::timestamptz, rb
                FROM unnest(\(array: assessments.map(\.eventID))::uuid[], \(array: assessments.map(\.participantID))::text[],
                            \(array: assessments.map(\.siteID))::text[], \(array: assessments.map(\.assessment.instrument.rawValue))::text[],
                            \(array: assessments.map { "{" + $0.assessment.items.map(String.init).joined(separator: ",") + "}" })::text[],
                            \(array: assessments.map(\.assessment.total))::integer[], \(array: assessments.map(\.assessedAt.rfc3339))::text[],
                            \(array: assessments.map(\.recordedAt.rfc3339))::text[], \(array: assessments.map(\.recordedBy))::text[])
                    AS x(e, pid, site, ins, it, tot, aa, ra, rb)
                ON CONFLICT (event_id) DO NOTHING
                """)
        }
        try recomputeSummaries(changes.touchedParticipants, db)
    }

    /// Derives every summary column from the fact tables, so the result does not depend on arrival order.
    /// Baseline PHQ-9: the last assessment on or before the first dose (the latest so far while undosed).
    /// Ties on time are broken by event_id, so the choice is deterministic.
    static func recomputeSummaries(_ participants: [String], _ db: PostgresConnection) throws {
        guard !participants.isEmpty else { return }
        try db.query("""
            UPDATE monitoring.participants p SET
                doses_administered = d.n,
                last_dose_at = d.last_at,
                baseline_phq9 = b.total_score,
                latest_phq9 = l.total_score
            FROM unnest(\(array: participants)::text[]) AS t(pid)
            CROSS JOIN LATERAL (
                SELECT count(*)::integer AS n, max(administered_at) AS last_at, min(administered_at) AS first_at
                FROM monitoring.doses WHERE participant_id = t.pid) d
            LEFT JOIN LATERAL (
                SELECT total_score FROM monitoring.assessments
                WHERE participant_id = t.pid AND instrument = 'phq9' AND (d.first_at IS NULL OR assessed_at <= d.first_at)
                ORDER BY assessed_at DESC, event_id DESC LIMIT 1) b ON true
            LEFT JOIN LATERAL (
                SELECT total_score FROM monitoring.assessments
                WHERE participant_id = t.pid AND instrument = 'phq9'
                ORDER BY assessed_at DESC, event_id DESC LIMIT 1) l ON true
            WHERE p.participant_id = t.pid
            """)
    }
}
