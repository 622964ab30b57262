import Postgres
import TrialDomain

/// Decoded archive histories of recently touched participants, with the rows last written for them, so a batch
/// recomputes a participant from memory instead of reloading and re-validating its whole history from
/// `audit.events`, and writes only the rows that changed (the dominant costs at a steady trickle of events).
///
/// Correct by construction, with any number of projectors: each entry carries the participant's version
/// (`projection.participant_versions`) it was computed at, and is used only while the participant still has that
/// version, read in the same transaction that uses it. Any projector that archives an event of the participant or
/// rewrites their rows bumps the version, so an entry another projector made stale is never used. Filled only
/// after a transaction commits; bounded by `maxEvents` (least recently used participants are dropped first).
public final class ParticipantHistoryCache {
    public let maxEvents: Int
    struct Entry {
        var events: [RecordedEvent]
        /// What the read models hold for the participant, as of `events`.
        var rows: ParticipantRows
        /// The participant's version when `rows` were written (see `ParticipantVersions`).
        var version: Int64
    }

    private var histories: [String: (entry: Entry, lastUse: Int)] = [:]
    private var eventCount = 0
    private var clock = 0

    public init(maxEvents: Int) {
        self.maxEvents = maxEvents
    }

    public var participants: Int { histories.count }

    /// The entry for the participant, if it was computed at `version` (their version now); a stale one is dropped.
    func entry(of participantID: String, atVersion version: Int64?) -> Entry? {
        guard let found = histories[participantID] else { return nil }
        guard found.entry.version == version else {
            forget([participantID])
            return nil
        }
        clock += 1
        histories[participantID]?.lastUse = clock
        return found.entry
    }

    /// Keeps the histories a committed transaction computed.
    func store(_ fresh: [String: Entry]) {
        guard maxEvents > 0 else { return }
        for (id, entry) in fresh {
            clock += 1
            eventCount += entry.events.count - (histories[id]?.entry.events.count ?? 0)
            histories[id] = (entry, clock)
        }
        guard eventCount > maxEvents else { return }
        // Drop the least recently used until a tenth of the room is free again.
        for (id, entry) in histories.sorted(by: { $0.value.lastUse < $1.value.lastUse }) {
            guard eventCount > maxEvents * 9 / 10 else { break }
            histories[id] = nil
            eventCount -= entry.entry.events.count
        }
    }

    func forget<S: Sequence<String>>(_ participantIDs: S) {
        for id in participantIDs {
            if let found = histories.removeValue(forKey: id) { eventCount -= found.entry.events.count }
        }
    }

    public func removeAll() {
        histories.removeAll()
        eventCount = 0
    }
}

/// Where a refresh gets participants' histories: the cache plus the batch's new events, or the archive.
struct HistorySource {
    var cache: ParticipantHistoryCache?
    /// This transaction's newly archived events by participant (the cached histories predate them).
    var newEvents: [String: [RecordedEvent]] = [:]
    /// Histories and rows computed in this transaction, for the cache once it commits (at most its room).
    var computed: [String: ParticipantHistoryCache.Entry] = [:]
    var computedEvents = 0
}

/// `projection.participant_versions`: bumped (from one sequence, never reusing a value) in every transaction that
/// archives a participant's event or rewrites their rows. Writers serialise on the chain head, so a version read
/// inside a batch's transaction stays current until it commits.
enum ParticipantVersions {
    static func current(_ ids: [String], _ db: PostgresConnection) throws -> [String: Int64] {
        guard !ids.isEmpty else { return [:] }
        var versions: [String: Int64] = [:]
        for row in try db.query("""
            SELECT participant_id, version FROM projection.participant_versions WHERE participant_id = ANY(\(array: ids)::text[])
            """) {
            versions[row[0]!] = Int64(row[1]!)!
        }
        return versions
    }

    /// Gives each participant a new version; returns them.
    @discardableResult
    static func bump(_ ids: [String], _ db: PostgresConnection) throws -> [String: Int64] {
        guard !ids.isEmpty else { return [:] }
        var versions: [String: Int64] = [:]
        for row in try db.query("""
            INSERT INTO projection.participant_versions AS v (participant_id, version)
            SELECT id, nextval('projection.participant_version_seq') FROM unnest(\(array: ids.sorted())::text[]) AS id
            ON CONFLICT (participant_id) DO UPDATE SET version = excluded.version
            RETURNING participant_id, version
            """) {
            versions[row[0]!] = Int64(row[1]!)!
        }
        return versions
    }
}

/// The rows of one participant that differ from what the read models hold: rows to (re)insert, and the keys of
/// rows to delete first (changed or gone), per table.
struct RowChanges {
    var upserts = ParticipantRows()
    var deletions: [String: [String]] = [:]

    init(participantID: String, from old: ParticipantRows, to new: ParticipantRows) {
        func diff<R: Equatable>(_ table: String, _ before: [R], _ after: [R], key: (R) -> String) -> [R] {
            let previous = Dictionary(before.map { (key($0), $0) }, uniquingKeysWith: { a, _ in a })
            var changed: [R] = []
            for row in after where previous[key(row)] != row {
                changed.append(row)
                if previous[key(row)] != nil { deletions[table, default: []].append(key(row)) }
            }
            let kept = Set(after.map(key))
            deletions[table, default: []] += previous.keys.filter { !kept.contains($0) }
            return changed
        }
        upserts.doses = diff("doses", old.doses, new.doses, key: \.eventID)
        upserts.assessments = diff("assessments", old.assessments, new.assessments, key: \.eventID)
        upserts.vitals = diff("vitals", old.vitals, new.vitals, key: \.eventID)
        upserts.adverseEvents = diff("adverse_events", old.adverseEvents, new.adverseEvents, key: \.eventID)
        upserts.deviations = diff("deviations", old.deviations, new.deviations, key: \.eventID)
        upserts.movements = diff("drug_movements", old.movements, new.movements, key: \.eventID)
        upserts.signals = diff("safety_signals", old.signals, new.signals, key: \.signalID)
        upserts.corrections = diff("corrections", old.corrections, new.corrections, key: \.eventID)
        if old.summary != new.summary {
            upserts.summary = new.summary
            if old.summary != nil { deletions["participants", default: []].append(participantID) }
        }
        if old.allocation != new.allocation {
            upserts.allocation = new.allocation
            if old.allocation != nil { deletions["allocations", default: []].append(participantID) }
        }
    }
}
