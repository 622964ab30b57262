import Postgres
import TrialDomain
import TrialDomainPostgres

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
        let summary = try db.query("""
            SELECT site_id, status, protocol_version, enrolled_at, doses_administered, doses_missed, adherence_pct::text,
                   last_dose_at, baseline_phq9, latest_phq9, baseline_madrs, latest_madrs,
                   response, remission, open_signals, unblinded_at, baseline_who5, latest_who5
            FROM monitoring.participants WHERE participant_id = \(participantID)
            """)
        guard let row = summary.first else { throw NotFound(participantID: participantID) }
        let s = try row.decode((String, String, String?, Timestamp?, Int, Int, String?, Timestamp?, Int?, Int?, Int?, Int?,
                                Bool?, Bool?, Int, Timestamp?, Int?, Int?).self)
        func score(_ b: Int?, _ l: Int?) -> String { "\(b.map(String.init) ?? "-") → \(l.map(String.init) ?? "-")" }
        func yesNo(_ v: Bool?) -> String { v.map { $0 ? "yes" : "no" } ?? "-" }
        var header: [(String, String)] = [
            ("site", s.0), ("status", s.1), ("protocol", s.2 ?? "-"), ("enrolled", s.3?.utc(.minute) ?? "-"),
            ("doses", "\(s.4) given, \(s.5) missed, adherence \(s.6.map { $0 + " %" } ?? "-")"),
            ("last dose", s.7?.utc(.minute) ?? "-"), ("PHQ-9 baseline → latest", score(s.8, s.9)), ("MADRS baseline → latest", score(s.10, s.11)),
            ("WHO-5 baseline → latest", score(s.16, s.17) + (s.17.map { " (\(Instrument.who5.percentage(ofTotal: $0)!) %)" } ?? "")),
            ("response / remission", "\(yesNo(s.12)) / \(yesNo(s.13))"),
            ("open signals", String(s.14)),
        ]
        let current = try db.query("""
            SELECT coalesce(string_agg(name || ' ' || dose || ' ' || unit || ' ' || frequency, '; ' ORDER BY started_on, medication_id), '-')
            FROM monitoring.concomitant_medications WHERE participant_id = \(participantID) AND status = 'current'
            """).decode(String.self)
        header.append(("current medications", current.first ?? "-"))
        let queries = try db.query("""
            SELECT count(*) FILTER (WHERE status = 'open'), count(*) FILTER (WHERE status = 'answered'), count(*) FILTER (WHERE status = 'closed')
            FROM monitoring.data_queries WHERE participant_id = \(participantID)
            """).decodeFirst((Int, Int, Int).self)
        header.append(("data queries", "\(queries.0) open, \(queries.1) answered, \(queries.2) closed"))
        // System-owned randomization (issue 16): the kit the system assigned, or why the latest request got none; never an arm.
        let randomization = try db.query("""
            SELECT kit_number, refusal, requested_at FROM monitoring.randomizations WHERE participant_id = \(participantID)
            ORDER BY kit_number IS NULL, requested_at DESC, event_id LIMIT 1
            """).decode((String?, String?, Timestamp).self).first
        if let (kit, refusal, at) = randomization {
            header.append(("kit", kit.map { "\($0) (assigned \(at.utc(.minute)))" } ?? "none: \(refusal ?? "-") (\(at.utc(.minute)))"))
        }
        if let unblinded = s.15 { header.append(("UNBLINDED", unblinded.utc(.minute))) }
        let signatures = try SignaturesReport.load(db, participant: participantID)
        if !signatures.signatures.isEmpty {
            let counts = Dictionary(grouping: signatures.signatures, by: \.status).map { "\($0.value.count) \($0.key)" }.sorted()
            header.append(("signatures", counts.joined(separator: ", ")))
        }
        let rows = try db.query(PostgresQuery(unsafeSQL: """
            SELECT at, kind, consented_at, text, id FROM (
                SELECT screened_at AS at, 'screened' AS kind, NULL::timestamptz AS consented_at, '' AS text, '' AS id
                    FROM monitoring.participants WHERE participant_id = $1 AND screened_at IS NOT NULL
                UNION ALL SELECT enrolled_at, 'enrolled', consented_at, ', protocol ' || coalesce(protocol_version, '-'), ''
                    FROM monitoring.participants WHERE participant_id = $1 AND enrolled_at IS NOT NULL
                UNION ALL SELECT withdrawn_at, 'WITHDRAWN', NULL, withdrawal_reason, '' FROM monitoring.participants WHERE participant_id = $1 AND withdrawn_at IS NOT NULL
                UNION ALL SELECT completed_at, 'completed', NULL, '', '' FROM monitoring.participants WHERE participant_id = $1 AND completed_at IS NOT NULL
                UNION ALL SELECT administered_at, 'dose', NULL, 'study drug (blinded)'
                        || CASE WHEN supervised THEN ', supervised' ELSE ', UNSUPERVISED' END || coalesce(' by ' || administered_by, '')
                        || CASE WHEN corrected THEN ' (corrected)' ELSE '' END, event_id::text
                    FROM monitoring.doses WHERE participant_id = $1
                UNION ALL SELECT assessed_at, upper(instrument), NULL, coalesce('total ' || total_score, 'answers ' || array_to_string(items, ','))
                        || CASE WHEN corrected THEN ' (corrected)' ELSE '' END, event_id::text
                    FROM monitoring.assessments WHERE participant_id = $1
                UNION ALL SELECT measured_at, 'vitals', NULL, systolic_mmhg || '/' || diastolic_mmhg || ' mmHg, ' || heart_rate_bpm || ' bpm'
                        || coalesce(', ' || temperature_c || ' °C', '') || ' (' || time_point || ')', event_id::text
                    FROM monitoring.vitals WHERE participant_id = $1
                UNION ALL SELECT onset_at, 'ADVERSE EVENT', NULL, term || ', grade ' || grade || CASE WHEN serious THEN ', SERIOUS' ELSE '' END
                        || ', ' || outcome || CASE WHEN updates > 0 THEN ' (' || updates || ' update(s))' ELSE '' END, event_id::text
                    FROM monitoring.adverse_events WHERE participant_id = $1
                UNION ALL SELECT started_on::timestamp AT TIME ZONE 'UTC', 'medication', NULL, name || ' (' || atc_code || ') '
                        || dose || ' ' || unit || ' ' || frequency || ' for ' || indication
                        || CASE WHEN cardinality(classes) > 0 THEN ' [' || array_to_string(classes, ', ') || ']' ELSE '' END
                        || CASE WHEN changes > 0 THEN ' (now; ' || changes || ' change(s))' ELSE '' END, medication_id::text
                    FROM monitoring.concomitant_medications WHERE participant_id = $1
                UNION ALL SELECT stopped_on::timestamp AT TIME ZONE 'UTC', 'medication stopped', NULL, name || coalesce(': ' || stop_reason, ''),
                        medication_id::text
                    FROM monitoring.concomitant_medications WHERE participant_id = $1 AND stopped_on IS NOT NULL
                UNION ALL SELECT trigger_occurred_at, 'SIGNAL ' || upper(severity), NULL, rule || ': ' || details || ' [' || status || ']', signal_id
                    FROM monitoring.safety_signals WHERE participant_id = $1
                UNION ALL SELECT occurred_at, kind, NULL, coalesce(target_type, '?') || ' ' || target_event_id || ': ' || reason
                        || CASE WHEN refusal IS NOT NULL THEN ' (REFUSED: ' || refusal || ')' WHEN in_effect THEN '' ELSE ' (not in effect)' END
                        || ' — by ' || recorded_by, event_id::text
                    FROM monitoring.corrections WHERE participant_id = $1
                UNION ALL SELECT s.recorded_at, 'query ' || s.action, NULL, CASE WHEN q.query_id IS NULL THEN 'unknown query ' || s.query_id
                        ELSE coalesce(q.event_type, '?') || ' ' || q.event_id || q.pointer END || ': '
                        || coalesce(s.text, '') || coalesce(' (correction ' || s.correction_event_id || ')', '')
                        || CASE WHEN s.refusal IS NOT NULL THEN ' (REFUSED: ' || s.refusal || ')' ELSE '' END
                        || ' — by ' || s.recorded_by || CASE WHEN s.action = 'raised' THEN ' [now ' || coalesce(q.status, '?') || ']' ELSE '' END,
                        s.event_id::text
                    FROM monitoring.query_steps s LEFT JOIN monitoring.data_queries q ON q.query_id = s.query_id WHERE s.participant_id = $1
            ) t ORDER BY at, kind, id
            """, binds: [participantID])).decode((Timestamp, String, Timestamp?, String, String).self)
        // 21 CFR 11.50(b): a signed record is shown with the manifestation of each signature over it. The lifecycle rows
        // carry no event id: a signed participant.enrolled (etc.) is matched to its row by type; a signed record no row
        // shows (a dose.missed, an adverse event's update, ...) gets a row of its own.
        let lifecycleKinds = ["participant.screened": "screened", "participant.enrolled": "enrolled",
                              "participant.withdrawn": "WITHDRAWN", "participant.completed": "completed"]
        var unshown = Set(signatures.signedEvents.keys).subtracting(rows.map(\.4))
        func marks(_ signed: [SignaturesReport.Signature]) -> String {
            signed.map { "; SIGNED: \($0.manifestation) [\($0.standing)]" }.joined()
        }
        var entries = rows.map { at, kind, consentedAt, text, id in
            var signed = signatures.signedEvents[id] ?? []
            if id.isEmpty {
                for event in unshown.sorted() where lifecycleKinds[signatures.signedEventTypes[event] ?? ""] == kind {
                    signed += signatures.signedEvents[event] ?? []
                    unshown.remove(event)
                }
            }
            return Entry(at: at.utc(.minute), kind: kind, text: (consentedAt.map { "consent " + $0.utc(.minute) + text } ?? text) + marks(signed))
        }
        entries += unshown.sorted().compactMap { event in
            guard let signed = signatures.signedEvents[event], let first = signed.first else { return nil }
            return Entry(at: first.signedAt.utc(.minute), kind: "signed record",
                         text: "\(signatures.signedEventTypes[event] ?? "event not archived yet") \(event)" + marks(signed))
        }
        if let book = signatures.signatures.last(where: { $0.signs == "casebook" }) {
            header.append(("casebook", "SIGNED: \(book.manifestation); \(book.coverage) [\(book.standing)]"))
        }
        entries += signatures.signatures.map { s in
            Entry(at: s.signedAt.utc(.minute), kind: "signature (\(s.meaning))", text: "\(s.manifestation); signs \(s.coverage) [\(s.standing)]")
        }
        entries = entries.enumerated().sorted { ($0.element.at, $0.offset) < ($1.element.at, $1.offset) }.map(\.element)
        return ParticipantTimeline(participantID: participantID, header: header, entries: entries)
    }

    /// Adds the arm allocation to the summary, read through `db`, which must act as `trial_unblinded`.
    /// Adds the arm and the last dose as given. The read is recorded in the access log first (`UnblindedAccessLog`):
    /// when that fails, nothing is read.
    public mutating func revealAllocation(_ db: PostgresConnection, reason: String? = nil) throws {
        try UnblindedAccessLog.record(db, participantID: participantID, command: "reporter participant --unblinded", reason: reason)
        let rows = try db.query("""
            SELECT arm, kit_number, randomized_at FROM unblinded.participant_arms WHERE participant_id = \(participantID)
            ORDER BY source LIMIT 1
            """)
        if let row = rows.first {
            let (arm, kit, randomized) = try row.decode((String, String, Timestamp).self)
            header.append(("ARM (unblinded)", "\(arm) (kit \(kit), randomized \(randomized.utc(.minute)))"))
        } else {
            header.append(("ARM (unblinded)", "not randomized"))
        }
        let lastDose = try db.query("""
            SELECT coalesce(amount::text || ' ' || unit || ' ' || substance, 'content not resolved')
                   || coalesce(' (kit ' || kit_number || ', ' || blinded_label || ')', '') || ', ' || route || coalesce(', lot ' || lot, '')
            FROM unblinded.dose_exposure WHERE participant_id = \(participantID) ORDER BY administered_at DESC, event_id DESC LIMIT 1
            """)
        if let row = lastDose.first, let last = try row.decode(String?.self) {
            header.append(("LAST DOSE GIVEN (unblinded)", last))
        }
        // Per-participant reconciliation (issue 14), next to the per-lot accountability: dispensed − administered − returned.
        var reconciliation = try db.query("""
            SELECT 'lot ' || lot || ': dispensed ' || dispensed::text || ', administered ' || administered::text || ', returned '
                   || returned::text || ', balance ' || balance::text || ' ' || unit
                   || CASE WHEN unit_mismatch_doses > 0 THEN ' (' || unit_mismatch_doses || ' dose(s) in another unit, not summed)' ELSE '' END
            FROM unblinded.participant_accountability WHERE participant_id = \(participantID) ORDER BY lot
            """).decode(String.self)
        let unaccounted = try db.query("""
            SELECT count(*) FROM unblinded.dose_products WHERE participant_id = \(participantID) AND lot IS NULL AND kit_number IS NULL
            """).decodeFirst(Int.self)
        if unaccounted > 0 { reconciliation.append("\(unaccounted) dose(s) without a lot: unaccounted") }
        if !reconciliation.isEmpty { header.append(("ACCOUNTABILITY (unblinded)", reconciliation.joined(separator: "; "))) }
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
