import Postgres
import TrialDomain
import TrialDomainPostgres

/// Writes the randomization read models (issue 16): `unblinded.randomization_kits`, `monitoring.randomization_schedules`,
/// `monitoring.randomizations`, `monitoring.unblindings` and the randomization signals, from the pure `Randomization`
/// over the archive's randomization records in `chain_seq` order (see `Randomization` for why that order is the log's
/// and the same in every replay). Recomputed whole whenever a batch archives a randomization record: the records of a
/// study are few (one per participant, plus the schedules), and a whole recompute cannot drift from a rebuild.
enum RandomizationWriter {
    /// Rewrites `monitoring.blinding_assessments`: every `blinding.assessed` with its corrections and voids applied
    /// (per participant, as `EffectiveHistory` applies them to any participant's events).
    static func refreshBlindingAssessments(_ db: PostgresConnection) throws {
        let events = try MonitoringWriter.decode(try db.query("""
            SELECT envelope FROM audit.events WHERE type = 'blinding.assessed'
               OR (type = 'event.corrected' AND data ->> 'corrected_type' = 'blinding.assessed')
               OR (type = 'event.voided' AND data ->> 'voided_type' = 'blinding.assessed')
            """))
        try db.enqueue(PostgresQuery(unsafeSQL: "DELETE FROM \(ReadModelTable.blindingAssessments)"))
        var rows: [(EffectiveHistory.Entry, BlindingAssessed)] = []
        for (_, history) in Dictionary(grouping: events, by: { $0.participantID ?? "" }).sorted(by: { $0.key < $1.key }) {
            for entry in EffectiveHistory(history).entries {
                if case .blindingAssessed(let b) = entry.event.payload, entry.event.participantID != nil, entry.event.siteID != nil {
                    rows.append((entry, b))
                }
            }
        }
        guard !rows.isEmpty else { return }
        try db.enqueue("""
            INSERT INTO monitoring.blinding_assessments (event_id, participant_id, site_id, assessor, guess, certainty, assessed_at,
                recorded_by, corrected)
            SELECT * FROM unnest(\(array: rows.map { $0.0.event.eventID })::uuid[], \(array: rows.map { $0.0.event.participantID! })::text[],
                \(array: rows.map { $0.0.event.siteID! })::text[], \(array: rows.map { $0.1.assessor.rawValue })::text[],
                \(array: rows.map { $0.1.guess.rawValue })::text[], \(array: rows.map { $0.1.certainty })::integer[],
                \(array: rows.map { $0.0.event.occurredAt.rfc3339 })::timestamptz[], \(array: rows.map { $0.0.event.recordedBy })::text[],
                \(array: rows.map { !$0.0.corrections.isEmpty })::boolean[])
            """)
    }

    /// The record types as SQL: the predicate of `audit.events_randomization_idx` (migration 0026). Names from
    /// `EventType`, never input.
    static let types: [EventType] = [.randomizationScheduleLoaded, .participantRandomizationRequested, .participantRandomized,
                                     .unblindingPerformed, .unblindingRequested]
    static let predicate = "type IN (" + types.map { "'\($0.rawValue)'" }.joined(separator: ", ") + ")"
    static let rules: [SafetyRule] = [.stratumExhausted, .randomizationRefused, .randomizationOutsideSystem, .randomizationReview,
                                     .doseKitMismatch, .blindedLabelUnknown]
    /// What decides whether a participant may be randomized (enrolled, not withdrawn or completed): read with the records
    /// (`audit.events_participation_idx`, migration 0029).
    static let participation: [EventType] = [.participantEnrolled, .participantWithdrawn, .participantCompleted]
    static let participationPredicate = "type IN (" + participation.map { "'\($0.rawValue)'" }.joined(separator: ", ") + ")"
        + " OR (type = 'event.voided' AND coalesce(data ->> 'voided_type', '') IN ('', "
        + participation.map { "'\($0.rawValue)'" }.joined(separator: ", ") + "))"

    /// The blinded doses and their changes, checked against the kits and labels (`Randomization.blindedDoseSignals`).
    static let blindedDosePredicate = "(type = 'dose.administered' AND data -> 'kit_number' IS NOT NULL) OR (type IN ('event.corrected', 'event.voided') "
        + "AND coalesce(data ->> 'corrected_type', data ->> 'voided_type') = 'dose.administered')"

    /// Whether `events` oblige a recompute: a randomization record, a blinding assessment or a change of one, or an
    /// acknowledgement of a randomization signal.
    static func concerns(_ events: [RecordedEvent]) -> Bool {
        events.contains { e in
            if case .doseAdministered(let d) = e.payload, d.kitNumber != nil { return true }
            if types.contains(e.type) || participation.contains(e.type) || e.type == .blindingAssessed
                || e.payload.changedEventType == .doseAdministered
                || e.payload.changedEventType.map(participation.contains) ?? (e.type == .eventVoided)
                || e.payload.changedEventType == .blindingAssessed { return true }
            guard case .signalAcknowledged(let a) = e.payload else { return false }
            return rules.contains { a.signalID.hasPrefix($0.rawValue + ":") }
        }
    }

    /// Rewrites every randomization read model from the archive. `notify`: announce critical signals that were not
    /// open before (a rebuild announces nothing).
    static func refresh(notify: Bool = true, _ db: PostgresConnection) throws {
        let events = try MonitoringWriter.decode(try db.query(PostgresQuery(unsafeSQL: """
            SELECT envelope FROM audit.events WHERE \(predicate) OR \(participationPredicate) OR \(blindedDosePredicate) ORDER BY chain_seq
            """)))
        let signalIDs = rules.map { "\($0.rawValue):%" }
        var acknowledgements: [String: Randomization.Acknowledgement] = [:]
        for row in try db.query("""
            SELECT data ->> 'signal_id', recorded_by, recorded_at FROM audit.events
            WHERE type = 'signal.acknowledged' AND data ->> 'signal_id' LIKE ANY(\(array: signalIDs)::text[])
            ORDER BY recorded_at, event_id
            """) {
            let (signal, by, at) = try row.decode((String, String, Timestamp).self)
            // The first acknowledgement counts, by the server's clock (as for the participant fold's signals).
            if acknowledgements[signal] == nil { acknowledgements[signal] = Randomization.Acknowledgement(by: by, at: at) }
        }
        let outcome = Randomization.assign(events, acknowledgements: acknowledgements)
        let openBefore = Set(try db.query("""
            SELECT signal_id FROM monitoring.safety_signals WHERE rule = ANY(\(array: rules.map(\.rawValue))::text[]) AND status = 'open'
            """).decode(String.self))

        for table: ReadModelTable in [.randomizationKits, .blindedContents, .randomizationSchedules, .randomizations, .unblindings] {
            try db.enqueue(PostgresQuery(unsafeSQL: "DELETE FROM \(table)"))
        }
        try db.enqueue("DELETE FROM monitoring.safety_signals WHERE rule = ANY(\(array: rules.map(\.rawValue))::text[])")
        let k = outcome.kits
        if !k.isEmpty {
            try db.enqueue("""
                INSERT INTO unblinded.randomization_kits (study_id, kit_number, stratum, position, block, arm, control, schedule_event_id,
                    schedule_id, assigned_to, assigned_by_event_id)
                SELECT * FROM unnest(\(array: k.map(\.studyID))::text[], \(array: k.map(\.kitNumber))::text[],
                    \(array: k.map(\.stratum))::text[], \(array: k.map(\.position))::integer[], \(array: k.map(\.block))::integer[],
                    \(array: k.map(\.arm))::text[], \(array: k.map(\.control))::boolean[], \(array: k.map(\.scheduleEventID))::uuid[],
                    \(array: k.map(\.scheduleID))::text[],
                    \(array: k.map(\.assignedTo))::text[], \(array: k.map(\.assignedBy))::uuid[])
                """)
        }
        let c = outcome.contents
        if !c.isEmpty {
            try db.enqueue("""
                INSERT INTO unblinded.blinded_contents (study_id, arm, blinded_label, substance, amount, unit, schedule_event_id)
                SELECT * FROM unnest(\(array: c.map(\.studyID))::text[], \(array: c.map(\.arm))::text[],
                    \(array: c.map(\.blindedLabel))::text[], \(array: c.map(\.substance.rawValue))::text[],
                    \(array: c.map { CanonicalJSON.formatNumber($0.quantity.amount) })::numeric[],
                    \(array: c.map(\.quantity.unit.rawValue))::text[], \(array: c.map(\.scheduleEventID))::uuid[])
                """)
        }
        let s = outcome.schedules
        if !s.isEmpty {
            try db.enqueue("""
                INSERT INTO monitoring.randomization_schedules (event_id, study_id, schedule_id, loaded_by, loaded_at, strata, kits,
                    kits_ignored, refusal)
                SELECT * FROM unnest(\(array: s.map(\.eventID))::uuid[], \(array: s.map(\.studyID))::text[],
                    \(array: s.map(\.scheduleID))::text[], \(array: s.map(\.loadedBy))::text[],
                    \(array: s.map(\.loadedAt.rfc3339))::timestamptz[], \(array: s.map(\.strata))::integer[],
                    \(array: s.map(\.kits))::integer[], \(array: s.map(\.kitsIgnored))::integer[], \(array: s.map(\.refusal))::text[])
                """)
        }
        let r = outcome.requests
        if !r.isEmpty {
            try db.enqueue("""
                INSERT INTO monitoring.randomizations (event_id, study_id, site_id, participant_id, stratum, requested_by, requested_at,
                    kit_number, refusal)
                SELECT * FROM unnest(\(array: r.map(\.eventID))::uuid[], \(array: r.map(\.studyID))::text[],
                    \(array: r.map(\.siteID))::text[], \(array: r.map(\.participantID))::text[], \(array: r.map(\.stratum))::text[],
                    \(array: r.map(\.requestedBy))::text[], \(array: r.map(\.requestedAt.rfc3339))::timestamptz[],
                    \(array: r.map(\.kitNumber))::text[], \(array: r.map(\.refusal))::text[])
                """)
        }
        var unblindings: [(RecordedEvent, String, Bool, String)] = []
        for e in events where e.participantID != nil && e.siteID != nil {
            switch e.payload {
            case .unblindingPerformed(let u): unblindings.append((e, "performed", u.emergency, u.reason))
            case .unblindingRequested(let u): unblindings.append((e, "requested", true, u.reason))
            default: break
            }
        }
        if !unblindings.isEmpty {
            let u = unblindings
            try db.enqueue("""
                INSERT INTO monitoring.unblindings (event_id, participant_id, site_id, kind, emergency, reason, recorded_by, occurred_at,
                    recorded_at)
                SELECT * FROM unnest(\(array: u.map { $0.0.eventID })::uuid[], \(array: u.map { $0.0.participantID! })::text[],
                    \(array: u.map { $0.0.siteID! })::text[], \(array: u.map { $0.1 })::text[], \(array: u.map { $0.2 })::boolean[],
                    \(array: u.map { $0.3 })::text[], \(array: u.map { $0.0.recordedBy })::text[],
                    \(array: u.map { $0.0.occurredAt.rfc3339 })::timestamptz[], \(array: u.map { $0.0.recordedAt.rfc3339 })::timestamptz[])
                """)
        }
        try ParticipantTables.insertSignals(outcome.signals, db)
        try refreshBlindingAssessments(db)
        if notify {
            try MonitoringWriter.announceOpened(outcome.signals, openBefore: openBefore, db)
        }
    }
}
