import AuditChain
import Kafka
import Logging
import Postgres
import Synchronization
import TrialDomain

/// What one applied batch did.
public struct BatchOutcome: Sendable, Equatable {
    /// Records whose offsets were applied (archived, deduplicated or rejected).
    public var records = 0
    /// Events archived and projected for the first time.
    public var archived = 0
    /// Repeats of an archived event_id with the same content (client retries): applied once.
    public var duplicates = 0
    /// Repeats of an archived event_id with different content: kept in audit.rejected, not applied.
    public var rejected = 0
    /// Records below the checkpoint (already applied by an earlier batch): skipped.
    public var stale = 0
    /// Whether the read-model refresh was deferred to a later batch.
    public var deferred = false
    /// The hash chain's length (`chain_seq` of its head) after the batch, when it archived anything.
    public var chainSeq: Int64?
    /// Next offset per partition after the batch.
    public var nextOffsets: [Int32: Int64] = [:]
    /// `recorded_at` of each event archived for the first time, for `projector_freshness_seconds`.
    public var archivedRecordedAt: [Timestamp] = []
    /// Participant signals the batch opened (open after it, not before), by rule and severity.
    public var signalsOpened: [OpenedSignalTally.Key: Int] = [:]
}

/// The participant signals that opened in one transaction (a batch, or a refresh of deferred read models), by rule
/// and severity: open after it, not open before it. Made afresh for each attempt of a transaction, and read only once
/// it committed, so a rolled-back attempt counts nothing. A full recompute (after a migration) and `projector rebuild`
/// open nothing new, by the same definition as the `critical_signals` announcements.
public final class OpenedSignalTally: Sendable {
    public struct Key: Hashable, Sendable {
        public var rule: String
        public var severity: String
    }

    private let tally = Mutex<[Key: Int]>([:])

    public init() {}

    func add(rule: String, severity: String) {
        tally.withLock { $0[Key(rule: rule, severity: severity), default: 0] += 1 }
    }

    public var counts: [Key: Int] { tally.withLock { $0 } }

    /// `body`, with the signals it opens tallied.
    static func counting<T>(_ body: () throws -> T) throws -> (T, [Key: Int]) {
        let tally = OpenedSignalTally()
        let result = try MonitoringWriter.$openedSignals.withValue(tally) { try body() }
        return (result, tally.counts)
    }
}

/// Applies a batch of log records to PostgreSQL in ONE transaction: archive, read models and checkpoints.
/// Either all of it is committed or none of it, so a crash at any point neither loses nor doubles events.
public struct BatchWriter: Sendable {
    public var topic: String
    let decoder: StoredEventDecoder

    public init(topic: String, validator: EventValidator = EventValidator()) {
        self.topic = topic
        decoder = StoredEventDecoder(validator: validator)
    }

    /// With `deferReadModels` (the projector is catching up on a backlog) the batch is archived and the read
    /// models it affects are only marked for refresh; a later batch without it refreshes them all at once.
    ///
    /// With a `cache`, fold states this session saved are not read and decoded again (see `FoldStateCache`).
    public func apply(_ records: [KafkaRecord], to db: PostgresConnection, deferReadModels: Bool = false,
                      cache: FoldStateCache? = nil) throws -> BatchOutcome {
        try apply(decode(records), to: db, deferReadModels: deferReadModels, cache: cache)
    }

    /// Decodes the records and puts them in their archived form: pure work, on every core, done before the batch's
    /// transaction so that the locks it takes are held for its writes only (and, for a backlog, while the batch
    /// before is applied: see `Projector`).
    public func decode(_ records: [KafkaRecord]) -> DecodedBatch {
        // A batch too small to be copied (see `ArchiveRows`) has no COPY text made.
        let copyable = records.count >= ArchiveRows.copyFrom
        return DecodedBatch(records: records, forms: ParallelMap.map(records) { [decoder, topic] record in
            decoder.decode(record.value).map { ArchiveForm($0, record: record, topic: topic, copyable: copyable) }
        })
    }

    public func apply(_ batch: DecodedBatch, to db: PostgresConnection, deferReadModels: Bool = false,
                      cache: FoldStateCache? = nil) throws -> BatchOutcome {
        var (outcome, opened) = try OpenedSignalTally.counting {
            try db.transaction { db in
                try applyInTransaction(batch.records, decoded: batch.forms, deferReadModels: deferReadModels, cache: cache, db)
            }
        }
        outcome.signalsOpened = opened
        return outcome
    }

    /// Refreshes whatever earlier batches deferred. Returns the signals that opened (nil when there was nothing).
    @discardableResult
    public func refreshDeferred(_ db: PostgresConnection, cache: FoldStateCache? = nil) throws -> [OpenedSignalTally.Key: Int]? {
        let (refreshed, opened) = try OpenedSignalTally.counting {
            try db.transaction { db in
                // The chain head serialises every writer of the archive and the read models, as for a batch (see Locks).
                try Locks.chainHead(db)
                guard try MonitoringWriter.hasDeferred(db) else { return false }
                try MonitoringWriter.refresh(after: [], db, cache: cache)
                return true
            }
        }
        return refreshed ? opened : nil
    }

    /// `decoded[i]` is `records[i]` decoded (a failure matters only for a record not applied before).
    private func applyInTransaction(_ records: [KafkaRecord], decoded: [Result<ArchiveForm, StoredEventDecoder.Failure>],
                                    deferReadModels: Bool, cache: FoldStateCache?, _ db: PostgresConnection) throws -> BatchOutcome {
        var outcome = BatchOutcome()
        let byPartition = Dictionary(grouping: records.indices, by: { records[$0].partition })
        let partitions = byPartition.keys.sorted()
        let checkpoints = try lockCheckpoints(partitions, db)

        // Keep only records at or after each checkpoint, and insist they continue it without a gap.
        var fresh: [Int] = []
        for partition in partitions {
            var expected = checkpoints[partition] ?? 0
            for index in byPartition[partition]!.sorted(by: { records[$0].offset < records[$1].offset }) {
                let record = records[index]
                if record.offset < expected {
                    outcome.stale += 1
                    continue
                }
                guard record.offset == expected else {
                    throw ProjectionError.gap(partition: partition, expected: expected, got: record.offset)
                }
                fresh.append(index)
                expected += 1
            }
            if expected != checkpoints[partition] { outcome.nextOffsets[partition] = expected }
        }
        outcome.records = fresh.count
        guard !fresh.isEmpty else { return outcome }
        outcome.deferred = deferReadModels

        let archive = try archiveNew(try fresh.map { index in (records[index], try form(of: records[index], decoded[index])) }, db)
        outcome.archived = archive.new.count
        outcome.duplicates = archive.duplicates
        outcome.rejected = archive.rejected.count
        outcome.chainSeq = archive.chainSeq
        outcome.archivedRecordedAt = archive.new.map(\.recordedAt)

        if deferReadModels {
            try MonitoringWriter.deferRefresh(after: archive.new, db)
        } else {
            try MonitoringWriter.refresh(after: archive.new, db, cache: cache)
        }
        if !archive.rejected.isEmpty {
            // After the participants' refresh, which rewrites their signals from the fold.
            try MonitoringWriter.refreshReusedEventIDSignals(archive.rejected, db)
        }
        try saveCheckpoints(outcome.nextOffsets, db)
        return outcome
    }

    private func form(of record: KafkaRecord, _ decoded: Result<ArchiveForm, StoredEventDecoder.Failure>) throws -> ArchiveForm {
        switch decoded {
        case .success(let event): return event
        case .failure(let failure):
            throw ProjectionError.undecodable(partition: record.partition, offset: record.offset, reason: failure.description)
        }
    }

    /// Creates missing checkpoint rows at 0, then locks the batch's rows (in partition order, see Locks) so that a
    /// second projector holding the same partitions (during a rebalance) waits here and then sees our progress.
    private func lockCheckpoints(_ partitions: [Int32], _ db: PostgresConnection) throws -> [Int32: Int64] {
        try db.enqueue("""
            INSERT INTO projection.checkpoints (topic, partition, next_offset)
            SELECT \(topic), p, 0 FROM unnest(\(array: partitions)::integer[]) AS p
            ON CONFLICT DO NOTHING
            """)
        return try Locks.checkpoints(topic: topic, partitions: partitions, db)
    }

    private func saveCheckpoints(_ next: [Int32: Int64], _ db: PostgresConnection) throws {
        guard !next.isEmpty else { return }
        let partitions = next.keys.sorted()
        try db.enqueue("""
            UPDATE projection.checkpoints c SET next_offset = n.next_offset
            FROM unnest(\(array: partitions)::integer[], \(array: partitions.map { next[$0]! })::bigint[]) AS n(partition, next_offset)
            WHERE c.topic = \(topic) AND c.partition = n.partition
            """)
    }

    /// Inserts events not yet archived; returns them, counts repeats of archived event_ids, and names those refused.
    private func archiveNew(_ decoded: [(KafkaRecord, ArchiveForm)], _ db: PostgresConnection) throws
        -> (new: [RecordedEvent], duplicates: Int, rejected: [String], chainSeq: Int64?)
    {
        // First occurrence of each event_id in this batch is the candidate; later ones are repeats of it.
        var firstInBatch: [String: RecordedEvent] = [:]
        var candidates: [(KafkaRecord, ArchiveForm)] = []
        var repeats: [(KafkaRecord, RecordedEvent)] = []
        for (record, form) in decoded {
            if firstInBatch[form.event.eventID] == nil {
                firstInBatch[form.event.eventID] = form.event
                candidates.append((record, form))
            } else {
                repeats.append((record, form.event))
            }
        }
        // Lock the end of the hash chain first (after the checkpoints: see Locks): projectors append one batch at a time.
        var (seq, link) = try Locks.chainHead(db)
        let archivedBefore = Set(try db.query("""
            SELECT event_id::text FROM audit.events WHERE event_id = ANY(\(array: candidates.map { $0.1.event.eventID })::uuid[])
            """).decode(String.self))
        let fresh = candidates.filter { !archivedBefore.contains($0.1.event.eventID) }
        var chained: [(record: KafkaRecord, form: ArchiveForm, chainSeq: Int64, chainHash: [UInt8])] = []
        chained.reserveCapacity(fresh.count)
        for (record, form) in fresh {
            seq += 1
            link = AuditChain.link(previous: link, envelope: record.value)
            chained.append((record, form, seq, link))
        }
        let events = fresh.map(\.1.event)
        if !fresh.isEmpty {
            if fresh.count >= ArchiveRows.copyFrom {
                var rows = PostgresCopyText(reservingCapacity: fresh.reduce(0) { $0 + $1.1.canonicalData.count + $1.0.value.count + 400 })
                for row in chained {
                    let columns = row.form.archiveColumns
                        ?? ArchiveForm.copyColumns(row.form.event, row.form.canonicalData, row.record, topic: topic)
                    ArchiveRows.appendRow(columns, chainSeq: row.chainSeq, chainHash: row.chainHash, to: &rows)
                }
                try ArchiveRows.copy(rows, db)
            } else {
                try ArchiveRows.insert(chained, topic: topic, db)
            }
            try db.enqueue("UPDATE audit.chain_head SET chain_seq = \(seq), chain_hash = decode(\(AuditChain.hex(link)), 'hex')")
            // Same transaction: ingest never sees an archived event without its digest.
            try EventDigests.insert(eventIDs: events.map(\.eventID), contentHex: fresh.map(\.1.contentHex), db)
        }
        let inserted = Set(events.map { $0.eventID })
        let new = events.filter { inserted.contains($0.eventID) }
        repeats += candidates.filter { !inserted.contains($0.1.event.eventID) }.map { ($0.0, $0.1.event) }
        guard !repeats.isEmpty else { return (new, 0, [], fresh.isEmpty ? nil : seq) }

        // Compare each repeat with the archived original: same content is a retry, different content is refused.
        let archived = try db.query("""
            SELECT event_id::text, envelope FROM audit.events WHERE event_id = ANY(\(array: repeats.map(\.1.eventID))::uuid[])
            """)
        var originals = firstInBatch
        for (eventID, envelope) in try archived.decode((String, String).self) {
            if case .success(let e) = decoder.decode(envelope) { originals[eventID] = e }
        }
        var duplicates = 0
        var rejections: [(KafkaRecord, RecordedEvent, String)] = []
        for (record, event) in repeats {
            if let original = originals[event.eventID], let difference = Self.contentDifference(original, event) {
                rejections.append((record, event, "event_id \(event.eventID) was already recorded with a different \(difference)"))
            } else {
                duplicates += 1
            }
        }
        if !rejections.isEmpty {
            try db.enqueue("""
                INSERT INTO audit.rejected (kafka_topic, kafka_partition, kafka_offset, event_id, reason, envelope)
                SELECT \(topic), p, o, e, r, env
                FROM unnest(\(array: rejections.map(\.0.partition))::integer[], \(array: rejections.map(\.0.offset))::bigint[],
                            \(array: rejections.map(\.1.eventID))::uuid[], \(array: rejections.map(\.2))::text[],
                            \(array: rejections.map { String(decoding: $0.0.value, as: UTF8.self) })::text[]) AS x(p, o, e, r, env)
                ON CONFLICT DO NOTHING
                """)
        }
        return (new, duplicates, rejections.map(\.1.eventID), fresh.isEmpty ? nil : seq)
    }

    /// The first client-supplied field in which two events with one event_id differ, or nil when they agree.
    /// `recorded_at` is the server's and may differ between a request and its retry.
    static func contentDifference(_ a: RecordedEvent, _ b: RecordedEvent) -> String? {
        if a.type != b.type { return "type" }
        if a.schemaVersion != b.schemaVersion { return "schema_version" }
        if a.studyID != b.studyID { return "study_id" }
        if a.siteID != b.siteID { return "site_id" }
        if a.participantID != b.participantID { return "participant_id" }
        if a.occurredAt != b.occurredAt { return "occurred_at" }
        if a.data != b.data { return "data" }
        return nil
    }
}

/// An event in the form the archive stores it, computed before the batch's transaction (pure work, in parallel).
struct ArchiveForm: Sendable {
    let event: RecordedEvent
    /// `data` as canonical JSON (the archive's `data` column).
    let canonicalData: [UInt8]
    /// `EventDigest.contentHex` (`audit.event_digests`).
    let contentHex: String
    /// Its `audit.events` row up to `chain_seq`, for COPY (see `ArchiveRows`); made beforehand only in a batch large
    /// enough to be copied.
    let archiveColumns: PostgresCopyText?

    init(_ event: RecordedEvent, record: KafkaRecord, topic: String, copyable: Bool) {
        self.event = event
        canonicalData = CanonicalJSON.encode(event.data)
        contentHex = EventDigest.contentHex(of: event, canonicalData: canonicalData)
        archiveColumns = copyable ? Self.copyColumns(event, canonicalData, record, topic: topic) : nil
    }

    static func copyColumns(_ event: RecordedEvent, _ canonicalData: [UInt8], _ record: KafkaRecord,
                            topic: String) -> PostgresCopyText {
        ArchiveRows.leadingColumns(of: event, canonicalData: canonicalData, envelope: record.value,
                                   topic: topic, partition: record.partition, offset: record.offset)
    }
}

/// Records and what decoding each gave (`BatchWriter.decode`); a failure matters only for a record not applied before.
public struct DecodedBatch: Sendable {
    public let records: [KafkaRecord]
    let forms: [Result<ArchiveForm, StoredEventDecoder.Failure>]
}
