import AuditChain
import Postgres

/// The row locks that serialise writers of the archive and the read models, and the ONE order they are taken in.
///
/// 1. `projection.checkpoints` rows, by (topic, partition) ascending: a batch locks its partitions' rows,
///    `projector rebuild` every row.
/// 2. `audit.chain_head` (one row): every writer of the archive or the read models holds it while it writes
///    (a batch, a deferred refresh, a recompute chunk, a rebuild). It is what makes a read model's rows the fold
///    of the archive as it stands: nobody archives an event while someone else computes rows without it.
/// 3. Only then the rows the work touches (read models, `projection.pending_refresh`, `monitoring.site_activity`).
///
/// A locker may skip a level (a deferred refresh starts at 2) but never goes back to an earlier one within a
/// transaction, and within a level takes rows in the stated order; so no two lockers can wait for each other in a
/// cycle. (A `projector rebuild` that locked the checkpoints in storage order, which drifts from partition order
/// with every update, deadlocked with projectors locking them by partition.) Lock through these functions only.
enum Locks {
    /// Level 1: the checkpoint rows of `partitions`, in partition order. Returns next offset per partition.
    static func checkpoints(topic: String, partitions: [Int32], _ db: PostgresConnection) throws -> [Int32: Int64] {
        let rows = try db.query("""
            SELECT partition, next_offset FROM projection.checkpoints
            WHERE topic = \(topic) AND partition = ANY(\(array: partitions)::integer[])
            ORDER BY partition FOR UPDATE
            """)
        return Dictionary(try rows.decode((Int32, Int64).self), uniquingKeysWith: { _, last in last })
    }

    /// Level 1, all of it: every checkpoint row of every topic, in (topic, partition) order. Pauses every projector.
    static func allCheckpoints(_ db: PostgresConnection) throws {
        try db.query("SELECT 1 FROM projection.checkpoints ORDER BY topic, partition FOR UPDATE")
    }

    /// Level 2: the end of the hash chain. Returns its sequence number and link.
    @discardableResult
    static func chainHead(_ db: PostgresConnection) throws -> (seq: Int64, link: [UInt8]) {
        let (seq, link) = try db.query("SELECT chain_seq, encode(chain_hash, 'hex') FROM audit.chain_head FOR UPDATE")
            .decodeFirst((Int64, String).self)
        return (seq, AuditChain.bytes(hex: link)!)
    }
}
