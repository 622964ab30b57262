import Postgres
import TrialDomain
import TrialDomainPostgres

/// Writes the randomization read models (issue 16): `unblinded.randomization_kits`, `monitoring.randomization_schedules`,
/// `monitoring.randomizations`, `monitoring.unblindings` and the randomization signals, from the pure `Randomization`
/// over the archive's randomization records in `chain_seq` order (see `Randomization` for why that order is the log's
/// and the same in every replay).
///
/// In proportion to what changed (issue 13): the allocation (kits, requests, schedules, unblindings and their signals) is
/// recomputed whole from the study's randomization and participation records, which are few (about one per participant),
/// only when a batch holds one of them; blinded doses, which are most of a study's events, are judged per dose by
/// `BlindedDoseSignals` when their participant's rows are refreshed, and a participant's doses are judged again only
/// when their kit, the stated labels, a dose's correction or an acknowledgement changes the answer.
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
    /// The allocation's signals (`refreshAllocation`); the blinded doses' are `Randomization.doseRules`.
    static let allocationRules: [SafetyRule] = [.stratumExhausted, .randomizationRefused, .randomizationOutsideSystem, .randomizationReview]
    /// Every signal judged here rather than by the participant fold.
    static let rules = allocationRules + Randomization.doseRules
    /// What decides whether a participant may be randomized (enrolled, not withdrawn or completed): read with the records
    /// (`audit.events_participation_idx`, migration 0029).
    static let participation: [EventType] = [.participantEnrolled, .participantWithdrawn, .participantCompleted]
    static let participationPredicate = "type IN (" + participation.map { "'\($0.rawValue)'" }.joined(separator: ", ") + ")"
        + " OR (type = 'event.voided' AND coalesce(data ->> 'voided_type', '') IN ('', "
        + participation.map { "'\($0.rawValue)'" }.joined(separator: ", ") + "))"

    /// The doses and their changes, checked against the kits and labels (`Randomization.doseSignals`, `isDoseRecord`).
    static let dosePredicate = "type = 'dose.administered' OR (type IN ('event.corrected', 'event.voided') "
        + "AND coalesce(data ->> 'corrected_type', data ->> 'voided_type') = 'dose.administered')"

    /// What a batch's events oblige the randomization read models to do (a blinded dose itself obliges nothing here: its
    /// participant's refresh judges it).
    struct Concern: Equatable {
        /// A randomization or participation record, a change of one (or a void not saying of what), or an acknowledgement
        /// of an allocation signal: the allocation is recomputed.
        var allocation = false
        /// A blinding assessment or a change of one: `monitoring.blinding_assessments` is rewritten.
        var blindingAssessments = false
        /// Acknowledged dose signals: their participants' doses are judged again (the first acknowledgement counts).
        var acknowledgedDoseSignals: Set<String> = []

        init(after events: [RecordedEvent] = []) {
            for e in events {
                let changed = e.payload.changedEventType
                if types.contains(e.type) || participation.contains(e.type) || changed.map(participation.contains) ?? (e.type == .eventVoided) {
                    allocation = true
                }
                if e.type == .blindingAssessed || changed == .blindingAssessed || (changed == nil && e.type == .eventVoided) {
                    blindingAssessments = true
                }
                guard case .signalAcknowledged(let a) = e.payload else { continue }
                if allocationRules.contains(where: { a.signalID.hasPrefix($0.rawValue + ":") }) { allocation = true }
                if Randomization.doseRules.contains(where: { a.signalID.hasPrefix($0.rawValue + ":") }) {
                    acknowledgedDoseSignals.insert(a.signalID)
                }
            }
        }

        var isEmpty: Bool { !allocation && !blindingAssessments && acknowledgedDoseSignals.isEmpty }

        mutating func formUnion(_ other: Concern) {
            allocation = allocation || other.allocation
            blindingAssessments = blindingAssessments || other.blindingAssessments
            acknowledgedDoseSignals.formUnion(other.acknowledgedDoseSignals)
        }
    }

    /// The allocation, when `concern` obliges: before the participants' refresh, which judges their new doses against it
    /// (judged after, a dose in the batch that assigns its kit would open, and announce, a mismatch the same transaction
    /// takes back). It reads the archive only. Returns the participants whose every dose must be judged again (their kit
    /// was assigned now, or their study's labels changed), which the caller does for those its refresh did not judge whole.
    static func refreshAllocation(_ concern: Concern, _ db: PostgresConnection) throws -> [String] {
        concern.allocation ? try refreshAllocation(db) : []
    }

    /// The rest of what `concern` obliges, after the participants' refresh.
    static func refresh(_ concern: Concern, _ db: PostgresConnection) throws {
        if concern.blindingAssessments { try refreshBlindingAssessments(db) }
        if !concern.acknowledgedDoseSignals.isEmpty {
            let owners = try db.query("""
                SELECT DISTINCT participant_id FROM monitoring.safety_signals
                WHERE signal_id = ANY(\(array: concern.acknowledgedDoseSignals.sorted())::text[]) AND participant_id IS NOT NULL
                """).decode(String.self)
            // A signal not judged yet takes its acknowledgement when its dose is judged.
            try BlindedDoseSignals.judgeAgain(owners, notify: true, db)
        }
    }

    /// The first acknowledgement of each signal the condition names, by the server's clock (as for the participant fold's
    /// signals), found by `events_acknowledgement_idx` (migration 0030).
    static func acknowledgements(where condition: PostgresQuery, _ db: PostgresConnection) throws
        -> [String: Randomization.Acknowledgement]
    {
        var acknowledgements: [String: Randomization.Acknowledgement] = [:]
        for (signal, by, at) in try db.query("""
            SELECT data ->> 'signal_id', recorded_by, recorded_at FROM audit.events
            WHERE type = 'signal.acknowledged' AND \(fragment: condition)
            ORDER BY recorded_at, event_id
            """).decode((String, String, Timestamp).self) where acknowledgements[signal] == nil {
            acknowledgements[signal] = Randomization.Acknowledgement(by: by, at: at)
        }
        return acknowledgements
    }

    /// Every randomization read model from the archive, for a rebuild or a recompute, before the participants are folded
    /// (they judge their doses against it).
    static func recompute(_ db: PostgresConnection) throws {
        _ = try refreshAllocation(notify: false, judgeChangedDoses: false, db)
        try refreshBlindingAssessments(db)
    }

    /// Rewrites the allocation's read models and signals from the archive. `notify`: announce critical signals that were
    /// not open before (a rebuild announces nothing). `judgeChangedDoses`: return the participants whose kit changed
    /// (assigned now), and everyone with a dose in a study whose stated labels changed (a rebuild judges every dose after).
    static func refreshAllocation(notify: Bool = true, judgeChangedDoses: Bool = true, _ db: PostgresConnection) throws -> [String] {
        let events = try MonitoringWriter.decode(try db.query(PostgresQuery(unsafeSQL: """
            SELECT envelope FROM audit.events WHERE \(predicate) OR \(participationPredicate) ORDER BY chain_seq
            """)))
        let signalIDs = allocationRules.map { "\($0.rawValue):%" }
        let acknowledgements = try acknowledgements(where: "data ->> 'signal_id' LIKE ANY(\(array: signalIDs)::text[])", db)
        let outcome = Randomization.assign(events, acknowledgements: acknowledgements)
        let openBefore = Set(try db.query("""
            SELECT signal_id FROM monitoring.safety_signals WHERE rule = ANY(\(array: allocationRules.map(\.rawValue))::text[]) AND status = 'open'
            """).decode(String.self))
        let before = judgeChangedDoses ? try BlindedDoseSignals.AllocationRows.load(of: nil, db) : BlindedDoseSignals.AllocationRows()

        for table: ReadModelTable in [.randomizationKits, .blindedContents, .randomizationSchedules, .randomizations, .unblindings] {
            try db.enqueue(PostgresQuery(unsafeSQL: "DELETE FROM \(table)"))
        }
        try db.enqueue("DELETE FROM monitoring.safety_signals WHERE rule = ANY(\(array: allocationRules.map(\.rawValue))::text[])")
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
        if notify {
            try MonitoringWriter.announceOpened(outcome.signals, openBefore: openBefore, db)
        }
        guard judgeChangedDoses else { return [] }
        let after = BlindedDoseSignals.AllocationRows(outcome)
        // Kits never move: the changed holders are kits assigned now. Other labels stated change the answer for every dose
        // of their study.
        let relabelled = Set(after.labels.symmetricDifference(before.labels).map(\.study)).sorted()
        let holders = Set(after.holders.symmetricDifference(before.holders).map(\.participant))
        return holders.union(relabelled.isEmpty ? [] : try BlindedDoseSignals.participantsWithDoses(in: relabelled, db)).sorted()
    }
}

/// `dose_kit_mismatch` and `blinded_label_unknown` (`Randomization.doseSignals`), judged per dose against the allocation in
/// `unblinded.randomization_kits` and `unblinded.blinded_contents`: a participant's new doses add their own signals, and a
/// participant's doses are judged again, whole, when their history is folded again (a correction or void reaches back),
/// their kit is assigned, the stated labels change, or one of their signals is acknowledged. A rebuild writes the
/// allocation first (`RandomizationWriter.recompute`), so every dose is judged once.
enum BlindedDoseSignals {
    /// The assigned kits and stated labels, as rows (what `Randomization.Allocation` is made of).
    struct AllocationRows: Equatable {
        struct Holder: Hashable {
            var study: String
            var participant: String
            var kit: String
        }

        var holders: Set<Holder> = []
        struct Label: Hashable {
            var study: String
            var label: String
        }

        var labels: Set<Label> = []

        init() {}

        init(_ outcome: Randomization.Outcome) {
            holders = Set(outcome.kits.compactMap { k in k.assignedTo.map { Holder(study: k.studyID, participant: $0, kit: k.kitNumber) } })
            labels = Set(outcome.contents.map { Label(study: $0.studyID, label: $0.blindedLabel) })
        }

        /// The kits of `participants` (nil: every assigned kit) and every stated label.
        static func load(of participants: [String]?, _ db: PostgresConnection) throws -> AllocationRows {
            var rows = AllocationRows()
            let kits = try participants.map { ids in
                try db.query("""
                    SELECT study_id, assigned_to, kit_number FROM unblinded.randomization_kits WHERE assigned_to = ANY(\(array: ids)::text[])
                    """)
            } ?? db.query("SELECT study_id, assigned_to, kit_number FROM unblinded.randomization_kits WHERE assigned_to IS NOT NULL")
            for (study, participant, kit) in try kits.decode((String, String, String).self) {
                rows.holders.insert(Holder(study: study, participant: participant, kit: kit))
            }
            rows.labels = Set(try db.query("SELECT DISTINCT study_id, blinded_label FROM unblinded.blinded_contents")
                .decode((String, String).self).map { Label(study: $0.0, label: $0.1) })
            return rows
        }

        var allocation: Randomization.Allocation {
            var allocation = Randomization.Allocation()
            for h in holders { allocation.kitOf[h.study + "|" + h.participant] = h.kit }
            for l in labels { allocation.labels[l.study, default: []].insert(l.label) }
            return allocation
        }
    }

    /// Judges the new doses in `appended` (by participant; no correction or void among them, see `ParticipantFold.State.advanced`)
    /// and adds their signals. A dose judged before (a fold state saved before it, then advanced again after a restart; or
    /// judged again by this batch's allocation) has its signals replaced, not doubled, nor announced again.
    static func add(_ appended: [String: [RecordedEvent]], notify: Bool, _ db: PostgresConnection) throws {
        // No correction is among them, so only a dose with a kit can raise a signal (an open-label study costs nothing here).
        let doses = appended.values.joined().filter(mayRaiseASignal)
        guard !doses.isEmpty else { return }
        let owners = Set(doses.compactMap(\.participantID)).sorted()
        let names = doses.flatMap { d in Randomization.doseRules.map { SignalRow.id($0, d.eventID) } }
        let openBefore = try delete(signalIDs: names, db)
        try write(judge(Array(doses), of: owners, db), openBefore: openBefore, notify: notify, db)
    }

    /// The participants whose every dose a transaction judged, from their whole history (see `judgeWhole`).
    final class JudgedWhole {
        var participants: Set<String> = []
    }

    /// Judges every dose of `histories` (each participant's whole archived history) and replaces their signals.
    /// `rowsDeleted`: the caller emptied the read models (a rebuild).
    static func judgeWhole(_ histories: [String: [RecordedEvent]], rowsDeleted: Bool, notify: Bool, into judged: JudgedWhole?,
                           _ db: PostgresConnection) throws {
        judged?.participants.formUnion(histories.keys)
        // A history with neither a dose by kit nor a change of a dose never had a dose signal (an open-label study).
        guard histories.values.contains(where: { $0.contains(where: Self.mayRaiseASignal) }) else { return }
        let participants = histories.keys.sorted()
        let openBefore = rowsDeleted ? [] : try delete(participants: participants, db)
        let doses = histories.values.joined().filter(Randomization.isDoseRecord)
        try write(doses.isEmpty ? [] : judge(Array(doses), of: participants, db), openBefore: openBefore, notify: notify, db)
    }

    /// A dose by kit, or a change of a dose (it may give one a kit).
    static func mayRaiseASignal(_ e: RecordedEvent) -> Bool {
        if case .doseAdministered(let d) = e.payload { return d.kitNumber != nil }
        return e.payload.changedEventType == .doseAdministered
    }

    /// Judges the doses of `participants` again from the archive, in bounded groups.
    static func judgeAgain(_ participants: [String], notify: Bool, _ db: PostgresConnection) throws {
        for start in stride(from: 0, to: participants.count, by: MonitoringWriter.chunk) {
            let group = Array(participants[start..<min(start + MonitoringWriter.chunk, participants.count)])
            let doses = try MonitoringWriter.decode(try db.query("""
                SELECT envelope FROM audit.events
                WHERE participant_id = ANY(\(array: group)::text[]) AND (\(fragment: PostgresQuery(unsafeSQL: RandomizationWriter.dosePredicate)))
                """))
            let openBefore = try delete(participants: group, db)
            try write(doses.isEmpty ? [] : judge(doses, of: group, db), openBefore: openBefore, notify: notify, db)
        }
    }

    /// Everyone with a dose, or a change of one, in these studies' archive.
    static func participantsWithDoses(in studies: [String], _ db: PostgresConnection) throws -> [String] {
        try db.query("""
            SELECT DISTINCT participant_id FROM audit.events
            WHERE participant_id IS NOT NULL AND study_id = ANY(\(array: studies)::text[])
              AND (\(fragment: PostgresQuery(unsafeSQL: RandomizationWriter.dosePredicate)))
            """).decode(String.self)
    }

    /// The signals of `doses` (of `participants`), acknowledgements applied (looked up only for signals that fire).
    private static func judge(_ doses: [RecordedEvent], of participants: [String], _ db: PostgresConnection) throws -> [SignalRow] {
        let allocation = try AllocationRows.load(of: participants, db).allocation
        let signals = Randomization.doseSignals(doses, allocation: allocation, acknowledgements: [:])
        guard !signals.isEmpty else { return [] }
        let acknowledgements = try RandomizationWriter.acknowledgements(
            where: "data ->> 'signal_id' = ANY(\(array: signals.map(\.signalID))::text[])", db)
        return acknowledgements.isEmpty ? signals : Randomization.doseSignals(doses, allocation: allocation, acknowledgements: acknowledgements)
    }

    /// Deletes these participants' dose signals; returns those that were open.
    private static func delete(participants: [String], _ db: PostgresConnection) throws -> Set<String> {
        Set(try db.query("""
            DELETE FROM monitoring.safety_signals
            WHERE participant_id = ANY(\(array: participants)::text[]) AND rule = ANY(\(array: Randomization.doseRules.map(\.rawValue))::text[])
            RETURNING signal_id, status
            """).decode((String, String).self).filter { $0.1 == "open" }.map(\.0))
    }

    /// Deletes these signals; returns those that were open.
    private static func delete(signalIDs: [String], _ db: PostgresConnection) throws -> Set<String> {
        Set(try db.query("""
            DELETE FROM monitoring.safety_signals WHERE signal_id = ANY(\(array: signalIDs)::text[]) RETURNING signal_id, status
            """).decode((String, String).self).filter { $0.1 == "open" }.map(\.0))
    }

    private static func write(_ signals: [SignalRow], openBefore: Set<String>, notify: Bool, _ db: PostgresConnection) throws {
        try ParticipantTables.insertSignals(signals, db)
        if notify { try MonitoringWriter.announceOpened(signals, openBefore: openBefore, db) }
    }
}
