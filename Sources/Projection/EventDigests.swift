import AuditChain
import Postgres
import TrialDomain

/// `audit.event_digests` (migration 0008): the content digest of every archived event, which ingest reads as
/// `trial_ingest` to refuse a reused event_id with other content. Written in the transaction that archives the event.
public enum EventDigests {
    /// Events per statement when filling digests the archive lacks: bounds the envelopes held in memory at once.
    static let chunk = 5_000

    /// Stores each event's content digest (`EventDigest.contentHex`), given by event_id: by COPY or in the pipeline,
    /// as the archive rows they go with (see `ArchiveRows`).
    public static func insert(eventIDs: [String], contentHex: [String], _ db: PostgresConnection) throws {
        guard !eventIDs.isEmpty else { return }
        guard eventIDs.count >= ArchiveRows.copyFrom else {
            try db.enqueue("""
                INSERT INTO audit.event_digests (event_id, content_sha256)
                SELECT e, decode(d, 'hex') FROM unnest(\(array: eventIDs)::uuid[], \(array: contentHex)::text[]) AS x(e, d)
                """)
            return
        }
        var rows = PostgresCopyText(reservingCapacity: eventIDs.count * 110)
        for (eventID, hex) in zip(eventIDs, contentHex) {
            rows.append(eventID)
            rows.append(byteaHex: hex)
            rows.endRow()
        }
        try db.copyIn(unsafeSQL: "COPY audit.event_digests (event_id, content_sha256) FROM STDIN", data: rows.bytes)
    }

    /// Adds the digests of events archived before migration 0008 (audit.events itself stays untouched). Returns how many.
    /// Walks the archive once, in `archive_seq` order: each statement starts where the one before stopped (starting
    /// from the beginning every time made a million-event archive take minutes, each statement scanning every
    /// event already filled).
    @discardableResult
    static func fillMissing(_ db: PostgresConnection, chunk: Int = chunk) throws -> Int {
        var filled = 0
        var after: Int64 = 0
        while true {
            let rows = try db.query("""
                SELECT e.archive_seq, e.envelope FROM audit.events e
                WHERE e.archive_seq > \(after)
                  AND NOT EXISTS (SELECT 1 FROM audit.event_digests d WHERE d.event_id = e.event_id)
                ORDER BY e.archive_seq LIMIT \(chunk)
                """)
            guard let last = rows.last else { return filled }
            after = try last.decode(Int64.self, at: 0)
            let events = try MonitoringWriter.decode(rows, envelopeAt: 1)
            try insert(eventIDs: events.map(\.eventID), contentHex: ParallelMap.map(events) { EventDigest.contentHex(of: $0) }, db)
            filled += events.count
        }
    }
}
