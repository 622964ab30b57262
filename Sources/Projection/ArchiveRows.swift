import AuditChain
import Kafka
import Postgres
import TrialDomain

/// `audit.events` rows: the one definition of the archive's row layout, for the projector's batches and the
/// benchmark's reference alike.
///
/// A large batch (a backlog) COPYs its rows: an `INSERT … SELECT FROM unnest(arrays)` cost PostgreSQL 36 µs per event,
/// and encoding the arrays was serial work inside the chain-head lock. A small batch (a few events, as at a steady
/// 1,000 events/s) INSERTs them in the transaction's pipeline: COPY cannot be pipelined, and its two round trips and
/// set-up (0.6 ms a statement, measured) cost more than a handful of rows.
public enum ArchiveRows {
    /// New events from which a batch COPYs its archive rows (and their digests).
    public static let copyFrom = 200

    static let copyEvents = """
        COPY audit.events (event_id, kafka_topic, kafka_partition, kafka_offset, type, schema_version, study_id, site_id,
            participant_id, occurred_at, recorded_at, recorded_by, data, envelope, chain_seq, chain_hash) FROM STDIN
        """

    /// Every column of an event's row before `chain_seq`: pure work, done in parallel before the batch's transaction.
    public static func leadingColumns(of event: RecordedEvent, canonicalData: [UInt8], envelope: [UInt8],
                                      topic: String, partition: Int32, offset: Int64) -> PostgresCopyText {
        var row = PostgresCopyText(reservingCapacity: canonicalData.count + envelope.count + 256)
        row.append(event.eventID)
        row.append(topic)
        row.append(partition)
        row.append(offset)
        row.append(event.type.rawValue)
        row.append(event.schemaVersion)
        row.append(event.studyID)
        row.append(event.siteID)
        row.append(event.participantID)
        row.append(event.occurredAt.rfc3339)
        row.append(event.recordedAt.rfc3339)
        row.append(event.recordedBy)
        row.append(utf8: canonicalData)
        row.append(utf8: envelope)
        return row
    }

    /// Completes a row with its place in the hash chain.
    public static func appendRow(_ leading: PostgresCopyText, chainSeq: Int64, chainHash: [UInt8], to rows: inout PostgresCopyText) {
        rows.append(columns: leading)
        rows.append(chainSeq)
        rows.append(byteaHex: AuditChain.hex(chainHash))
        rows.endRow()
    }

    /// The rows of a small batch, as one pipelined statement (see the type's comment): the same columns as `copy`.
    static func insert(_ rows: [(record: KafkaRecord, form: ArchiveForm, chainSeq: Int64, chainHash: [UInt8])], topic: String,
                       _ db: PostgresConnection) throws {
        let events = rows.map(\.form.event)
        try db.enqueue("""
            INSERT INTO audit.events (event_id, kafka_topic, kafka_partition, kafka_offset, type, schema_version,
                study_id, site_id, participant_id, occurred_at, recorded_at, recorded_by, data, envelope, chain_seq, chain_hash)
            SELECT e, \(topic), p, o, t, v, s, si, pa, oc::timestamptz, ra::timestamptz, rb, d::jsonb, env, cs, decode(ch, 'hex')
            FROM unnest(\(array: events.map { $0.eventID })::uuid[], \(array: rows.map(\.record.partition))::integer[],
                        \(array: rows.map(\.record.offset))::bigint[], \(array: events.map { $0.type.rawValue })::text[],
                        \(array: events.map { $0.schemaVersion })::integer[], \(array: events.map { $0.studyID })::text[],
                        \(array: events.map { $0.siteID })::text[], \(array: events.map { $0.participantID })::text[],
                        \(array: events.map { $0.occurredAt.rfc3339 })::text[], \(array: events.map { $0.recordedAt.rfc3339 })::text[],
                        \(array: events.map { $0.recordedBy })::text[],
                        \(array: rows.map { String(decoding: $0.form.canonicalData, as: UTF8.self) })::text[],
                        \(array: rows.map { String(decoding: $0.record.value, as: UTF8.self) })::text[],
                        \(array: rows.map(\.chainSeq))::bigint[], \(array: rows.map { AuditChain.hex($0.chainHash) })::text[])
                AS x(e, p, o, t, v, s, si, pa, oc, ra, rb, d, env, cs, ch)
            ORDER BY cs
            """)
    }

    /// Returns the rows copied.
    @discardableResult
    public static func copy(_ rows: PostgresCopyText, _ db: PostgresConnection) throws -> Int {
        try db.copyIn(unsafeSQL: copyEvents, data: rows.bytes)
    }
}
