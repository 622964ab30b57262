import Postgres
import TrialDomain
import TrialDomainPostgres

extension MonitoringWriter {
    /// How much of a lot's chain of custody a change can move (`LotCustody` judges it).
    enum CustodyScope: Equatable {
        /// Everything: a receipt (the expiry), a site's own movement, a count, a removed row, a full refresh.
        case whole
        /// Only these participants' doses (their dispensings, returns and doses are all a dose's judgement reads besides
        /// the lot's receipts), and, when movements were added, the counts at or after the earliest of them (`countsFrom`):
        /// a count compares with the balance as of its own time, which a later movement does not move.
        case participants(Set<String>, countsFrom: Timestamp?)

        mutating func formUnion(_ other: CustodyScope) {
            switch (self, other) {
            case (.whole, _): break
            case (_, .whole): self = .whole
            case (.participants(let a, let fromA), .participants(let b, let fromB)):
                self = .participants(a.union(b), countsFrom: [fromA, fromB].compactMap { $0 }.min())
            }
        }

        var everything: Bool { self == .whole }
        /// Whether some counts are judged again: all of them (`countsFrom` nil) or those at or after `countsFrom`.
        var counts: Bool {
            if case .participants(_, let from) = self { return from != nil }
            return true
        }
        var countsFrom: Timestamp? {
            if case .participants(_, let from) = self { return from }
            return nil
        }
        var participants: Set<String> {
            if case .participants(let ids, _) = self { return ids }
            return []
        }
    }

    /// What of each lot that only gained rows needs judging again: a new dose is judged alone against the lot's facts, so
    /// a batch costs its own doses, not the lot's history (one lot serves a whole site for months).
    static func custodyScopes(added: Set<LotKey>, movements: [DrugMovementRow], doses: [AccountabilityChanges.Dose]) -> [LotKey: CustodyScope] {
        var scopes: [LotKey: CustodyScope] = [:]
        for m in movements {
            let key = LotKey(site: m.siteID, lot: m.lot)
            guard added.contains(key) else { continue }
            let scope: CustodyScope = m.kind == .received || m.participantID == nil ? .whole
                : .participants([m.participantID!], countsFrom: m.occurredAt)
            scopes[key, default: scope].formUnion(scope)
        }
        for d in doses where added.contains(d.lot) {
            scopes[d.lot, default: .participants([d.participantID], countsFrom: nil)].formUnion(.participants([d.participantID], countsFrom: nil))
        }
        return scopes
    }

    /// Judges the chain of custody of these lots again (`LotCustody`), each as far as `scopes` says (a lot without one:
    /// wholly, from every dose, movement and count of it). Replaces exactly the signals that judgement gives
    /// (`unblinded.custody_signals` says which lot each was judged under) and the judged counts' balances. A lot is touched
    /// whenever a row of it is added or removed, so this sees every change that can move its signals: a late dispensing, a
    /// voided one, a corrected expiry, a loss, a count (a row removed and given back unchanged, as when a participant is
    /// folded again, changes nothing and touches nothing). `notify`: announce critical signals that were not open before.
    static func judgeCustody(_ touched: [LotKey], scopes: [LotKey: CustodyScope] = [:], notify: Bool = true, _ db: PostgresConnection) throws {
        guard !touched.isEmpty else { return }
        let scope = touched.map { scopes[$0] ?? .whole }
        // One row per lot: what of it to read and replace. Participants are one set for all lots of the batch: a dose of
        // theirs judged again under a lot that did not need it is judged the same.
        let lots: PostgresQuery = """
            unnest(\(array: touched.map(\.site))::text[], \(array: touched.map(\.lot))::text[], \(array: scope.map(\.everything))::bool[],
                   \(array: scope.map(\.counts))::bool[], \(array: scope.map(\.countsFrom))::timestamptz[])
                AS t(site_id, lot, everything, counts, counts_from)
            """
        // The counts a scope judges again (all of a lot's when `counts_from` is null), as a condition on the column holding
        // a count's time: a count's row (`c.counted_at`) or its signal's (`s.trigger_occurred_at`).
        func judgedCount(at countedAt: String) -> PostgresQuery {
            PostgresQuery(unsafeSQL: "t.counts AND (t.counts_from IS NULL OR \(countedAt) >= t.counts_from)")
        }
        let participants = Array(scope.reduce(into: Set<String>()) { $0.formUnion($1.participants) }).sorted()
        // The doses first: a participant's movements matter only to judge their doses of the lot.
        var doses: [LotKey: [LotCustody.Dose]] = [:]
        let doseColumns: PostgresQuery = """
            SELECT d.event_id::text, d.site_id, d.participant_id, d.lot, d.administered_at,
                   coalesce(d.administered_on, (d.administered_at AT TIME ZONE 'UTC')::date)::text, d.amount::float8, d.unit
            FROM unblinded.dose_products d JOIN t ON d.site_id = t.site_id AND d.lot = t.lot
            """
        var dosed = Set<String>()
        for row in try db.query("""
            WITH t AS (SELECT * FROM \(fragment: lots))
            \(fragment: doseColumns) WHERE t.everything
            UNION ALL \(fragment: doseColumns) WHERE NOT t.everything AND d.participant_id = ANY(\(array: participants)::text[])
            """) {
            let (eventID, site, participant, lot, at, on, amount, unit)
                = try row.decode((String, String, String, String, Timestamp, String, Double, String).self)
            guard let unit = DoseUnit(rawValue: unit) else { throw ProjectionError.accountability(site: site, lot: lot, value: unit) }
            doses[LotKey(site: site, lot: lot), default: []].append(LotCustody.Dose(
                eventID: eventID, participantID: participant, administeredAt: at, administeredOn: on, quantity: Quantity(amount: amount, unit: unit)))
            dosed.insert(participant)
        }
        var movements: [LotKey: [DrugMovementRow]] = [:]
        // Three disjoint parts, each found by an index, so a batch reads the rows its doses and counts need, not every
        // movement of a lot that has served a site for months: a lot's every movement only when it is judged whole or a
        // count is judged again (it compares with the balance), else its receipts (the expiry) and the movements of the
        // participants whose doses are judged. Nothing when no lot has a dose or count to judge.
        let movementColumns: PostgresQuery = """
            SELECT m.event_id::text, m.site_id, m.participant_id, m.lot, m.kind, m.quantity::float8, m.unit, m.occurred_at, m.expires_on::text
            FROM unblinded.drug_movements m JOIN t ON m.site_id = t.site_id AND m.lot = t.lot
            """
        if !doses.isEmpty || scope.contains(where: \.counts) {
            for row in try db.query("""
                WITH t AS (
                    SELECT t.site_id, t.lot, t.everything
                        OR EXISTS (SELECT 1 FROM unblinded.drug_counts c WHERE c.site_id = t.site_id AND c.lot = t.lot AND \(fragment: judgedCount(at: "c.counted_at"))) AS whole
                    FROM \(fragment: lots))
                \(fragment: movementColumns) WHERE t.whole
                UNION ALL \(fragment: movementColumns) WHERE NOT t.whole AND m.kind = 'received'
                UNION ALL \(fragment: movementColumns)
                WHERE NOT t.whole AND m.kind <> 'received' AND m.participant_id = ANY(\(array: dosed.sorted())::text[])
                """) {
                let (eventID, site, participant, lot, kind, quantity, unit, at, expiresOn)
                    = try row.decode((String, String, String?, String, String, Double, String, Timestamp, String?).self)
                guard let kind = MovementKind(rawValue: kind), let unit = DoseUnit(rawValue: unit) else {
                    throw ProjectionError.accountability(site: site, lot: lot, value: "\(kind) \(unit)")
                }
                movements[LotKey(site: site, lot: lot), default: []].append(DrugMovementRow(
                    eventID: eventID, siteID: site, participantID: participant, lot: lot, kind: kind,
                    quantity: Quantity(amount: quantity, unit: unit), occurredAt: at, expiresOn: expiresOn))
            }
        }
        var counts: [LotKey: [InventoryCountRow]] = [:]
        for row in try db.query("""
            DELETE FROM unblinded.drug_counts c USING \(fragment: lots)
            WHERE c.site_id = t.site_id AND c.lot = t.lot AND \(fragment: judgedCount(at: "c.counted_at"))
            RETURNING c.event_id::text, c.site_id, c.lot, c.counted::float8, c.unit, c.counted_by, c.witnessed_by, c.counted_at
            """) {
            let (eventID, site, lot, counted, unit, by, witness, at)
                = try row.decode((String, String, String, Double, String, String, String, Timestamp).self)
            guard let unit = DoseUnit(rawValue: unit) else { throw ProjectionError.accountability(site: site, lot: lot, value: unit) }
            counts[LotKey(site: site, lot: lot), default: []].append(InventoryCountRow(
                eventID: eventID, siteID: site, lot: lot, counted: Quantity(amount: counted, unit: unit), countedBy: by,
                witnessedBy: witness, countedAt: at))
        }
        // A site's acknowledgements count for its own lots' signals only.
        var acknowledgements: [String: [String: (by: String, at: Timestamp)]] = [:]
        for row in try db.query("""
            SELECT site_id, signal_id, acknowledged_by, acknowledged_at FROM monitoring.site_acknowledgements
            WHERE site_id = ANY(\(array: Array(Set(touched.map(\.site))))::text[])
            """) {
            let (site, signal, by, at) = try row.decode((String, String, String, Timestamp).self)
            acknowledgements[site, default: [:]][signal] = (by, at)
        }
        // The signals this judgement replaces: a dose's carry its participant, a count's none.
        var openBefore: Set<String> = []
        var replaced: [String] = []
        for row in try db.query("""
            DELETE FROM monitoring.safety_signals s USING unblinded.custody_signals c, \(fragment: lots)
            WHERE s.signal_id = c.signal_id AND c.site_id = t.site_id AND c.lot = t.lot
              AND (t.everything OR s.participant_id = ANY(\(array: participants)::text[])
                   OR (s.participant_id IS NULL AND \(fragment: judgedCount(at: "s.trigger_occurred_at"))))
            RETURNING s.signal_id, s.status
            """) {
            let (signal, status) = try row.decode((String, String).self)
            replaced.append(signal)
            if status == SignalStatus.open.rawValue { openBefore.insert(signal) }
        }
        if !replaced.isEmpty { try db.enqueue("DELETE FROM unblinded.custody_signals WHERE signal_id = ANY(\(array: replaced)::text[])") }
        let zones = try siteTimeZones(Array(Set(touched.map(\.site))), db)
        var signals: [SignalRow] = []
        var owners: [(signal: String, lot: LotKey)] = []
        var judgedCounts: [InventoryCountRow] = []
        for key in touched {
            let judgement = LotCustody.judge(siteID: key.site, lot: key.lot, movements: movements[key] ?? [], doses: doses[key] ?? [],
                                             counts: counts[key] ?? [], zone: zones[key.site], acknowledgements: acknowledgements[key.site] ?? [:])
            signals += judgement.signals
            owners += judgement.signals.map { ($0.signalID, key) }
            judgedCounts += judgement.counts
        }
        try ParticipantTables.insertCounts(judgedCounts, db)
        try ParticipantTables.insertSignals(signals, db)
        if notify { try announceOpened(signals, openBefore: openBefore, db) }
        guard !owners.isEmpty else { return }
        try db.enqueue("""
            INSERT INTO unblinded.custody_signals (signal_id, site_id, lot)
            SELECT * FROM unnest(\(array: owners.map(\.signal))::text[], \(array: owners.map(\.lot.site))::text[],
                                 \(array: owners.map(\.lot.lot))::text[])
            """)
    }
}
