import Postgres
import TrialDomain

/// Brings the monitoring read models up to date after a batch: every participant and site the batch
/// touched is recomputed from its whole archived history by the pure folds, and its rows replaced.
/// A protocol change (a study-wide event) recomputes every participant.
enum MonitoringWriter {
    // Participants recomputed per statement group: at most this many of them, and at most `chunkEvents` archived
    // events between them (one participant with more is a chunk of its own). Bounds the histories held in memory
    // at once, also when a protocol amendment recomputes every participant of a large archive.
    static let chunk = 200
    static let chunkEvents = 20_000

    /// What a set of events obliges the read models to recompute.
    struct Pending: Equatable {
        var participants: Set<String> = []
        /// Sites with site-level events (no participant): their movements, deviations and acknowledgements.
        var sites: Set<String> = []
        /// A study-wide event (a protocol or its correction): every participant is recomputed.
        var protocols = false

        init(after events: [RecordedEvent]) {
            participants = Set(events.compactMap(\.participantID))
            sites = Set(events.filter { $0.participantID == nil }.compactMap(\.siteID))
            protocols = events.contains { $0.siteID == nil }
        }

        var isEmpty: Bool { participants.isEmpty && sites.isEmpty && !protocols }

        mutating func formUnion(_ other: Pending) {
            participants.formUnion(other.participants)
            sites.formUnion(other.sites)
            protocols = protocols || other.protocols
        }
    }

    /// Brings the read models up to date after a batch, together with anything an earlier batch deferred.
    /// `events` are newly archived, in this transaction; a participant's snapshot is advanced by them in memory,
    /// unless an earlier batch deferred the participant (their other new events are then read from the archive).
    static func refresh(after events: [RecordedEvent], _ db: PostgresConnection) throws {
        try recordSiteActivity(events, db)
        let deferred = try takeDeferred(db)
        var pending = Pending(after: events)
        pending.formUnion(deferred)
        var fromBatch = Dictionary(grouping: events.filter { $0.participantID != nil }) { $0.participantID! }
        for id in deferred.participants { fromBatch[id] = nil }
        try apply(pending, fromBatch: fromBatch, db)
    }

    /// Records what `events` oblige to recompute without recomputing it yet (see migration 0006).
    static func deferRefresh(after events: [RecordedEvent], _ db: PostgresConnection) throws {
        try recordSiteActivity(events, db)
        let pending = Pending(after: events)
        guard !pending.isEmpty else { return }
        let kinds = pending.participants.map { _ in "participant" } + pending.sites.map { _ in "site" } + (pending.protocols ? ["protocols"] : [])
        let keys = Array(pending.participants) + Array(pending.sites) + (pending.protocols ? [""] : [])
        try db.query("""
            INSERT INTO projection.pending_refresh (kind, key)
            SELECT * FROM unnest(\(array: kinds)::text[], \(array: keys)::text[]) ON CONFLICT DO NOTHING
            """)
    }

    /// Whether an earlier batch deferred a refresh that has not happened yet.
    static func hasDeferred(_ db: PostgresConnection) throws -> Bool {
        try db.query("SELECT EXISTS (SELECT 1 FROM projection.pending_refresh)")[0][0] == "t"
    }

    /// Reads and clears the deferred refreshes (the caller's transaction makes both or neither happen).
    static func takeDeferred(_ db: PostgresConnection) throws -> Pending {
        var pending = Pending(after: [])
        for row in try db.query("DELETE FROM projection.pending_refresh RETURNING kind, key") {
            switch row[0]! {
            case "participant": pending.participants.insert(row[1]!)
            case "site": pending.sites.insert(row[1]!)
            default: pending.protocols = true
            }
        }
        return pending
    }

    private static func apply(_ pending: Pending, fromBatch: [String: [RecordedEvent]], _ db: PostgresConnection) throws {
        guard !pending.isEmpty else { return }
        let protocols = pending.protocols ? try refreshProtocols(db) : try loadProtocols(db)
        let siteLevel = pending.sites.sorted()
        var sites = pending.sites
        if pending.protocols {
            // A protocol change reaches every participant's history: all are folded again, in bounded chunks.
            for ids in try chunks(nil, db) {
                sites.formUnion(try refreshParticipants(ids, protocols: protocols, foldAgain: true, db))
            }
        } else {
            sites.formUnion(try refreshParticipants(pending.participants.sorted(), protocols: protocols, fromBatch: fromBatch, db))
        }
        if !siteLevel.isEmpty { try refreshSites(siteLevel, db) }
        try refreshAccountability(sites.sorted(), db)
    }

    /// Recomputes everything from the archive (after a migration, or on request).
    static func recomputeAll(_ db: PostgresConnection) throws {
        // Everything is recomputed, so refreshes a catch-up deferred are done by this too.
        try db.query("DELETE FROM projection.pending_refresh")
        try recomputeSiteActivity(db)
        let protocols = try refreshProtocols(db)
        for ids in try chunks(nil, db) {
            _ = try refreshParticipants(ids, protocols: protocols, foldAgain: true, notify: false, db)
        }
        let sites = try allSites(db)
        try refreshSites(sites, db)
        try refreshAccountability(sites, db)
        try refreshReusedEventIDSignals(nil, db)
    }

    /// Rewrites `monitoring.site_activity` from the archive.
    static func recomputeSiteActivity(_ db: PostgresConnection) throws {
        try db.query("DELETE FROM monitoring.site_activity")
        try db.query("""
            INSERT INTO monitoring.site_activity (site_id, last_event_recorded_at, events)
            SELECT site_id, max(recorded_at), count(*) FROM audit.events WHERE site_id IS NOT NULL GROUP BY site_id
            """)
    }

    static func allSites(_ db: PostgresConnection) throws -> [String] {
        try db.query("SELECT DISTINCT site_id FROM audit.events WHERE site_id IS NOT NULL ORDER BY 1").map { $0[0]! }
    }

    // MARK: Reused event_ids

    /// One `event_id_reused` warning per event_id in audit.rejected (all of them, or those of `eventIDs`), rewritten
    /// from that table alone, so a rebuild or a replay of the log gives the same rows. Site and participant are the
    /// refused record's (a study-wide record has none); details name the first refused record's partition
    /// and offset and the field that differs.
    static func refreshReusedEventIDSignals(_ eventIDs: [String]?, _ db: PostgresConnection) throws {
        let rule = SafetyRule.eventIDReused
        let all = eventIDs == nil
        let ids = eventIDs ?? []
        try db.query("""
            DELETE FROM monitoring.safety_signals
            WHERE rule = \(rule.rawValue) AND (\(all) OR trigger_event_id = ANY(\(array: ids)::text[]))
            """)
        try db.query("""
            INSERT INTO monitoring.safety_signals (signal_id, participant_id, site_id, rule, severity, trigger_event_id,
                trigger_occurred_at, details, status, acknowledged_by, acknowledged_at, deadline, resolution)
            SELECT \(rule.rawValue)::text || ':' || r.event_id::text, r.record ->> 'participant_id', r.record ->> 'site_id',
                   \(rule.rawValue)::text, \(rule.severity.rawValue)::text, r.event_id::text, (r.record ->> 'occurred_at')::timestamptz,
                   'partition ' || r.kafka_partition || ' offset ' || r.kafka_offset || ' of ' || r.kafka_topic || ': ' || r.reason
                       || '; not applied, kept in audit.rejected'
                       || CASE WHEN r.records > 1 THEN ' (with ' || (r.records - 1) || ' more record(s))' ELSE '' END,
                   'open', NULL, NULL, NULL, NULL
            FROM (SELECT DISTINCT ON (event_id) event_id, kafka_topic, kafka_partition, kafka_offset, reason,
                         envelope::jsonb AS record, count(*) OVER (PARTITION BY event_id) AS records
                  FROM audit.rejected
                  WHERE \(all) OR event_id = ANY(\(array: ids)::uuid[])
                  ORDER BY event_id, kafka_topic, kafka_partition, kafka_offset) r
            """)
    }

    // MARK: Loading from the archive

    static func decode(_ rows: PostgresRows) throws -> [RecordedEvent] {
        let parser = JSONParser(maxDepth: 64)
        let validator = EventValidator()
        return try rows.map { row in
            try validator.decodeStored(try parser.parse(row[0]!)).get()
        }
    }

    /// `participants` (nil: everyone in the archive) in recompute chunks, by their archived event counts.
    static func chunks(_ participants: [String]?, _ db: PostgresConnection) throws -> [[String]] {
        let counts = try participants.map { ids in
            try db.query("""
                SELECT participant_id, count(*) FROM audit.events WHERE participant_id = ANY(\(array: ids)::text[]) GROUP BY 1 ORDER BY 1
                """)
        } ?? db.query("SELECT participant_id, count(*) FROM audit.events WHERE participant_id IS NOT NULL GROUP BY 1 ORDER BY 1")
        var known = Set<String>()
        var chunks: [[String]] = []
        var current: [String] = []
        var events = 0
        func add(_ id: String, _ count: Int) {
            if !current.isEmpty, current.count >= chunk || events + count > chunkEvents {
                chunks.append(current)
                current = []
                events = 0
            }
            current.append(id)
            events += count
        }
        for row in counts {
            known.insert(row[0]!)
            add(row[0]!, Int(row[1]!)!)
        }
        // A participant named by events not yet archived (none today) still gets recomputed (to no rows).
        for id in participants ?? [] where !known.contains(id) { add(id, 0) }
        if !current.isEmpty { chunks.append(current) }
        return chunks
    }

    /// Study-wide events (protocols and their corrections), corrections applied.
    static func loadStudyEvents(_ db: PostgresConnection) throws -> [RecordedEvent] {
        let events = try decode(try db.query("SELECT envelope FROM audit.events WHERE site_id IS NULL"))
        return EffectiveHistory(events).entries.map(\.event)
    }

    static func loadProtocols(_ db: PostgresConnection) throws -> ProtocolHistory {
        ProtocolHistory(events: try loadStudyEvents(db))
    }

    /// Rewrites `monitoring.protocol_versions` from the archive, with the changes of study events (and signals
    /// for those refused), and returns the protocol history it shows.
    static func refreshProtocols(_ db: PostgresConnection) throws -> ProtocolHistory {
        let recorded = try decode(try db.query("SELECT envelope FROM audit.events WHERE site_id IS NULL"))
        let history = EffectiveHistory(recorded)
        let events = history.entries.map(\.event)
        let changes = history.changes(of: recorded, siteID: nil, participantID: nil)
        try db.query("DELETE FROM monitoring.corrections WHERE site_id IS NULL")
        try db.query("DELETE FROM monitoring.safety_signals WHERE site_id IS NULL")
        try ParticipantTables.insertCorrections(changes.rows, db)
        try ParticipantTables.insertSignals(changes.signals, db)
        let protocols = ProtocolHistory(events: events)
        let data = Dictionary(events.map { ($0.eventID, $0.data) }, uniquingKeysWith: { a, _ in a })
        try db.query("DELETE FROM monitoring.protocol_versions")
        let v = protocols.versions
        guard !v.isEmpty else { return protocols }
        try db.query("""
            INSERT INTO monitoring.protocol_versions (protocol_version, effective_from, event_id, rules)
            SELECT * FROM unnest(\(array: v.map(\.version))::text[], \(array: v.map(\.effectiveFrom.rfc3339))::timestamptz[],
                                 \(array: v.map(\.eventID))::uuid[], \(array: v.map { CanonicalJSON.string(data[$0.eventID] ?? .null) })::jsonb[])
            """)
        return protocols
    }

    // MARK: Participants

    /// Brings these participants' rows up to date and returns their sites. Each participant's snapshot (see
    /// `FoldSnapshots`) is advanced by their new events: those of `fromBatch` (archived in this transaction), or for a
    /// participant not in it, those archived after the snapshot. A participant without a usable snapshot, whose new
    /// events the fold cannot simply add (see `ParticipantFold`), or every one with `foldAgain`, is folded from their
    /// whole archived history, in chunks bounded like `chunks`. With `notify`, critical signals that were not open
    /// before are announced (a full recompute announces nothing: no signal is new to it).
    static func refreshParticipants(_ ids: [String], protocols: ProtocolHistory, fromBatch: [String: [RecordedEvent]] = [:],
                                    foldAgain: Bool = false, notify: Bool = true, _ db: PostgresConnection) throws -> Set<String> {
        guard !ids.isEmpty else { return [] }
        let throughSeq = try db.query("SELECT chain_seq FROM audit.chain_head")[0][0].flatMap { Int64($0) } ?? 0
        let snapshots = foldAgain ? [:] : try FoldSnapshots.load(ids, db)
        var newEvents = fromBatch
        let sinceSnapshot = ids.filter { snapshots[$0] != nil && fromBatch[$0] == nil }
        if !sinceSnapshot.isEmpty {
            let loaded = try decode(try db.query("""
                SELECT e.envelope FROM audit.events e
                JOIN unnest(\(array: sinceSnapshot)::text[], \(array: sinceSnapshot.map { snapshots[$0]!.throughSeq })::bigint[]) AS s(id, seq)
                  ON e.participant_id = s.id AND e.chain_seq > s.seq
                """))
            for (id, events) in Dictionary(grouping: loaded, by: { $0.participantID! }) { newEvents[id] = events }
        }
        var states: [String: ParticipantFold.State?] = [:]
        var changes: [RowChanges] = []
        var openBefore: [String: Set<String>] = [:]
        var signalsAfter: [String: [SignalRow]] = [:]
        var foldFromArchive: [String] = []
        for id in ids {
            guard let snapshot = snapshots[id] else {
                foldFromArchive.append(id)
                continue
            }
            guard let new = newEvents[id], !new.isEmpty else { continue }  // nothing archived since (a repeat)
            let before = snapshot.state.wholeHistoryRows(protocols: protocols)
            openBefore[id] = Set(before.signals.filter { $0.status == .open && $0.severity == .critical }.map(\.signalID))
            guard let (state, rows) = snapshot.state.advanced(by: new, protocols: protocols) else {
                foldFromArchive.append(id)
                continue
            }
            states[id] = state
            changes.append(RowChanges(participantID: id, from: before, to: rows))
            signalsAfter[id] = rows.signals
        }
        var sites = Set(states.values.compactMap { $0?.siteID })
        for group in try foldFromArchive.count > chunk ? chunks(foldFromArchive, db) : [foldFromArchive] where !group.isEmpty {
            let histories = Dictionary(grouping: try decode(try db.query("""
                SELECT envelope FROM audit.events WHERE participant_id = ANY(\(array: group)::text[])
                """))) { $0.participantID! }
            var replaced: [String] = []
            for id in group {
                let result = ParticipantFold.refold(participantID: id, history: histories[id] ?? [], new: newEvents[id] ?? [],
                                                    previous: snapshots[id]?.state, protocols: protocols)
                states[id] = result.state
                changes.append(result.changes)
                signalsAfter[id] = result.changes.upserts.signals
                if let site = result.state?.siteID { sites.insert(site) }
                if result.replacesAll { replaced.append(id) }
            }
            openBefore.merge(try deleteRows(of: replaced, db)) { a, _ in a }
        }
        try write(changes, sites: states.compactMapValues { $0?.siteID }, db)
        try FoldSnapshots.save(states, throughSeq: throughSeq, db)
        if notify { try announceCriticalSignals(openBefore: openBefore, after: signalsAfter, db) }
        return sites
    }

    /// Deletes every row of these participants (they are rewritten whole). Returns the critical signals they had open,
    /// for the announcement of new ones.
    private static func deleteRows(of ids: [String], _ db: PostgresConnection) throws -> [String: Set<String>] {
        guard !ids.isEmpty else { return [:] }
        var openBefore: [String: Set<String>] = [:]
        for row in try db.query("""
            SELECT participant_id, signal_id FROM monitoring.safety_signals
            WHERE participant_id = ANY(\(array: ids)::text[]) AND severity = 'critical' AND status = 'open'
            """) {
            guard let participant = row[0], let signal = row[1] else { continue }
            openBefore[participant, default: []].insert(signal)
        }
        for table in ["participants", "doses", "assessments", "vitals", "adverse_events", "deviations", "corrections"] {
            try db.query("DELETE FROM monitoring.\(identifier: table) WHERE participant_id = ANY(\(array: ids)::text[])")
        }
        // event_id_reused signals come from audit.rejected, not from the fold: they stay.
        try db.query("""
            DELETE FROM monitoring.safety_signals
            WHERE participant_id = ANY(\(array: ids)::text[]) AND rule <> \(SafetyRule.eventIDReused.rawValue)
            """)
        for table in ["allocations", "dose_products", "drug_movements"] {
            try db.query("DELETE FROM unblinded.\(identifier: table) WHERE participant_id = ANY(\(array: ids)::text[])")
        }
        return openBefore
    }

    /// Deletes the rows that changed or went, then inserts the new and changed ones.
    private static func write(_ changes: [RowChanges], sites: [String: String], _ db: PostgresConnection) throws {
        var deletions: [String: [String]] = [:]
        for change in changes { deletions.merge(change.deletions) { $0 + $1 } }
        for (table, keys) in deletions.sorted(by: { $0.key < $1.key }) where !keys.isEmpty {
            switch table {
            case "participants":
                try db.query("DELETE FROM monitoring.participants WHERE participant_id = ANY(\(array: keys)::text[])")
            case "allocations":
                try db.query("DELETE FROM unblinded.allocations WHERE participant_id = ANY(\(array: keys)::text[])")
            case "doses":
                try db.query("DELETE FROM monitoring.doses WHERE event_id = ANY(\(array: keys)::uuid[])")
                try db.query("DELETE FROM unblinded.dose_products WHERE event_id = ANY(\(array: keys)::uuid[])")
            case "drug_movements":
                try db.query("DELETE FROM unblinded.drug_movements WHERE event_id = ANY(\(array: keys)::uuid[])")
            case "safety_signals":
                try db.query("DELETE FROM monitoring.safety_signals WHERE signal_id = ANY(\(array: keys)::text[])")
            default:
                try db.query("DELETE FROM monitoring.\(identifier: table) WHERE event_id = ANY(\(array: keys)::uuid[])")
            }
        }
        try ParticipantTables.insert(changes.map { ($0.participantID, $0.upserts) }, sites: sites, db)
    }

    /// Tells watchers (LISTEN critical_signals) about critical signals that just opened: one statement for all of them
    /// (an amendment can open thousands at once).
    private static func announceCriticalSignals(openBefore: [String: Set<String>], after: [String: [SignalRow]],
                                                _ db: PostgresConnection) throws {
        var payloads: [String] = []
        for (participant, signals) in after.sorted(by: { $0.key < $1.key }) {
            let wasOpen = openBefore[participant] ?? []
            for signal in signals where signal.severity == .critical && signal.status == .open && !wasOpen.contains(signal.signalID) {
                payloads.append(CanonicalJSON.string([
                    "signal_id": .string(signal.signalID), "participant_id": .string(signal.participantID ?? ""),
                    "site_id": .string(signal.siteID ?? ""), "rule": .string(signal.rule.rawValue),
                    "details": .string(String(signal.details.prefix(500))),
                ]))
            }
        }
        if !payloads.isEmpty {
            try db.query("SELECT count(pg_notify('critical_signals', p)) FROM unnest(\(array: payloads)::text[]) AS p")
        }
    }

    // MARK: Sites

    static func refreshSites(_ sites: [String], _ db: PostgresConnection) throws {
        let events = try decode(try db.query("""
            SELECT envelope FROM audit.events WHERE site_id = ANY(\(array: sites)::text[]) AND participant_id IS NULL
            """))
        let bySite = Dictionary(grouping: events) { $0.siteID! }
        try db.query("DELETE FROM unblinded.drug_movements WHERE participant_id IS NULL AND site_id = ANY(\(array: sites)::text[])")
        try db.query("DELETE FROM monitoring.deviations WHERE participant_id IS NULL AND site_id = ANY(\(array: sites)::text[])")
        try db.query("DELETE FROM monitoring.site_acknowledgements WHERE site_id = ANY(\(array: sites)::text[])")
        try db.query("DELETE FROM monitoring.corrections WHERE participant_id IS NULL AND site_id = ANY(\(array: sites)::text[])")
        try db.query("""
            DELETE FROM monitoring.safety_signals
            WHERE participant_id IS NULL AND rule = \(SafetyRule.invalidCorrection.rawValue) AND site_id = ANY(\(array: sites)::text[])
            """)
        var movements: [DrugMovementRow] = []
        var deviations: [DeviationRow] = []
        var corrections: [CorrectionRow] = []
        var signals: [SignalRow] = []
        var acks: [(site: String, signal: String, by: String, at: Timestamp)] = []
        for site in sites {
            let rows = SiteFold.rows(siteID: site, events: bySite[site] ?? [])
            movements += rows.movements
            deviations += rows.deviations
            corrections += rows.corrections
            signals += rows.signals
            acks += rows.acknowledgements.sorted { $0.key < $1.key }.map { (site, $0.key, $0.value.by, $0.value.at) }
        }
        try ParticipantTables.insertMovements(movements, db)
        try ParticipantTables.insertDeviations(deviations, db)
        try ParticipantTables.insertCorrections(corrections, db)
        try ParticipantTables.insertSignals(signals, db)
        if !acks.isEmpty {
            try db.query("""
                INSERT INTO monitoring.site_acknowledgements (site_id, signal_id, acknowledged_by, acknowledged_at)
                SELECT * FROM unnest(\(array: acks.map(\.site))::text[], \(array: acks.map(\.signal))::text[],
                                     \(array: acks.map(\.by))::text[], \(array: acks.map(\.at.rfc3339))::timestamptz[])
                """)
        }
    }

    /// Per site and lot, from the movements and the doses; discrepancies become site signals.
    static func refreshAccountability(_ sites: [String], _ db: PostgresConnection) throws {
        guard !sites.isEmpty else { return }
        try db.query("DELETE FROM unblinded.drug_accountability WHERE site_id = ANY(\(array: sites)::text[])")
        try db.query("""
            INSERT INTO unblinded.drug_accountability
            SELECT site_id, lot, min(unit),
                   coalesce(sum(q) FILTER (WHERE kind = 'received'), 0),
                   coalesce(sum(q) FILTER (WHERE kind = 'dispensed'), 0),
                   coalesce(sum(q) FILTER (WHERE kind = 'administered'), 0),
                   coalesce(sum(q) FILTER (WHERE kind = 'returned' AND by_participant), 0),
                   coalesce(sum(q) FILTER (WHERE kind = 'returned' AND NOT by_participant), 0),
                   coalesce(sum(q) FILTER (WHERE kind = 'destroyed'), 0),
                   coalesce(sum(CASE WHEN kind = 'received' OR (kind = 'returned' AND by_participant) THEN q
                                     WHEN kind IN ('dispensed', 'destroyed') OR (kind = 'returned' AND NOT by_participant) THEN -q
                                     ELSE 0 END), 0),
                   false, NULL
            FROM (SELECT site_id, lot, unit, kind, participant_id IS NOT NULL AS by_participant, quantity AS q
                  FROM unblinded.drug_movements WHERE site_id = ANY(\(array: sites)::text[])
                  UNION ALL
                  SELECT site_id, lot, unit, 'administered', true, amount
                  FROM unblinded.dose_products WHERE site_id = ANY(\(array: sites)::text[]) AND lot IS NOT NULL) m
            GROUP BY site_id, lot
            HAVING count(DISTINCT unit) >= 1
            """)
        try db.query("""
            UPDATE unblinded.drug_accountability a SET discrepancy = true, discrepancy_reason = r.reason
            FROM (SELECT site_id, lot, concat_ws('; ',
                         CASE WHEN balance < 0 THEN 'balance is negative (' || balance || ' ' || unit || ')' END,
                         CASE WHEN administered > dispensed THEN 'administered ' || administered || ' exceeds dispensed ' || dispensed END,
                         CASE WHEN (SELECT count(DISTINCT unit) FROM unblinded.drug_movements m
                                    WHERE m.site_id = d.site_id AND m.lot = d.lot) > 1 THEN 'lot recorded in more than one unit' END) AS reason
                  FROM unblinded.drug_accountability d WHERE site_id = ANY(\(array: sites)::text[])) r
            WHERE a.site_id = r.site_id AND a.lot = r.lot AND r.reason <> ''
            """)
        try db.query("DELETE FROM monitoring.safety_signals WHERE rule = 'accountability_discrepancy' AND site_id = ANY(\(array: sites)::text[])")
        try db.query("""
            INSERT INTO monitoring.safety_signals (signal_id, participant_id, site_id, rule, severity, trigger_event_id,
                trigger_occurred_at, details, status, acknowledged_by, acknowledged_at, deadline, resolution)
            SELECT 'accountability_discrepancy:' || a.site_id || '/' || a.lot, NULL, a.site_id, 'accountability_discrepancy', 'warning',
                   last.event_id::text, last.occurred_at, 'lot ' || a.lot || ': ' || a.discrepancy_reason,
                   CASE WHEN k.signal_id IS NULL THEN 'open' ELSE 'acknowledged' END, k.acknowledged_by, k.acknowledged_at, NULL, NULL
            FROM unblinded.drug_accountability a
            CROSS JOIN LATERAL (SELECT event_id, occurred_at FROM unblinded.drug_movements m
                                WHERE m.site_id = a.site_id AND m.lot = a.lot ORDER BY occurred_at DESC, event_id DESC LIMIT 1) last
            LEFT JOIN monitoring.site_acknowledgements k
                   ON k.site_id = a.site_id AND k.signal_id = 'accountability_discrepancy:' || a.site_id || '/' || a.lot
            WHERE a.discrepancy AND a.site_id = ANY(\(array: sites)::text[])
            """)
    }

    /// Last event received per site: a maximum and a count, so arrival order cannot matter.
    static func recordSiteActivity(_ events: [RecordedEvent], _ db: PostgresConnection) throws {
        var latest: [String: (Timestamp, Int)] = [:]
        for e in events {
            guard let site = e.siteID else { continue }
            let current = latest[site] ?? (e.recordedAt, 0)
            latest[site] = (max(current.0, e.recordedAt), current.1 + 1)
        }
        guard !latest.isEmpty else { return }
        let sites = latest.keys.sorted()
        try db.query("""
            INSERT INTO monitoring.site_activity AS s (site_id, last_event_recorded_at, events)
            SELECT * FROM unnest(\(array: sites)::text[], \(array: sites.map { latest[$0]!.0.rfc3339 })::timestamptz[],
                                 \(array: sites.map { latest[$0]!.1 })::bigint[])
            ON CONFLICT (site_id) DO UPDATE SET
                last_event_recorded_at = greatest(s.last_event_recorded_at, excluded.last_event_recorded_at),
                events = s.events + excluded.events
            """)
    }
}
