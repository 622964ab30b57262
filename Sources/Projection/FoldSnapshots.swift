import AuditChain
import Postgres
import TrialDomain
import TrialDomainPostgres

/// `projection.participant_folds`: each participant's `ParticipantFold.State` as of their archived events up to
/// `through_seq` (a chain_seq), so a batch adds a participant's new events to it instead of folding their whole
/// history again (issue: projection in proportion to new events).
///
/// Correct by construction, with any number of projectors and across restarts: a snapshot is written in the
/// transaction that writes the participant's rows from it, under the chain-head lock every writer holds (see
/// `Locks`), so the rows in the read models are always the rows of the snapshot. Events archived after it (a
/// deferred catch-up) are exactly the participant's archived events above `through_seq`. A snapshot of another
/// `ParticipantFold.codeVersion`, or one that does not decode, is ignored: the participant is folded from the archive.
enum FoldSnapshots {
    struct Snapshot {
        var throughSeq: Int64
        var state: ParticipantFold.State
    }

    /// The saved states of these participants. With a `cache`, a state it holds at the saved `through_seq` is taken
    /// from it instead of being read and decoded again.
    static func load(_ ids: [String], cache: FoldStateCache? = nil, _ db: PostgresConnection) throws -> [String: Snapshot] {
        guard !ids.isEmpty else { return [:] }
        var snapshots: [String: Snapshot] = [:]
        var toRead = ids
        if let cache {
            toRead = []
            for row in try db.query("""
                SELECT participant_id, through_seq FROM projection.participant_folds
                WHERE participant_id = ANY(\(array: ids)::text[]) AND code_version = \(ParticipantFold.codeVersion)
                """) {
                let (id, seq) = try row.decode((String, Int64).self)
                if let state = cache.state(of: id, throughSeq: seq) {
                    snapshots[id] = Snapshot(throughSeq: seq, state: state)
                } else {
                    toRead.append(id)
                }
            }
        }
        guard !toRead.isEmpty else { return snapshots }
        for row in try db.query("""
            SELECT participant_id, through_seq, encode(state, 'hex') FROM projection.participant_folds
            WHERE participant_id = ANY(\(array: toRead)::text[]) AND code_version = \(ParticipantFold.codeVersion)
            """) {
            let (id, seq, hex) = try row.decode((String, Int64, String).self)
            guard let bytes = AuditChain.bytes(hex: hex), let state = try? ParticipantFold.State(compact: bytes) else { continue }
            snapshots[id] = Snapshot(throughSeq: seq, state: state)
        }
        return snapshots
    }

    /// Saves the states (one statement), all as of `throughSeq`; participants without a state lose their snapshot.
    static func save(_ states: [String: ParticipantFold.State?], throughSeq: Int64, _ db: PostgresConnection) throws {
        let kept = states.compactMap { id, state in state.map { (id, $0) } }
        let ids = kept.map(\.0)
        // Encoding the states is most of a streaming batch's own CPU: spread over the cores.
        let texts = try ParallelMap.map(kept, minimumPerWorker: 4) { AuditChain.hex(try $0.1.compact()) }
        let gone = states.filter { $0.value == nil }.map(\.key)
        if !gone.isEmpty {
            try db.enqueue("DELETE FROM projection.participant_folds WHERE participant_id = ANY(\(array: gone)::text[])")
        }
        guard !ids.isEmpty else { return }
        try db.enqueue("""
            INSERT INTO projection.participant_folds AS f (participant_id, code_version, through_seq, state)
            SELECT id, \(ParticipantFold.codeVersion), \(throughSeq), decode(s, 'hex') FROM unnest(\(array: ids)::text[], \(array: texts)::text[]) AS x(id, s)
            ON CONFLICT (participant_id) DO UPDATE SET code_version = excluded.code_version, through_seq = excluded.through_seq,
                                                      state = excluded.state
            """)
    }
}

/// A projector's decoded fold states, so a batch need not read and decode again the states it saved itself.
///
/// Correct by construction, whoever else writes: a state is used only when `projection.participant_folds` still holds
/// that participant at the same `through_seq`, and a state is a function of the participant's archived events up to
/// that chain_seq (the protocols among them), so any state saved at that `through_seq` stands for the same rows.
/// One per database session (never shared across databases); bounded, least recently stored dropped first.
public final class FoldStateCache: @unchecked Sendable {
    // Used from the projector's thread only.
    private var states: [String: (throughSeq: Int64, state: ParticipantFold.State, stored: Int)] = [:]
    private var clock = 0
    public let capacity: Int

    public init(capacity: Int = 10_000) {
        self.capacity = capacity
    }

    func state(of participantID: String, throughSeq: Int64) -> ParticipantFold.State? {
        guard let entry = states[participantID], entry.throughSeq == throughSeq else { return nil }
        return entry.state
    }

    func store(_ fresh: [String: ParticipantFold.State?], throughSeq: Int64) {
        guard capacity > 0 else { return }
        for (id, state) in fresh {
            clock += 1
            states[id] = state.map { (throughSeq, $0, clock) }
        }
        guard states.count > capacity else { return }
        for (id, _) in states.sorted(by: { $0.value.stored < $1.value.stored }).prefix(states.count - capacity * 9 / 10) {
            states[id] = nil
        }
    }

    public func removeAll() { states.removeAll() }
}
