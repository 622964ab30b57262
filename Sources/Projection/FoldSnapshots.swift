import Foundation
import Postgres
import TrialDomain

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

    static func load(_ ids: [String], _ db: PostgresConnection) throws -> [String: Snapshot] {
        guard !ids.isEmpty else { return [:] }
        let decoder = JSONDecoder()
        var snapshots: [String: Snapshot] = [:]
        for row in try db.query("""
            SELECT participant_id, through_seq, state FROM projection.participant_folds
            WHERE participant_id = ANY(\(array: ids)::text[]) AND code_version = \(ParticipantFold.codeVersion)
            """) {
            guard let id = row[0], let seq = row[1].flatMap({ Int64($0) }), let text = row[2],
                  let state = try? decoder.decode(ParticipantFold.State.self, from: Data(text.utf8)) else { continue }
            snapshots[id] = Snapshot(throughSeq: seq, state: state)
        }
        return snapshots
    }

    /// Saves the states (one statement), all as of `throughSeq`; participants without a state lose their snapshot.
    static func save(_ states: [String: ParticipantFold.State?], throughSeq: Int64, _ db: PostgresConnection) throws {
        let encoder = JSONEncoder()
        var ids: [String] = []
        var texts: [String] = []
        for (id, state) in states {
            guard let state else { continue }
            ids.append(id)
            texts.append(String(decoding: try encoder.encode(state), as: UTF8.self))
        }
        let gone = states.filter { $0.value == nil }.map(\.key)
        if !gone.isEmpty {
            try db.query("DELETE FROM projection.participant_folds WHERE participant_id = ANY(\(array: gone)::text[])")
        }
        guard !ids.isEmpty else { return }
        try db.query("""
            INSERT INTO projection.participant_folds AS f (participant_id, code_version, through_seq, state)
            SELECT id, \(ParticipantFold.codeVersion), \(throughSeq), s FROM unnest(\(array: ids)::text[], \(array: texts)::text[]) AS x(id, s)
            ON CONFLICT (participant_id) DO UPDATE SET code_version = excluded.code_version, through_seq = excluded.through_seq,
                                                      state = excluded.state
            """)
    }
}
