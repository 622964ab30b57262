import AuditChain
import Postgres
import TrialDomain

/// `audit.events` rows as COPY text: the one definition of the archive's row layout, for the projector's batches and
/// the benchmark's reference alike. A batch COPYs its rows (an `INSERT … SELECT FROM unnest(arrays)` cost PostgreSQL
/// 36 µs per event, and encoding the arrays was serial work inside the chain-head lock).
public enum ArchiveRows {
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

    /// Returns the rows copied.
    @discardableResult
    public static func copy(_ rows: PostgresCopyText, _ db: PostgresConnection) throws -> Int {
        try db.copyIn(unsafeSQL: copyEvents, data: rows.bytes)
    }
}
