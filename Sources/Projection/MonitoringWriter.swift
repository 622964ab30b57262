import AuditChain
import Postgres
import TrialDomain
import TrialDomainPostgres

/// Brings the monitoring read models up to date after a batch: every participant and site the batch
/// touched is recomputed from its whole archived history by the pure folds, and its rows replaced.
/// A protocol change (a study-wide event) recomputes every participant.
enum MonitoringWriter {
    // Participants recomputed per statement group: at most this many of them, and at most `chunkEvents` archived
    // events between them (one participant with more is a chunk of its own). Bounds the histories held in memory
    // at once, also when a protocol amendment recomputes every participant of a large archive (two chunks at a time
    // when one is read ahead, see `refoldAll`).
    static let chunk = 200
    static let chunkEvents = 10_000

    /// What a set of events obliges the read models to recompute.
    struct Pending: Equatable {
        var participants: Set<String> = []
        /// Sites with site-level events (no participant): their movements, deviations and acknowledgements.
        var sites: Set<String> = []
        /// A study-wide event (a protocol or its correction): every participant is recomputed.
        var protocols = false
        /// What the randomization read models must do (issue 16, `RandomizationWriter`).
        var randomization = RandomizationWriter.Concern()

        init(after events: [RecordedEvent]) {
            participants = Set(events.compactMap(\.participantID))
            sites = Set(events.filter { $0.participantID == nil }.compactMap(\.siteID))
            // A randomization schedule is study-wide but no protocol: it changes no participant's fold.
            protocols = events.contains { $0.siteID == nil && $0.type != .randomizationScheduleLoaded }
            randomization = RandomizationWriter.Concern(after: events)
        }

        var isEmpty: Bool { participants.isEmpty && sites.isEmpty && !protocols && randomization.isEmpty }

        mutating func formUnion(_ other: Pending) {
            participants.formUnion(other.participants)
            sites.formUnion(other.sites)
            protocols = protocols || other.protocols
            randomization.formUnion(other.randomization)
        }
    }

    /// A lot at a site.
    /// A site-scoped acknowledgement's key: a monitor acknowledges a site's signal at that site only.
    struct SiteSignal: Hashable {
        var site: String
        var signal: String
    }

    struct LotKey: Hashable, Comparable {
        var site: String
        var lot: String
        static func < (a: LotKey, b: LotKey) -> Bool { (a.site, a.lot) < (b.site, b.lot) }
    }

    /// What a batch did to the rows drug accountability sums: rows added, rows removed, and lots to sum again.
    ///
    /// A lot whose removed rows are exactly rows added back (a participant's rows rewritten whole, as a protocol
    /// amendment does) has not changed; one that lost a row that did not come back is summed again from its rows.
    struct AccountabilityChanges {
        var movements: [DrugMovementRow] = []
        /// A dose added to a lot (its product and amount are what the lot's sums need; its participant, what its custody does).
        struct Dose {
            var lot: LotKey
            var eventID: String
            var participantID: String
            var amount: Double
            var unit: DoseUnit
        }
        var doses: [Dose] = []
        /// Removed rows by lot, as `fingerprint`s.
        var removedRows: [LotKey: [String]] = [:]
        var resum: Set<LotKey> = []

        mutating func formUnion(_ other: AccountabilityChanges) {
            movements += other.movements
            doses += other.doses
            removedRows.merge(other.removedRows) { $0 + $1 }
            resum.formUnion(other.resum)
        }

        static func fingerprint(_ m: DrugMovementRow) -> String {
            "m|\(m.eventID)|\(m.kind.rawValue)|\(LotAccountability.micro(m.quantity.amount))|\(m.quantity.unit.rawValue)|\(m.participantID ?? "")|\(m.occurredAt.microsecondsSinceEpoch)"
        }

        static func fingerprint(dose eventID: String, _ amount: Double, _ unit: String) -> String {
            "d|\(eventID)|\(LotAccountability.micro(amount))|\(unit)"
        }

        /// Rows of `DELETE FROM unblinded.drug_movements ... RETURNING event_id::text, site_id, participant_id, lot, kind,
        /// quantity::float8, unit, occurred_at`.
        mutating func removedMovements(_ rows: PostgresRows) throws {
            for row in rows {
                let (eventID, site, participant, lot, kind, quantity, unit, at)
                    = try row.decode((String, String, String?, String, String, Double, String, Timestamp).self)
                removedRows[LotKey(site: site, lot: lot), default: []].append(
                    "m|\(eventID)|\(kind)|\(LotAccountability.micro(quantity))|\(unit)|\(participant ?? "")|\(at.microsecondsSinceEpoch)")
            }
        }

        /// Rows of `DELETE FROM unblinded.dose_products ... RETURNING event_id::text, site_id, lot, amount::float8, unit`.
        mutating func removedDoses(_ rows: PostgresRows) throws {
            for row in rows {
                // A blinded (v3) dose names no lot (nor amount): no lot's sum holds it.
                let (eventID, site, lot, amount, unit) = try row.decode((String, String, String?, Double?, String?).self)
                if let lot, let amount, let unit { removedRows[LotKey(site: site, lot: lot), default: []].append(Self.fingerprint(dose: eventID, amount, unit)) }
            }
        }

        /// Lots named by rows of `SELECT site_id, lot ...`: summed again.
        mutating func resum(_ rows: PostgresRows) throws {
            for row in rows {
                let (site, lot) = try row.decode((String, String?).self)
                if let lot { resum.insert(LotKey(site: site, lot: lot)) }
            }
        }

        /// Settles removed rows against added ones. A lot that got every removed row back (a participant's rows rewritten
        /// whole) changes only by the rows that are new: those are returned for adding, the others are skipped. A lot that
        /// lost a row that did not come back is summed again from its rows (returned in `resum`).
        func settled() -> (movements: [DrugMovementRow], doses: [Dose], resum: Set<LotKey>) {
            var added: [LotKey: [String: Int]] = [:]
            for m in movements { added[LotKey(site: m.siteID, lot: m.lot), default: [:]][Self.fingerprint(m), default: 0] += 1 }
            for d in doses { added[d.lot, default: [:]][Self.fingerprint(dose: d.eventID, d.amount, d.unit.rawValue), default: 0] += 1 }
            var resum = resum
            var givenBack: [LotKey: [String: Int]] = [:]
            for (lot, removed) in removedRows {
                var available = added[lot] ?? [:]
                var back: [String: Int] = [:]
                for row in removed {
                    guard let n = available[row], n > 0 else {
                        resum.insert(lot)
                        break
                    }
                    available[row] = n - 1
                    back[row, default: 0] += 1
                }
                if !resum.contains(lot) { givenBack[lot] = back }
            }
            /// Whether a row is new to its lot's sums: not in a lot summed again, and not a removed row given back.
            func isNew(_ lot: LotKey, _ fingerprint: String) -> Bool {
                guard !resum.contains(lot) else { return false }
                guard let n = givenBack[lot]?[fingerprint], n > 0 else { return true }
                givenBack[lot]![fingerprint] = n - 1
                return false
            }
            return (movements.filter { isNew(LotKey(site: $0.siteID, lot: $0.lot), Self.fingerprint($0)) },
                    doses.filter { isNew($0.lot, Self.fingerprint(dose: $0.eventID, $0.amount, $0.unit.rawValue)) }, resum)
        }
    }

    /// Brings the read models up to date after a batch, together with anything an earlier batch deferred.
    /// `events` are newly archived, in this transaction; a participant's snapshot is advanced by them in memory,
    /// unless an earlier batch deferred the participant (their other new events are then read from the archive).
    static func refresh(after events: [RecordedEvent], _ db: PostgresConnection, cache: FoldStateCache? = nil) throws {
        try recordSiteActivity(events, db)
        let deferred = try takeDeferred(db)
        var pending = Pending(after: events)
        pending.formUnion(deferred)
        var fromBatch = Dictionary(grouping: events.filter { $0.participantID != nil }) { $0.participantID! }
        for id in deferred.participants { fromBatch[id] = nil }
        try apply(pending, fromBatch: fromBatch, batch: events, cache: cache, db)
    }

    /// Records what `events` oblige to recompute without recomputing it yet (see migration 0006).
    static func deferRefresh(after events: [RecordedEvent], _ db: PostgresConnection) throws {
        try recordSiteActivity(events, db)
        let pending = Pending(after: events)
        guard !pending.isEmpty else { return }
        let r = pending.randomization
        let kinds = pending.participants.map { _ in "participant" } + pending.sites.map { _ in "site" } + (pending.protocols ? ["protocols"] : [])
            + (r.allocation ? ["randomization"] : []) + (r.blindingAssessments ? ["blinding"] : [])
            + r.acknowledgedDoseSignals.map { _ in "dose_signal" }
        let keys = Array(pending.participants) + Array(pending.sites) + (pending.protocols ? [""] : []) + (r.allocation ? [""] : [])
            + (r.blindingAssessments ? [""] : []) + Array(r.acknowledgedDoseSignals)
        try db.enqueue("""
            INSERT INTO projection.pending_refresh (kind, key)
            SELECT * FROM unnest(\(array: kinds)::text[], \(array: keys)::text[]) ON CONFLICT DO NOTHING
            """)
    }

    /// Whether an earlier batch deferred a refresh that has not happened yet.
    static func hasDeferred(_ db: PostgresConnection) throws -> Bool {
        try db.query("SELECT EXISTS (SELECT 1 FROM projection.pending_refresh)").decodeFirst(Bool.self)
    }

    /// Reads and clears the deferred refreshes (the caller's transaction makes both or neither happen).
    static func takeDeferred(_ db: PostgresConnection) throws -> Pending {
        var pending = Pending(after: [])
        for row in try db.query("DELETE FROM projection.pending_refresh RETURNING kind, key") {
            switch try row.decode(String.self, at: 0) {
            case "participant": pending.participants.insert(try row.decode(String.self, at: 1))
            case "site": pending.sites.insert(try row.decode(String.self, at: 1))
            case "randomization": pending.randomization.allocation = true
            case "blinding": pending.randomization.blindingAssessments = true
            case "dose_signal": pending.randomization.acknowledgedDoseSignals.insert(try row.decode(String.self, at: 1))
            default: pending.protocols = true
            }
        }
        return pending
    }

    private static func apply(_ pending: Pending, fromBatch: [String: [RecordedEvent]], batch: [RecordedEvent], cache: FoldStateCache?,
                              _ db: PostgresConnection) throws {
        guard !pending.isEmpty else { return }
        let protocols = pending.protocols ? try refreshProtocols(db) : try loadProtocols(db, cache: cache)
        let owedDoses = try RandomizationWriter.refreshAllocation(pending.randomization, db)
        let judged = BlindedDoseSignals.JudgedWhole()
        let siteLevel = pending.sites.sorted()
        var accountability = AccountabilityChanges()
        if pending.protocols {
            // A protocol change reaches every participant's history: all are folded again, in bounded chunks.
            // Settled chunk by chunk: a participant's rows come back within their chunk, and the rows of a whole
            // archive would not fit in memory.
            try refoldAll(try chunks(nil, db), protocols: protocols, notify: true, cache: cache, db) { try refreshAccountability($0, db) }
        } else {
            accountability.formUnion(try refreshParticipants(pending.participants.sorted(), protocols: protocols, fromBatch: fromBatch,
                                                             cache: cache, judged: judged, db))
        }
        // Whose kit or labels the allocation changed, unless folded again just now (every participant, for a protocol).
        if !pending.protocols { try BlindedDoseSignals.judgeAgain(owedDoses.filter { !judged.participants.contains($0) }, notify: true, db) }
        if !siteLevel.isEmpty { accountability.formUnion(try refreshSites(siteLevel, db)) }
        try refreshAccountability(accountability, db)
        // Queries do not depend on the protocol: only the participants with new events.
        try DataQueryWriter.refresh(pending.participants.sorted(), batch: batch, known: Set(fromBatch.keys), db)
        // Blinding assessments and acknowledged dose signals, after the participants' refresh (which judged their doses).
        try RandomizationWriter.refresh(pending.randomization, db)
    }

    /// Recomputes everything from the archive into read models the caller emptied (`projector rebuild`).
    static func recomputeAll(_ db: PostgresConnection) throws {
        // Everything is recomputed, so refreshes a catch-up deferred are done by this too.
        try db.enqueue("DELETE FROM projection.pending_refresh")
        try recomputeSiteActivity(db)
        let protocols = try refreshProtocols(db)
        // The allocation before the participants: their blinded doses are judged against it as they are folded.
        try RandomizationWriter.recompute(db)
        try refoldAll(try chunks(nil, db), protocols: protocols, rowsDeleted: true, notify: false, db)
        let sites = try allSites(db)
        // A rebuild opens nothing new (the tables were emptied): nothing is announced.
        _ = try refreshSites(sites, notify: false, db)
        try refreshAccountability(AccountabilityChanges(), sites: sites, notify: false, db)
        try refreshReusedEventIDSignals(nil, db)
        try DataQueryWriter.refresh(nil, db)
    }

    /// Rewrites `monitoring.site_activity` from the archive.
    static func recomputeSiteActivity(_ db: PostgresConnection) throws {
        try db.enqueue("DELETE FROM monitoring.site_activity")
        try db.enqueue("""
            INSERT INTO monitoring.site_activity (site_id, last_event_recorded_at, events)
            SELECT site_id, max(recorded_at), count(*) FROM audit.events WHERE site_id IS NOT NULL GROUP BY site_id
            """)
    }

    static func allSites(_ db: PostgresConnection) throws -> [String] {
        try db.query("SELECT DISTINCT site_id FROM audit.events WHERE site_id IS NOT NULL ORDER BY 1").decode(String.self)
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
        try db.enqueue("""
            DELETE FROM monitoring.safety_signals
            WHERE rule = \(rule.rawValue) AND (\(all) OR trigger_event_id = ANY(\(array: ids)::text[]))
            """)
        try db.enqueue("""
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

    /// The events whose stored envelopes are in column `envelopeAt` of `rows`, decoded on every core.
    static func decode(_ rows: PostgresRows, envelopeAt column: Int = 0) throws -> [RecordedEvent] {
        let decoder = StoredEventDecoder()
        let envelopes = try rows.map { row in try row.decode(String.self, at: column) }
        return try ParallelMap.map(envelopes) { try decoder.decode($0).get() }
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
        for (id, count) in try counts.decode((String, Int).self) {
            known.insert(id)
            add(id, count)
        }
        // A participant named by events not yet archived (none today) still gets recomputed (to no rows).
        for id in participants ?? [] where !known.contains(id) { add(id, 0) }
        if !current.isEmpty { chunks.append(current) }
        return chunks
    }

    /// Which archived events are study-wide (protocols and their changes; a randomization schedule is no protocol): what
    /// `loadStudyEvents` and `refreshProtocols` read and what `loadProtocols`' cache is keyed by. Constant SQL.
    static let studyEvents = "site_id IS NULL AND type <> 'randomization.schedule_loaded'"

    /// Study-wide events (protocols and their corrections), corrections applied.
    static func loadStudyEvents(_ db: PostgresConnection) throws -> [RecordedEvent] {
        let events = try decode(try db.query(PostgresQuery(unsafeSQL: "SELECT envelope FROM audit.events WHERE \(studyEvents)")))
        return EffectiveHistory(events).entries.map(\.event)
    }

    /// With a `cache`, the protocols a batch before decoded, unless a study-wide event was archived since (their count
    /// and last position, from their index, say so): a streaming batch does not read and decode them every time.
    static func loadProtocols(_ db: PostgresConnection, cache: FoldStateCache? = nil) throws -> ProtocolHistory {
        guard let cache else { return ProtocolHistory(events: try loadStudyEvents(db)) }
        let (count, last) = try db.query("""
            SELECT count(*), coalesce(max(chain_seq), 0) FROM audit.events WHERE \(fragment: PostgresQuery(unsafeSQL: studyEvents))
            """).decode((Int64, Int64).self).first ?? (Int64(0), Int64(0))
        if let known = cache.protocols, known.events == count, known.lastSeq == last { return known.history }
        let history = ProtocolHistory(events: try loadStudyEvents(db))
        cache.protocols = (count, last, history)
        return history
    }

    /// Rewrites `monitoring.protocol_versions` from the archive, with the changes of study events (and signals
    /// for those refused), and returns the protocol history it shows.
    static func refreshProtocols(_ db: PostgresConnection) throws -> ProtocolHistory {
        let recorded = try decode(try db.query(PostgresQuery(unsafeSQL: "SELECT envelope FROM audit.events WHERE \(studyEvents)")))
        let history = EffectiveHistory(recorded)
        let events = history.entries.map(\.event)
        let changes = history.changes(of: recorded, siteID: nil, participantID: nil)
        try db.enqueue("DELETE FROM monitoring.corrections WHERE site_id IS NULL")
        // A schedule-level randomization signal has no site either; it is the randomization recompute's.
        try db.enqueue("""
            DELETE FROM monitoring.safety_signals WHERE site_id IS NULL AND rule <> ALL(\(array: RandomizationWriter.rules.map(\.rawValue))::text[])
            """)
        try ParticipantTables.insertCorrections(changes.rows, db)
        try ParticipantTables.insertSignals(changes.signals, db)
        let protocols = ProtocolHistory(events: events)
        let data = Dictionary(events.map { ($0.eventID, $0.data) }, uniquingKeysWith: { a, _ in a })
        try db.enqueue("DELETE FROM monitoring.protocol_versions")
        let v = protocols.versions
        guard !v.isEmpty else { return protocols }
        try db.enqueue("""
            INSERT INTO monitoring.protocol_versions (protocol_version, effective_from, event_id, rules)
            SELECT * FROM unnest(\(array: v.map(\.version))::text[], \(array: v.map(\.effectiveFrom.rfc3339))::timestamptz[],
                                 \(array: v.map(\.eventID))::uuid[], \(array: v.map { CanonicalJSON.string(data[$0.eventID] ?? .null) })::jsonb[])
            """)
        return protocols
    }

    // MARK: Participants

    /// Brings these participants' rows up to date and returns what that did to the rows drug accountability sums. Each participant's snapshot (see
    /// `FoldSnapshots`) is advanced by their new events: those of `fromBatch` (archived in this transaction), or for a
    /// participant not in it, those archived after the snapshot. A participant without a usable snapshot, whose new
    /// events the fold cannot simply add (see `ParticipantFold`), or every one with `foldAgain`, is folded from their
    /// whole archived history, in chunks bounded like `chunks`. With `notify`, critical signals that were not open
    /// before are announced (a full recompute announces nothing: no signal is new to it). `rowsDeleted`: the caller
    /// emptied every read model (a rebuild), so there is nothing to delete before the rows are written.
    /// `histories` (with `foldAgain`): the participants' archived events, already read (see `refoldAll`);
    /// `throughSeq`: the chain head the caller holds, when it knows it.
    static func refreshParticipants(_ ids: [String], protocols: ProtocolHistory, fromBatch: [String: [RecordedEvent]] = [:],
                                    foldAgain: Bool = false, histories: [RecordedEvent]? = nil, rowsDeleted: Bool = false,
                                    notify: Bool = true, throughSeq: Int64? = nil, cache: FoldStateCache? = nil,
                                    judged: BlindedDoseSignals.JudgedWhole? = nil, _ db: PostgresConnection) throws -> AccountabilityChanges {
        guard !ids.isEmpty else { return AccountabilityChanges() }
        precondition(histories == nil || foldAgain, "histories are given for a fold from the archive only")
        let throughSeq = try throughSeq ?? chainHeadSeq(db)
        let snapshots = foldAgain ? [:] : try FoldSnapshots.load(ids, cache: cache, db)
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
        // Advanced from the state the cache holds, and saved recently enough: saved again in a later batch.
        var unsaved = Set<String>()
        // The new events of participants advanced without folding again: their blinded doses are judged alone.
        var appended: [String: [RecordedEvent]] = [:]
        for id in ids {
            guard let snapshot = snapshots[id] else {
                foldFromArchive.append(id)
                continue
            }
            guard let new = newEvents[id], !new.isEmpty else { continue }  // nothing archived since (a repeat)
            let before = snapshot.state.wholeHistoryRows(protocols: protocols)
            openBefore[id] = Set(before.signals.filter { $0.status == .open }.map(\.signalID))
            guard let (state, rows) = snapshot.state.advanced(by: new, protocols: protocols) else {
                foldFromArchive.append(id)
                continue
            }
            states[id] = state
            appended[id] = new
            if cache?.maySkipSaving(id) == true { unsaved.insert(id) }
            changes.append(RowChanges(participantID: id, from: before, to: rows))
            signalsAfter[id] = rows.signals
        }
        var accountability = AccountabilityChanges()
        let previous = snapshots.mapValues(\.state)
        var given = histories.map { (group: foldFromArchive, events: $0) }
        var reader = histories != nil ? nil
            : try ArchivedHistories(foldFromArchive.count <= chunk ? [foldFromArchive] : try chunks(foldFromArchive, db), db)
        while let (group, events) = try given ?? reader?.next() {
            given = nil
            guard !group.isEmpty else { continue }
            let archived = Dictionary(grouping: events) { $0.participantID! }
            var replaced: [String] = []
            let refolded = ParallelMap.map(group, minimumPerWorker: 8) { [newEvents] id in
                ParticipantFold.refold(participantID: id, history: archived[id] ?? [], new: newEvents[id] ?? [],
                                       previous: previous[id], protocols: protocols)
            }
            for (id, result) in zip(group, refolded) {
                states[id] = result.state
                changes.append(result.changes)
                signalsAfter[id] = result.changes.upserts.signals
                if result.replacesAll { replaced.append(id) }
            }
            if !rowsDeleted { openBefore.merge(try deleteRows(of: replaced, accountability: &accountability, db)) { a, _ in a } }
            try BlindedDoseSignals.judgeWhole(Dictionary(uniqueKeysWithValues: group.map { ($0, archived[$0] ?? []) }),
                                              rowsDeleted: rowsDeleted, notify: notify, into: judged, db)
        }
        try BlindedDoseSignals.add(appended, notify: notify, db)
        try write(changes, sites: states.compactMapValues { $0?.siteID }, accountability: &accountability, db)
        try FoldSnapshots.save(states, throughSeq: throughSeq, deferring: unsaved, db)
        cache?.store(states, throughSeq: throughSeq, unsaved: unsaved)
        if notify { try announceCriticalSignals(openBefore: openBefore, after: signalsAfter, db) }
        return accountability
    }

    /// Folds every participant of `chunks` again from their whole archived history and writes their rows, chunk by
    /// chunk (`settle` gets each chunk's changes to drug accountability). Each chunk's histories are read while the
    /// chunk before is decoded and folded, and its writes run while the next one is: the server and the fold work
    /// at the same time instead of taking turns (see `PostgresConnection.prefetch`).
    static func refoldAll(_ chunks: [[String]], protocols: ProtocolHistory, rowsDeleted: Bool = false, notify: Bool,
                          cache: FoldStateCache? = nil, _ db: PostgresConnection,
                          settle: (AccountabilityChanges) throws -> Void = { _ in }) throws {
        guard !chunks.isEmpty else { return }
        let throughSeq = try chainHeadSeq(db)
        var reader = try ArchivedHistories(chunks, db)
        while let (ids, events) = try reader.next() {
            try settle(try refreshParticipants(ids, protocols: protocols, foldAgain: true, histories: events,
                                               rowsDeleted: rowsDeleted, notify: notify, throughSeq: throughSeq, cache: cache, db))
        }
    }

    /// Each group's archived events in turn; the next group's are read (`PostgresConnection.prefetch`) while the caller
    /// works on the ones it has, so PostgreSQL and the fold work at the same time instead of taking turns.
    struct ArchivedHistories {
        private let groups: [[String]]
        private let db: PostgresConnection
        private var pending: PostgresPrefetch?
        private var index = 0

        /// Empty groups are skipped (no statement for them).
        init(_ groups: [[String]], _ db: PostgresConnection) throws {
            self.groups = groups.filter { !$0.isEmpty }
            self.db = db
            pending = try self.groups.first.map { try db.prefetch(Self.query($0)) }
        }

        /// The next group and its participants' decoded events; nil after the last.
        mutating func next() throws -> (group: [String], events: [RecordedEvent])? {
            guard let current = pending else { return nil }
            let rows = try current.rows()
            let group = groups[index]
            index += 1
            pending = index < groups.count ? try db.prefetch(Self.query(groups[index])) : nil
            return (group, try MonitoringWriter.decode(rows))
        }

        private static func query(_ participants: [String]) -> PostgresQuery {
            "SELECT envelope FROM audit.events WHERE participant_id = ANY(\(array: participants)::text[])"
        }
    }

    static func chainHeadSeq(_ db: PostgresConnection) throws -> Int64 {
        try db.query("SELECT chain_seq FROM audit.chain_head").decodeFirst(Int64?.self) ?? 0
    }

    /// Deletes every row of these participants (they are rewritten whole). Returns the signals they had open, for the
    /// announcement and the count of new ones.
    private static func deleteRows(of ids: [String], accountability: inout AccountabilityChanges, _ db: PostgresConnection) throws
        -> [String: Set<String>]
    {
        guard !ids.isEmpty else { return [:] }
        var openBefore: [String: Set<String>] = [:]
        for row in try db.query("""
            SELECT participant_id, signal_id FROM monitoring.safety_signals
            WHERE participant_id = ANY(\(array: ids)::text[]) AND status = 'open'
            """) {
            guard case let (participant?, signal?) = try row.decode((String?, String?).self) else { continue }
            openBefore[participant, default: []].insert(signal)
        }
        for table: ReadModelTable in [.participants, .doses, .assessments, .vitals, .adverseEvents, .deviations, .corrections,
                                      .allocations, .concomitantMedications, .expeditedReportClocks] {
            try db.enqueue(table.deleteRows(ofParticipants: ids))
        }
        // event_id_reused signals come from audit.rejected, and custody signals from their lot's record (`judgeCustody`),
        // not from the fold: they stay.
        // Nor do the randomization signals (`RandomizationWriter`).
        let notFolded = ([SafetyRule.eventIDReused, .expiredLotUsed, .undispensedLotUsed] + RandomizationWriter.rules).map(\.rawValue)
        try db.enqueue("""
            DELETE FROM monitoring.safety_signals
            WHERE participant_id = ANY(\(array: ids)::text[]) AND rule <> ALL(\(array: notFolded)::text[])
            """)
        try accountability.removedDoses(try db.query("""
            DELETE FROM unblinded.dose_products WHERE participant_id = ANY(\(array: ids)::text[])
            RETURNING event_id::text, site_id, lot, amount::float8, unit
            """))
        try accountability.removedMovements(try db.query("""
            DELETE FROM unblinded.drug_movements WHERE participant_id = ANY(\(array: ids)::text[])
            RETURNING event_id::text, site_id, participant_id, lot, kind, quantity::float8, unit, occurred_at
            """))
        return openBefore
    }

    /// Deletes the rows that changed or went, then inserts the new and changed ones.
    private static func write(_ changes: [RowChanges], sites: [String: String], accountability: inout AccountabilityChanges,
                              _ db: PostgresConnection) throws {
        var deletions: [ParticipantRowKind: [String]] = [:]
        for change in changes { deletions.merge(change.deletions) { $0 + $1 } }
        for (kind, keys) in deletions.sorted(by: { $0.key < $1.key }) where !keys.isEmpty {
            // Rows drug accountability sums are deleted with RETURNING: what a lot lost (see `AccountabilityChanges`).
            switch kind {
            case .dose:
                try db.enqueue(ReadModelTable.doses.deleteRows(keyed: keys))
                try accountability.removedDoses(try db.query("""
                    DELETE FROM unblinded.dose_products WHERE event_id = ANY(\(array: keys)::uuid[])
                    RETURNING event_id::text, site_id, lot, amount::float8, unit
                    """))
            case .drugMovement:
                try accountability.removedMovements(try db.query("""
                    DELETE FROM unblinded.drug_movements WHERE event_id = ANY(\(array: keys)::uuid[])
                    RETURNING event_id::text, site_id, participant_id, lot, kind, quantity::float8, unit, occurred_at
                    """))
            default:
                try db.enqueue(ReadModelTable.holding(kind).deleteRows(keyed: keys))
            }
        }
        try ParticipantTables.insert(changes.map { ($0.participantID, $0.upserts) }, sites: sites, db)
        for change in changes {
            accountability.movements += change.upserts.movements
            guard let site = sites[change.participantID] else { continue }
            for dose in change.upserts.doses {
                // A blinded (v3) dose names no lot (nor amount): the kit is its unit of custody.
                if let lot = dose.dose.lot, let amount = dose.dose.amount, let unit = dose.dose.unit {
                    accountability.doses.append(.init(lot: LotKey(site: site, lot: lot), eventID: dose.eventID, participantID: change.participantID,
                                                      amount: amount, unit: unit))
                }
            }
        }
    }

    /// The signals of the transaction in hand that opened (see `OpenedSignalTally`), when the batch asked for them.
    @TaskLocal static var openedSignals: OpenedSignalTally?

    /// Tells watchers (LISTEN critical_signals) about critical signals that just opened: one statement for all of them
    /// (an amendment can open thousands at once). Every signal that just opened, of any severity, is also tallied.
    private static func announceCriticalSignals(openBefore: [String: Set<String>], after: [String: [SignalRow]],
                                                _ db: PostgresConnection) throws {
        var opened: [SignalRow] = []
        for (participant, signals) in after.sorted(by: { $0.key < $1.key }) {
            let wasOpen = openBefore[participant] ?? []
            for signal in signals where signal.status == .open && !wasOpen.contains(signal.signalID) {
                openedSignals?.add(rule: signal.rule.rawValue, severity: signal.severity.rawValue)
                opened.append(signal)
            }
        }
        try notifyCritical(opened, db)
    }

    /// NOTIFY critical_signals of each critical signal among `opened` (one statement); the others are not announced.
    private static func notifyCritical(_ opened: [SignalRow], _ db: PostgresConnection) throws {
        let payloads = opened.filter { $0.severity == .critical }.map { signal in
            CanonicalJSON.string([
                "signal_id": .string(signal.signalID), "participant_id": .string(signal.participantID ?? ""),
                "site_id": .string(signal.siteID ?? ""), "rule": .string(signal.rule.rawValue),
                "details": .string(String(signal.details.prefix(500))),
            ])
        }
        if !payloads.isEmpty {
            try db.enqueue("SELECT count(pg_notify('critical_signals', p)) FROM unnest(\(array: payloads)::text[]) AS p")
        }
    }

    /// Of `signals` (site or custody signals, judged outside the participants' folds), those open now that were not open
    /// among `openBefore`, announced to watchers like a participant's (not tallied: see `projector_signals_opened_total`).
    static func announceOpened(_ signals: [SignalRow], openBefore: Set<String>, _ db: PostgresConnection) throws {
        try notifyCritical(signals.filter { $0.status == .open && !openBefore.contains($0.signalID) }, db)
    }

    // MARK: Sites

    /// Rewrites the sites' own rows; returns what that did to drug accountability: every lot of theirs is summed again
    /// (their movements may have changed, and an acknowledgement changes a lot's signal).
    static func refreshSites(_ sites: [String], notify: Bool = true, _ db: PostgresConnection) throws -> AccountabilityChanges {
        let events = try decode(try db.query("""
            SELECT envelope FROM audit.events WHERE site_id = ANY(\(array: sites)::text[]) AND participant_id IS NULL
            """))
        let bySite = Dictionary(grouping: events) { $0.siteID! }
        var accountability = AccountabilityChanges()
        try accountability.resum(try db.query("""
            DELETE FROM unblinded.drug_movements WHERE participant_id IS NULL AND site_id = ANY(\(array: sites)::text[]) RETURNING site_id, lot
            """))
        try accountability.resum(try db.query("""
            SELECT site_id, lot FROM unblinded.drug_accountability WHERE site_id = ANY(\(array: sites)::text[])
            """))
        try db.enqueue("DELETE FROM monitoring.deviations WHERE participant_id IS NULL AND site_id = ANY(\(array: sites)::text[])")
        try db.enqueue("DELETE FROM monitoring.site_acknowledgements WHERE site_id = ANY(\(array: sites)::text[])")
        try db.enqueue("DELETE FROM monitoring.corrections WHERE participant_id IS NULL AND site_id = ANY(\(array: sites)::text[])")
        // What was open before, so a drug_loss that opens now is announced (and one rewritten as it was is not).
        let lossesOpenBefore = Set(try db.query("""
            DELETE FROM monitoring.safety_signals
            WHERE participant_id IS NULL AND rule IN (\(SafetyRule.invalidCorrection.rawValue), \(SafetyRule.drugLoss.rawValue))
              AND site_id = ANY(\(array: sites)::text[])
            RETURNING CASE WHEN status = 'open' THEN signal_id END
            """).decode(String?.self).compactMap { $0 })
        // Counts are judged with their lot (`judgeCustody`), which every lot of these sites is, below.
        try accountability.resum(try db.query("""
            DELETE FROM unblinded.drug_counts WHERE site_id = ANY(\(array: sites)::text[]) RETURNING site_id, lot
            """))
        var movements: [DrugMovementRow] = []
        var counts: [InventoryCountRow] = []
        var deviations: [DeviationRow] = []
        var corrections: [CorrectionRow] = []
        var signals: [SignalRow] = []
        var acks: [(site: String, signal: String, by: String, at: Timestamp)] = []
        var profiles: [SiteProfileRow] = []
        for site in sites {
            let rows = SiteFold.rows(siteID: site, events: bySite[site] ?? [], timeZones: SiteTimeZone.named)
            profiles += rows.profile.map { [$0] } ?? []
            movements += rows.movements
            counts += rows.counts
            deviations += rows.deviations
            corrections += rows.corrections
            signals += rows.signals
            acks += rows.acknowledgements.sorted { $0.key < $1.key }.map { (site, $0.key, $0.value.by, $0.value.at) }
        }
        try writeProfiles(profiles, of: sites, db)
        try ParticipantTables.insertMovements(movements, db)
        try ParticipantTables.insertCounts(counts, db)
        accountability.resum.formUnion(movements.map { LotKey(site: $0.siteID, lot: $0.lot) } + counts.map { LotKey(site: $0.siteID, lot: $0.lot) })
        try ParticipantTables.insertDeviations(deviations, db)
        try ParticipantTables.insertCorrections(corrections, db)
        try ParticipantTables.insertSignals(signals, db)
        if notify { try announceOpened(signals, openBefore: lossesOpenBefore, db) }
        if !acks.isEmpty {
            try db.enqueue("""
                INSERT INTO monitoring.site_acknowledgements (site_id, signal_id, acknowledged_by, acknowledged_at)
                SELECT * FROM unnest(\(array: acks.map(\.site))::text[], \(array: acks.map(\.signal))::text[],
                                     \(array: acks.map(\.by))::text[], \(array: acks.map(\.at.rfc3339))::timestamptz[])
                """)
        }
        return accountability
    }

    /// Per site and lot, from the movements and the doses (`LotAccountability`); discrepancies become site signals.
    ///
    /// A lot that only gained rows (the common case) has them added to its row; one that lost a row (a correction, a
    /// participant folded again, a site's own events rewritten), or every lot of `sites` when given, is summed again from
    /// its rows.
    static func refreshAccountability(_ changes: AccountabilityChanges, sites: [String]? = nil, notify: Bool = true,
                                      _ db: PostgresConnection) throws {
        var lots: [LotKey: LotAccountability] = [:]
        let settled = changes.settled()
        var resum = settled.resum
        if let sites, !sites.isEmpty {
            for row in try db.query("""
                SELECT DISTINCT site_id, lot FROM unblinded.drug_movements WHERE site_id = ANY(\(array: sites)::text[])
                UNION SELECT DISTINCT site_id, lot FROM unblinded.dose_products WHERE site_id = ANY(\(array: sites)::text[]) AND lot IS NOT NULL
                UNION SELECT site_id, lot FROM unblinded.drug_accountability WHERE site_id = ANY(\(array: sites)::text[])
                UNION SELECT site_id, lot FROM unblinded.drug_counts WHERE site_id = ANY(\(array: sites)::text[])
                """) {
                let (site, lot) = try row.decode((String, String).self)
                resum.insert(LotKey(site: site, lot: lot))
            }
        }
        var added = Set(settled.movements.map { LotKey(site: $0.siteID, lot: $0.lot) } + settled.doses.map(\.lot)).subtracting(resum)
        guard !added.isEmpty || !resum.isEmpty else { return }
        for lot in added { lots[lot] = LotAccountability(siteID: lot.site, lot: lot.lot) }
        if !added.isEmpty {
            let keys = added.sorted()
            for row in try db.query("""
                SELECT site_id, lot, received::text, dispensed::text, administered::text, returned_by_participants::text,
                       returned_to_sponsor::text, destroyed::text, lost::text, array_to_string(movement_units, ','), array_to_string(dose_units, ','),
                       signal_anchor_at, signal_anchor_event_id::text, signal_anchor_site_level
                FROM unblinded.drug_accountability
                WHERE (site_id, lot) IN (SELECT * FROM unnest(\(array: keys.map(\.site))::text[], \(array: keys.map(\.lot))::text[]))
                """) {
                let (site, lot, received, dispensed, administered, byParticipants, toSponsor, destroyed, lost, movementUnits, doseUnits,
                     anchorAt, anchorID, anchorSiteLevel)
                    = try row.decode((String, String, String, String, String, String, String, String, String, String, String,
                                      Timestamp?, String?, Bool?).self)
                // A row written before migration 0024 has movements but no anchor: summed again until the recompute has
                // run, or a new movement would anchor it (perhaps a participant's).
                if !movementUnits.isEmpty, anchorAt == nil {
                    added.remove(LotKey(site: site, lot: lot))
                    resum.insert(LotKey(site: site, lot: lot))
                    continue
                }
                func micro(_ text: String) throws -> Int64 {
                    guard let value = LotAccountability.micro(decimal: text) else { throw ProjectionError.accountability(site: site, lot: lot, value: text) }
                    return value
                }
                lots[LotKey(site: site, lot: lot)] = LotAccountability(
                    siteID: site, lot: lot, movementUnits: Set(movementUnits.split(separator: ",").map(String.init)),
                    doseUnits: Set(doseUnits.split(separator: ",").map(String.init)), received: try micro(received),
                    dispensed: try micro(dispensed), administered: try micro(administered), returnedByParticipants: try micro(byParticipants),
                    returnedToSponsor: try micro(toSponsor), destroyed: try micro(destroyed), lost: try micro(lost),
                    signalAnchor: anchorAt.flatMap { at in anchorID.map { LotAccountability.SignalAnchor(at: at, eventID: $0, siteLevel: anchorSiteLevel ?? false) } })
            }
            for m in settled.movements where added.contains(LotKey(site: m.siteID, lot: m.lot)) {
                lots[LotKey(site: m.siteID, lot: m.lot)]?.add(m)
            }
            for dose in settled.doses where added.contains(dose.lot) { lots[dose.lot]?.add(doseOf: dose.amount, unit: dose.unit) }
        }
        if !resum.isEmpty {
            let keys = resum.sorted()
            let sitesOf = keys.map(\.site)
            let lotsOf = keys.map(\.lot)
            var summed: [LotKey: LotAccountability] = [:]
            for row in try db.query("""
                SELECT event_id::text, site_id, participant_id, lot, kind, quantity::float8, unit, occurred_at FROM unblinded.drug_movements
                WHERE (site_id, lot) IN (SELECT * FROM unnest(\(array: sitesOf)::text[], \(array: lotsOf)::text[]))
                """) {
                let (eventID, site, participant, lot, kind, quantity, unit, at)
                    = try row.decode((String, String, String?, String, String, Double, String, Timestamp).self)
                guard let kind = MovementKind(rawValue: kind), let unit = DoseUnit(rawValue: unit) else {
                    throw ProjectionError.accountability(site: site, lot: lot, value: "\(kind) \(unit)")
                }
                let key = LotKey(site: site, lot: lot)
                summed[key, default: LotAccountability(siteID: site, lot: lot)].add(DrugMovementRow(
                    eventID: eventID, siteID: site, participantID: participant, lot: lot, kind: kind,
                    quantity: Quantity(amount: quantity, unit: unit), occurredAt: at))
            }
            for row in try db.query("""
                SELECT site_id, lot, amount::float8, unit FROM unblinded.dose_products
                WHERE (site_id, lot) IN (SELECT * FROM unnest(\(array: sitesOf)::text[], \(array: lotsOf)::text[]))
                """) {
                let (site, lot, amount, unit) = try row.decode((String, String, Double, String).self)
                guard let unit = DoseUnit(rawValue: unit) else { throw ProjectionError.accountability(site: site, lot: lot, value: unit) }
                summed[LotKey(site: site, lot: lot), default: LotAccountability(siteID: site, lot: lot)].add(doseOf: amount, unit: unit)
            }
            for key in keys { lots[key] = summed[key] }  // a lot left with no rows goes
        }
        let touched = added.union(resum).sorted()
        try writeAccountability(lots, touched: touched, db)
        try judgeCustody(touched, scopes: custodyScopes(added: added, movements: settled.movements, doses: settled.doses), notify: notify, db)
    }

    private static func writeAccountability(_ lots: [LotKey: LotAccountability], touched: [LotKey], _ db: PostgresConnection) throws {
        // The lots' signals go with their rows: named after each lot's anchor as it was (it may be another now).
        try db.enqueue("""
            WITH gone AS (
                DELETE FROM unblinded.drug_accountability
                WHERE (site_id, lot) IN (SELECT * FROM unnest(\(array: touched.map(\.site))::text[], \(array: touched.map(\.lot))::text[]))
                RETURNING discrepancy_signal_id)
            DELETE FROM monitoring.safety_signals WHERE signal_id IN (SELECT discrepancy_signal_id FROM gone)
            """)
        let rows = touched.compactMap { lots[$0] }
        guard !rows.isEmpty else { return }
        let names = rows.map { $0.signalName(opaqueName: opaqueLotSignalName)?.id }
        try db.enqueue("""
            INSERT INTO unblinded.drug_accountability (site_id, lot, unit, received, dispensed, administered, returned_by_participants,
                returned_to_sponsor, destroyed, lost, balance, discrepancy, discrepancy_reason, movement_units, dose_units,
                signal_anchor_at, signal_anchor_event_id, signal_anchor_site_level, discrepancy_signal_id)
            SELECT s, l, u, r::numeric, d::numeric, a::numeric, rp::numeric, rs::numeric, x::numeric, lo::numeric, b::numeric, dr IS NOT NULL, dr,
                   string_to_array(mu, ','), string_to_array(du, ','), fa, fe, fs, sn
            FROM unnest(\(array: rows.map(\.siteID))::text[], \(array: rows.map(\.lot))::text[], \(array: rows.map(\.unit))::text[],
                        \(array: rows.map { LotAccountability.decimal($0.received) })::text[],
                        \(array: rows.map { LotAccountability.decimal($0.dispensed) })::text[],
                        \(array: rows.map { LotAccountability.decimal($0.administered) })::text[],
                        \(array: rows.map { LotAccountability.decimal($0.returnedByParticipants) })::text[],
                        \(array: rows.map { LotAccountability.decimal($0.returnedToSponsor) })::text[],
                        \(array: rows.map { LotAccountability.decimal($0.destroyed) })::text[],
                        \(array: rows.map { LotAccountability.decimal($0.lost) })::text[],
                        \(array: rows.map { LotAccountability.decimal($0.balance) })::text[], \(array: rows.map(\.discrepancy))::text[],
                        \(array: rows.map { $0.movementUnits.sorted().joined(separator: ",") })::text[],
                        \(array: rows.map { $0.doseUnits.sorted().joined(separator: ",") })::text[],
                        \(array: rows.map { $0.signalAnchor?.at.rfc3339 })::timestamptz[], \(array: rows.map { $0.signalAnchor?.eventID })::uuid[],
                        \(array: rows.map { $0.signalAnchor?.siteLevel })::bool[], \(array: names)::text[])
                AS x(s, l, u, r, d, a, rp, rs, x, lo, b, dr, mu, du, fa, fe, fs, sn)
            """)
        // Only an acknowledgement scoped to the lot's own site counts.
        let named = zip(rows, names).compactMap { lot, name in name.map { (lot: lot, id: $0) } }
        var acknowledgements: [SiteSignal: (by: String, at: Timestamp)] = [:]
        for row in try db.query("""
            SELECT a.site_id, a.signal_id, a.acknowledged_by, a.acknowledged_at FROM monitoring.site_acknowledgements a
            JOIN unnest(\(array: named.map(\.lot.siteID))::text[], \(array: named.map(\.id))::text[]) AS t(site_id, signal_id)
              ON a.site_id = t.site_id AND a.signal_id = t.signal_id
            """) {
            let (site, signal, by, at) = try row.decode((String, String, String, Timestamp).self)
            acknowledgements[SiteSignal(site: site, signal: signal)] = (by, at)
        }
        try ParticipantTables.insertSignals(named.compactMap { lot, id in
            lot.signal(acknowledgement: acknowledgements[SiteSignal(site: lot.siteID, signal: id)], opaqueName: opaqueLotSignalName)
        }, db)
    }

    /// The name of a lot's discrepancy signal when only participants' movements could anchor it: a UUID of the SHA-256
    /// of site, lot and anchor, so the name neither shows the movement (which would tie a participant to the lot) nor
    /// the lot, and is the same on every replay.
    static func opaqueLotSignalName(site: String, lot: String, anchor: LotAccountability.SignalAnchor) -> String {
        let hex = Array(EventDigest.contentHex(ofCanonicalContent: Array("accountability_discrepancy\u{0}\(site)\u{0}\(lot)\u{0}\(anchor.eventID)".utf8)))
        func part(_ range: Range<Int>) -> String { String(hex[range]) }
        return [part(0..<8), part(8..<12), part(12..<16), part(16..<20), part(20..<32)].joined(separator: "-")
    }

    /// What the sites' latest `site.activated` says; a site's time zone decides its calendar days (`judgeCustody`).
    private static func writeProfiles(_ profiles: [SiteProfileRow], of sites: [String], _ db: PostgresConnection) throws {
        try db.enqueue("DELETE FROM monitoring.site_profiles WHERE site_id = ANY(\(array: sites)::text[])")
        guard !profiles.isEmpty else { return }
        try db.enqueue("""
            INSERT INTO monitoring.site_profiles (site_id, site_name, country, principal_investigator, protocol_version, time_zone,
                                                  activated_event_id, activated_at)
            SELECT * FROM unnest(\(array: profiles.map(\.siteID))::text[], \(array: profiles.map(\.siteName))::text[],
                                 \(array: profiles.map(\.country))::text[], \(array: profiles.map(\.principalInvestigator))::text[],
                                 \(array: profiles.map(\.protocolVersion))::text[], \(array: profiles.map(\.timeZone))::text[],
                                 \(array: profiles.map(\.eventID))::uuid[], \(array: profiles.map(\.activatedAt.rfc3339))::timestamptz[])
            """)
    }

    /// The time zones of these sites that have one the database knows (`monitoring.site_profiles`).
    static func siteTimeZones(_ sites: [String], _ db: PostgresConnection) throws -> [String: SiteTimeZone] {
        var zones: [String: SiteTimeZone] = [:]
        for row in try db.query("""
            SELECT site_id, time_zone FROM monitoring.site_profiles WHERE site_id = ANY(\(array: sites)::text[]) AND time_zone IS NOT NULL
            """) {
            let (site, name) = try row.decode((String, String).self)
            zones[site] = SiteTimeZone.named(name)
        }
        return zones
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
        try db.enqueue("""
            INSERT INTO monitoring.site_activity AS s (site_id, last_event_recorded_at, events)
            SELECT * FROM unnest(\(array: sites)::text[], \(array: sites.map { latest[$0]!.0.rfc3339 })::timestamptz[],
                                 \(array: sites.map { latest[$0]!.1 })::bigint[])
            ON CONFLICT (site_id) DO UPDATE SET
                last_event_recorded_at = greatest(s.last_event_recorded_at, excluded.last_event_recorded_at),
                events = s.events + excluded.events
            """)
    }
}
