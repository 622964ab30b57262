import AuditChain
import Postgres
import TrialDomain

/// `audit.event_digests` (migration 0008): the content digest of every archived event, which ingest reads as
/// `trial_ingest` to refuse a reused event_id with other content. Written in the transaction that archives the event.
enum EventDigests {
    /// Events per statement when filling digests the archive lacks: bounds the envelopes held in memory at once.
    static let chunk = 5_000

    static func insert(_ events: [RecordedEvent], _ db: PostgresConnection) throws {
        guard !events.isEmpty else { return }
        try db.enqueue("""
            INSERT INTO audit.event_digests (event_id, content_sha256)
            SELECT e, decode(d, 'hex') FROM unnest(\(array: events.map { $0.eventID })::uuid[],
                                                   \(array: events.map(EventDigest.contentHex))::text[]) AS x(e, d)
            """)
    }

    /// Adds the digests of events archived before migration 0008 (audit.events itself stays untouched). Returns how many.
    @discardableResult
    static func fillMissing(_ db: PostgresConnection) throws -> Int {
        var filled = 0
        while true {
            let rows = try db.query("""
                SELECT e.envelope FROM audit.events e
                WHERE NOT EXISTS (SELECT 1 FROM audit.event_digests d WHERE d.event_id = e.event_id)
                ORDER BY e.archive_seq LIMIT \(chunk)
                """)
            guard !rows.isEmpty else { return filled }
            let events = try MonitoringWriter.decode(rows)
            try insert(events, db)
            filled += events.count
        }
    }
}
