import Postgres
import TrialDomain

/// One participant's course, readable by a clinician: status, then every dose, score, vital sign,
/// adverse event, signal and correction in time order.
public struct ParticipantTimeline: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var at: String
        public var kind: String
        public var text: String
    }

    public var participantID: String
    public var header: [(String, String)]
    public var entries: [Entry]

    public static func == (a: ParticipantTimeline, b: ParticipantTimeline) -> Bool {
        a.participantID == b.participantID && a.entries == b.entries && a.header.map { "\($0)=\($1)" } == b.header.map { "\($0)=\($1)" }
    }

    public struct NotFound: Error, CustomStringConvertible {
        public var participantID: String
        public var description: String { "no participant \(participantID) in monitoring.participants (check the id, e.g. S01-0007)" }
    }

    public static func load(_ db: PostgresConnection, participantID: String) throws -> ParticipantTimeline {
        try db.execute("SET TIME ZONE 'UTC'")
        let t = #"'YYYY-MM-DD"T"HH24:MI"Z"'"#
        let summary = try db.query(PostgresQuery(unsafeSQL: """
            SELECT site_id, status, protocol_version, to_char(enrolled_at, \(t)), doses_administered, doses_missed, adherence_pct::text,
                   to_char(last_dose_at, \(t)), baseline_phq9, latest_phq9, baseline_madrs, latest_madrs,
                   response, remission, open_signals, to_char(unblinded_at, \(t))
            FROM monitoring.participants WHERE participant_id = $1
            """, binds: [participantID]))
        guard let s = summary.rows.first else { throw NotFound(participantID: participantID) }
        func score(_ b: String?, _ l: String?) -> String { "\(b ?? "-") → \(l ?? "-")" }
        var header: [(String, String)] = [
            ("site", s[0]!), ("status", s[1]!), ("protocol", s[2] ?? "-"), ("enrolled", s[3] ?? "-"),
            ("doses", "\(s[4]!) given, \(s[5]!) missed, adherence \(s[6].map { $0 + " %" } ?? "-")"),
            ("last dose", s[7] ?? "-"), ("PHQ-9 baseline → latest", score(s[8], s[9])), ("MADRS baseline → latest", score(s[10], s[11])),
            ("response / remission", "\(s[12].map { $0 == "t" ? "yes" : "no" } ?? "-") / \(s[13].map { $0 == "t" ? "yes" : "no" } ?? "-")"),
            ("open signals", s[14]!),
        ]
        if let unblinded = s[15] { header.append(("UNBLINDED", unblinded)) }
        let entries = try db.query(PostgresQuery(unsafeSQL: """
            SELECT at, kind, text FROM (
                SELECT screened_at AS at, 'screened' AS kind, '' AS text, '' AS id FROM monitoring.participants WHERE participant_id = $1 AND screened_at IS NOT NULL
                UNION ALL SELECT enrolled_at, 'enrolled', 'consent ' || to_char(consented_at, \(t)) || ', protocol ' || coalesce(protocol_version, '-'), ''
                    FROM monitoring.participants WHERE participant_id = $1 AND enrolled_at IS NOT NULL
                UNION ALL SELECT withdrawn_at, 'WITHDRAWN', withdrawal_reason, '' FROM monitoring.participants WHERE participant_id = $1 AND withdrawn_at IS NOT NULL
                UNION ALL SELECT completed_at, 'completed', '', '' FROM monitoring.participants WHERE participant_id = $1 AND completed_at IS NOT NULL
                UNION ALL SELECT administered_at, 'dose', 'study drug (blinded)'
                        || CASE WHEN supervised THEN ', supervised' ELSE ', UNSUPERVISED' END || coalesce(' by ' || administered_by, '')
                        || CASE WHEN corrected THEN ' (corrected)' ELSE '' END, event_id::text
                    FROM monitoring.doses WHERE participant_id = $1
                UNION ALL SELECT assessed_at, upper(instrument), coalesce('total ' || total_score, 'answers ' || array_to_string(items, ','))
                        || CASE WHEN corrected THEN ' (corrected)' ELSE '' END, event_id::text
                    FROM monitoring.assessments WHERE participant_id = $1
                UNION ALL SELECT measured_at, 'vitals', systolic_mmhg || '/' || diastolic_mmhg || ' mmHg, ' || heart_rate_bpm || ' bpm'
                        || coalesce(', ' || temperature_c || ' °C', '') || ' (' || time_point || ')', event_id::text
                    FROM monitoring.vitals WHERE participant_id = $1
                UNION ALL SELECT onset_at, 'ADVERSE EVENT', term || ', grade ' || grade || CASE WHEN serious THEN ', SERIOUS' ELSE '' END
                        || ', ' || outcome || CASE WHEN updates > 0 THEN ' (' || updates || ' update(s))' ELSE '' END, event_id::text
                    FROM monitoring.adverse_events WHERE participant_id = $1
                UNION ALL SELECT trigger_occurred_at, 'SIGNAL ' || upper(severity), rule || ': ' || details || ' [' || status || ']', signal_id
                    FROM monitoring.safety_signals WHERE participant_id = $1
                UNION ALL SELECT occurred_at, kind, coalesce(target_type, '?') || ' ' || target_event_id || ': ' || reason
                        || CASE WHEN refusal IS NOT NULL THEN ' (REFUSED: ' || refusal || ')' WHEN in_effect THEN '' ELSE ' (not in effect)' END
                        || ' — by ' || recorded_by, event_id::text
                    FROM monitoring.corrections WHERE participant_id = $1
            ) t ORDER BY at, kind, id
            """, binds: [participantID])).map { r in
            Entry(at: String(r[0]!.prefix(16)).replacingSpace() + "Z", kind: r[1]!, text: r[2]!)
        }
        return ParticipantTimeline(participantID: participantID, header: header, entries: entries)
    }

    /// Adds the arm allocation to the summary, read through `db`, which must act as `trial_unblinded`.
    public mutating func revealAllocation(_ db: PostgresConnection) throws {
        let rows = try db.query("""
            SELECT arm, kit_number, to_char(randomized_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI"Z"')
            FROM unblinded.allocations WHERE participant_id = \(participantID)
            """)
        if let row = rows.rows.first {
            header.append(("ARM (unblinded)", "\(row[0]!) (kit \(row[1]!), randomized \(row[2]!))"))
        } else {
            header.append(("ARM (unblinded)", "not randomized"))
        }
        let lastDose = try db.query("""
            SELECT amount::text || ' ' || unit || ' ' || substance || ', ' || route || coalesce(', lot ' || lot, '')
            FROM unblinded.dose_products WHERE participant_id = \(participantID) ORDER BY administered_at DESC, event_id DESC LIMIT 1
            """)
        if let last = lastDose.rows.first?[0] {
            header.append(("LAST DOSE GIVEN (unblinded)", last))
        }
    }

    public var text: String {
        var out = "PARTICIPANT \(participantID)\n"
        let width = header.map(\.0.count).max() ?? 0
        for (k, v) in header { out += "  " + k + String(repeating: " ", count: width - k.count) + "  " + v + "\n" }
        out += "\nTIMELINE (UTC)\n"
        out += TextTable(header: ["when", "what", "details"], rows: entries.map { [$0.at, $0.kind, $0.text] }).render()
        return out
    }

    public var json: JSONValue {
        ["participant_id": .string(participantID),
         "summary": .object(Dictionary(header.map { ($0.0, JSONValue.string($0.1)) }, uniquingKeysWith: { a, _ in a })),
         "timeline": .array(entries.map { ["at": .string($0.at), "kind": .string($0.kind), "details": .string($0.text)] })]
    }
}

extension String {
    fileprivate func replacingSpace() -> String {
        String(map { $0 == " " ? "T" : $0 })
    }
}
