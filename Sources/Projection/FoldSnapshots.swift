import AuditChain
import Postgres
import TrialDomain
import TrialDomainPostgres

/// `projection.participant_folds`: each participant's `ParticipantFold.State` as of their archived events up to
/// `through_seq` (a chain_seq), so a batch adds a participant's new events to it instead of folding their whole
/// history again (issue: projection in proportion to new events); and `rows_seq`, the chain_seq their rows in the read
/// models were last written at.
///
/// Correct by construction, with any number of projectors and across restarts: every write of a participant's rows
/// sets `rows_seq`, in its transaction, under the chain-head lock every writer holds (see `Locks`). A saved state
/// stands for the rows only while `through_seq = rows_seq`; a projector that keeps the newer state in its
/// `FoldStateCache` may save it only every few batches (encoding states was most of a streaming batch's own CPU) and
/// uses it while `rows_seq` is still the one it wrote. Otherwise (its cache lost it, another projector or a restart
/// came between) the participant is folded from the archive, and their rows rewritten whole. Events archived after
/// the rows (a deferred catch-up) are exactly the participant's archived events above `rows_seq`. A snapshot of
/// another `ParticipantFold.codeVersion`, or one that does not decode, is ignored likewise.
enum FoldSnapshots {
    struct Snapshot {
        var throughSeq: Int64
        var state: ParticipantFold.State
    }

    /// The states that stand for these participants' rows: a state the `cache` holds at their `rows_seq`, else the
    /// saved one when it is as new as the rows. A participant with neither has no snapshot (folded from the archive).
    static func load(_ ids: [String], cache: FoldStateCache? = nil, _ db: PostgresConnection) throws -> [String: Snapshot] {
        guard !ids.isEmpty else { return [:] }
        var snapshots: [String: Snapshot] = [:]
        var toRead = ids
        if let cache {
            toRead = []
            for row in try db.query("""
                SELECT participant_id, through_seq, rows_seq FROM projection.participant_folds
                WHERE participant_id = ANY(\(array: ids)::text[]) AND code_version = \(ParticipantFold.codeVersion)
                """) {
                let (id, seq, rowsSeq) = try row.decode((String, Int64, Int64).self)
                if let state = cache.state(of: id, throughSeq: rowsSeq) {
                    snapshots[id] = Snapshot(throughSeq: rowsSeq, state: state)
                } else if seq == rowsSeq {
                    toRead.append(id)
                }
            }
        }
        guard !toRead.isEmpty else { return snapshots }
        for row in try db.query("""
            SELECT participant_id, through_seq, encode(state, 'hex') FROM projection.participant_folds
            WHERE participant_id = ANY(\(array: toRead)::text[]) AND code_version = \(ParticipantFold.codeVersion)
              AND through_seq = rows_seq
            """) {
            let (id, seq, hex) = try row.decode((String, Int64, String).self)
            guard let bytes = AuditChain.bytes(hex: hex), let state = try? ParticipantFold.State(compact: bytes) else { continue }
            snapshots[id] = Snapshot(throughSeq: seq, state: state)
        }
        return snapshots
    }

    /// Saves the states (one statement), all as of `throughSeq`, and marks their rows as written then; participants
    /// without a state lose their snapshot. For the `deferred` ones (whose saved state `states` advanced, kept newer in
    /// a cache) only the rows' mark moves: their saved state no longer stands for the rows until saved again.
    static func save(_ states: [String: ParticipantFold.State?], throughSeq: Int64, deferring deferred: Set<String> = [],
                     _ db: PostgresConnection) throws {
        if !deferred.isEmpty {
            try db.enqueue("""
                UPDATE projection.participant_folds SET rows_seq = \(throughSeq) WHERE participant_id = ANY(\(array: Array(deferred))::text[])
                """)
        }
        let kept = states.compactMap { id, state in state.map { (id, $0) } }.filter { !deferred.contains($0.0) }
        let ids = kept.map(\.0)
        // Encoding the states is most of a streaming batch's own CPU: spread over the cores.
        let texts = try ParallelMap.map(kept, minimumPerWorker: 4) { AuditChain.hex(try $0.1.compact()) }
        let gone = states.filter { $0.value == nil }.map(\.key)
        if !gone.isEmpty {
            try db.enqueue("DELETE FROM projection.participant_folds WHERE participant_id = ANY(\(array: gone)::text[])")
        }
        guard !ids.isEmpty else { return }
        try db.enqueue("""
            INSERT INTO projection.participant_folds AS f (participant_id, code_version, through_seq, rows_seq, state)
            SELECT id, \(ParticipantFold.codeVersion), \(throughSeq), \(throughSeq), decode(s, 'hex')
            FROM unnest(\(array: ids)::text[], \(array: texts)::text[]) AS x(id, s)
            ON CONFLICT (participant_id) DO UPDATE SET code_version = excluded.code_version, through_seq = excluded.through_seq,
                                                      rows_seq = excluded.rows_seq, state = excluded.state
            """)
    }
}

/// A projector's decoded fold states, newer than the saved ones for up to `saveEvery` batches: a batch neither reads
/// and decodes again the states this session wrote, nor encodes and saves every state it advances.
///
/// Correct by construction, whoever else writes: a state is used only when `projection.participant_folds` still marks
/// that participant's rows as written at the same chain_seq (`rows_seq`), and a state is a function of the
/// participant's archived events up to that chain_seq (the protocols among them), so any state at that chain_seq
/// stands for the same rows. One per database session (never shared across databases); bounded, least recently
/// stored dropped first (a dropped state not yet saved costs that participant one fold from the archive).
public final class FoldStateCache: @unchecked Sendable {
    // Used from the projector's thread only.
    private var states: [String: (throughSeq: Int64, state: ParticipantFold.State, stored: Int, unsaved: Int)] = [:]
    private var clock = 0
    /// The study's protocol history as the last batch decoded it, with the count and last chain_seq of the study-wide
    /// events it came from: the archive only grows, so while both are the same, so are the protocols.
    var protocols: (events: Int64, lastSeq: Int64, history: ProtocolHistory)?
    public let capacity: Int
    /// A participant's state is saved at least every this many batches that advance it (1: every batch).
    public let saveEvery: Int

    public init(capacity: Int = 10_000, saveEvery: Int = 8) {
        self.capacity = capacity
        self.saveEvery = max(1, saveEvery)
    }

    func state(of participantID: String, throughSeq: Int64) -> ParticipantFold.State? {
        guard let entry = states[participantID], entry.throughSeq == throughSeq else { return nil }
        return entry.state
    }

    /// Whether this participant's state, advanced from the one the cache holds, may go unsaved this batch.
    func maySkipSaving(_ participantID: String) -> Bool {
        guard let entry = states[participantID] else { return false }
        return entry.unsaved + 1 < saveEvery
    }

    /// Keeps the states written at `throughSeq`; `unsaved` ones were not saved (see `FoldSnapshots.save`).
    func store(_ fresh: [String: ParticipantFold.State?], throughSeq: Int64, unsaved: Set<String> = []) {
        guard capacity > 0 else { return }
        for (id, state) in fresh {
            clock += 1
            let count = unsaved.contains(id) ? (states[id]?.unsaved ?? 0) + 1 : 0
            states[id] = state.map { (throughSeq, $0, clock, count) }
        }
        guard states.count > capacity else { return }
        for (id, _) in states.sorted(by: { $0.value.stored < $1.value.stored }).prefix(states.count - capacity * 9 / 10) {
            states[id] = nil
        }
    }

    public func removeAll() {
        states.removeAll()
        protocols = nil
    }
}
