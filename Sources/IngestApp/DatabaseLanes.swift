import Dispatch
import Logging
import Postgres
import ServiceRuntime
import Synchronization
import TrialDomain
import TrialDomainPostgres

/// A few read-only connections to PostgreSQL as one role, for ingest: the archive's content digests and query
/// references (as `trial_ingest`), and the site read API (as `trial_site`).
///
/// libpq blocks, so no call ever runs on Swift's cooperative pool: each read runs on one of a few serial dispatch
/// queues ("lanes"), each owning at most one connection. Every read is bounded: a short connect timeout, a statement
/// timeout, a limit on the time spent waiting for a lane, and a pause before reconnecting after a failure. When
/// PostgreSQL cannot answer in time the answer is a failure the caller decides about (the digest check accepts as
/// without it; the site API answers 503). A warning is logged once per outage, not once per request.
public final class DatabaseLanes: Sendable {
    /// Connections to PostgreSQL at most.
    public static let lanes = 2
    /// Statement timeout, and the longest a request waits for a lane before giving up, unless the caller says otherwise.
    public static let defaultTimeoutMilliseconds = 1_000
    /// libpq's `connect_timeout` (whole seconds; 2 is its smallest useful value).
    public static let connectTimeoutSeconds = 2
    /// After a failure, a lane does not try to connect again for this long: an outage costs no request a timeout.
    public static let pauseAfterFailureMilliseconds = 1_000

    private let url: String
    private let role: DatabaseRole
    private let timeoutMilliseconds: Int
    /// What the outage warning says ingest does meanwhile.
    private let meanwhile: String
    private let logger: Logger
    private let lanes: [Lane]
    private let nextLane = Atomic<Int>(0)
    private let inOutage = Atomic<Bool>(false)

    /// - Parameter timeoutMilliseconds: Statement timeout and longest wait for a lane: short where the read is only a
    ///   check ingest can do without, longer where it is the answer (the site read API).
    public init(url: String, role: DatabaseRole, timeoutMilliseconds: Int = DatabaseLanes.defaultTimeoutMilliseconds, logger: Logger,
                meanwhile: String) {
        self.url = Self.withConnectTimeout(url)
        self.role = role
        self.timeoutMilliseconds = timeoutMilliseconds
        self.meanwhile = meanwhile
        self.logger = logger
        lanes = (0..<Self.lanes).map { Lane(label: "ingest.\(role.rawValue).\($0)") }
    }

    public struct LookupFailure: Error {
        public var reason: String
    }

    /// Runs `work` on a lane's connection; a failure when PostgreSQL could not be asked in time.
    public func read<T: Sendable>(_ work: @escaping @Sendable (PostgresConnection) throws -> T) async -> Result<T, LookupFailure> {
        let lane = lanes[nextLane.wrappingAdd(1, ordering: .relaxed).oldValue % lanes.count]
        let deadline = DispatchTime.now() + .milliseconds(timeoutMilliseconds)
        let result: Result<T, LookupFailure> = await withCheckedContinuation { done in
            lane.queue.async { done.resume(returning: self.read(work, on: lane, deadline: deadline)) }
        }
        switch result {
        case .success:
            if inOutage.exchange(false, ordering: .relaxed) {
                logger.notice("PostgreSQL answers \(role.rawValue)'s reads again")
            }
        case .failure(let failure):
            if !inOutage.exchange(true, ordering: .relaxed) {
                logger.warning("cannot read PostgreSQL as \(role.rawValue); \(meanwhile) until it answers again",
                               metadata: ["reason": "\(failure.reason)"])
            }
        }
        return result
    }

    /// Runs on the lane's queue only.
    private func read<T>(_ work: (PostgresConnection) throws -> T, on lane: Lane, deadline: DispatchTime) -> Result<T, LookupFailure> {
        guard DispatchTime.now() < deadline else {
            return .failure(LookupFailure(reason: "waited more than \(timeoutMilliseconds) ms for a connection"))
        }
        do {
            let db = try lane.connection ?? connect(lane)
            return .success(try work(db))
        } catch {
            lane.connection = nil
            lane.retryAt = DispatchTime.now() + .milliseconds(Self.pauseAfterFailureMilliseconds)
            return .failure(LookupFailure(reason: "\(error)"))
        }
    }

    private func connect(_ lane: Lane) throws -> PostgresConnection {
        guard DispatchTime.now() >= lane.retryAt else {
            throw LookupFailure(reason: "pausing \(Self.pauseAfterFailureMilliseconds) ms after a failed attempt")
        }
        let db = try PostgresConnection(url: url, role: role.rawValue)
        try db.query("SELECT set_config('statement_timeout', \(String(timeoutMilliseconds)), false)")
        lane.connection = db
        return db
    }

    /// Adds libpq's `connect_timeout` unless the URL sets one, so an unreachable host cannot hold a lane for minutes.
    static func withConnectTimeout(_ url: String) -> String {
        guard !url.contains("connect_timeout") else { return url }
        let setting = "connect_timeout=\(connectTimeoutSeconds)"
        if url.contains("://") { return url + (url.contains("?") ? "&" : "?") + setting }
        return url + " " + setting
    }

    /// A serial queue and the connection only it touches.
    private final class Lane: @unchecked Sendable {
        let queue: DispatchQueue
        var connection: PostgresConnection?
        var retryAt = DispatchTime.now()

        init(label: String) {
            queue = DispatchQueue(label: label)
        }
    }
}

/// What ingest may read of the archive, as `trial_ingest`: content digests (to refuse a reused event_id with other
/// content, 409) and what a data query's step names (`audit.event_references`: participant, type, changed event).
extension DatabaseLanes {
    /// Digest (lowercase hex) per archived event_id among `eventIDs` (lowercase UUIDs), or nil when PostgreSQL could
    /// not be asked in time.
    public func digests(_ eventIDs: [String]) async -> [String: String]? {
        try? await read { db in
            var digests: [String: String] = [:]
            for (id, digest) in try db.query("""
                SELECT event_id::text AS event_id, encode(content_sha256, 'hex') AS digest FROM audit.event_digests
                WHERE event_id = ANY(\(array: eventIDs)::uuid[])
                """).decode((String, String).self) { digests[id] = digest }
            return digests
        }.get()
    }

    /// When each of `studyIDs` that has a randomization schedule loaded its first (`audit.randomization_schedules`,
    /// migration 0026), or nil when PostgreSQL could not be asked in time.
    public func randomizationSchedules(_ studyIDs: [String]) async -> [String: Timestamp]? {
        try? await read { db in
            var loaded: [String: Timestamp] = [:]
            for (study, at) in try db.query("""
                SELECT study_id, loaded_at FROM audit.randomization_schedules WHERE study_id = ANY(\(array: studyIDs)::text[])
                """).decode((String, Timestamp).self) { loaded[study] = at }
            return loaded
        }.get()
    }

    /// The design digest of each of `studyIDs` that has a schedule (`audit.randomization_designs`, migration 0029), or
    /// nil when PostgreSQL could not be asked in time.
    public func randomizationDesigns(_ studyIDs: [String]) async -> [String: String]? {
        await pairs("SELECT study_id, design_sha256 FROM audit.randomization_designs WHERE study_id = ANY(\(array: studyIDs)::text[])")
    }

    /// The status (`monitoring.participants.status`) of each of `participantIDs` the read models know
    /// (`audit.participant_statuses`, migration 0029), or nil when PostgreSQL could not be asked in time.
    public func participantStatuses(_ participantIDs: [String]) async -> [String: String]? {
        await pairs("""
            SELECT participant_id, status FROM audit.participant_statuses WHERE participant_id = ANY(\(array: Array(Set(participantIDs)))::text[])
            """)
    }

    /// The kit assigned to each of `participantIDs` (keyed `study|participant`; `audit.assigned_kits`, migration 0029),
    /// or nil when PostgreSQL could not be asked in time.
    public func assignedKits(_ participantIDs: [String]) async -> [String: String]? {
        await pairs("""
            SELECT study_id || '|' || participant_id, kit_number FROM audit.assigned_kits
            WHERE participant_id = ANY(\(array: Array(Set(participantIDs)))::text[])
            """)
    }

    /// The blinded labels each of `studyIDs`' randomization schedules state (`audit.blinded_labels`, migration 0029), or
    /// nil when PostgreSQL could not be asked in time.
    public func blindedLabels(_ studyIDs: [String]) async -> [String: Set<String>]? {
        try? await read { db in
            var labels: [String: Set<String>] = [:]
            for (study, label) in try db.query("""
                SELECT study_id, blinded_label FROM audit.blinded_labels WHERE study_id = ANY(\(array: studyIDs)::text[])
                """).decode((String, String).self) { labels[study, default: []].insert(label) }
            return labels
        }.get()
    }

    /// Which of `participantIDs` a site randomized before their study's first schedule (keyed `study|participant`;
    /// `audit.pre_schedule_allocations`, migration 0029), or nil when PostgreSQL could not be asked in time.
    public func preScheduleAllocations(_ participantIDs: [String]) async -> Set<String>? {
        try? await read { db in
            Set(try db.query("""
                SELECT study_id || '|' || participant_id FROM audit.pre_schedule_allocations
                WHERE participant_id = ANY(\(array: Array(Set(participantIDs)))::text[])
                """).decode(String.self))
        }.get()
    }

    /// The rows of a two-column query as a dictionary (first column to second), or nil when PostgreSQL could not be asked
    /// in time.
    private func pairs(_ query: PostgresQuery) async -> [String: String]? {
        try? await read { db in
            Dictionary(try db.query(query).decode((String, String).self), uniquingKeysWith: { first, _ in first })
        }.get()
    }

    /// What the archive holds under each of `eventIDs`, or nil when PostgreSQL could not be asked in time.
    public func references(_ eventIDs: [String]) async -> [String: DataQueries.Target]? {
        try? await read { db in try DataQueries.Target.load(eventIDs, db) }.get()
    }
}

/// What a signature names, as the archive holds it (`audit.signable_events`, migration 0025): whose event it is and the
/// SHA-256 of its stored envelope; for a chain point, its link.
public struct SignableEvent: Sendable, Hashable {
    public var participantID: String?
    public var siteID: String?
    public var envelopeSHA256: String
    /// Its type (nil: one this build does not know), the type a correction or void changes, and who recorded it: what
    /// `SignatureRules` judge a signature over it by.
    public var type: EventType?
    public var changedType: EventType?
    public var recordedBy: String
    /// A drug destruction's named witnesses.
    public var witnesses: [String] = []

    var rulesTarget: SignatureRules.Target? {
        type.map { SignatureRules.Target(type: $0, changedType: changedType, recordedBy: recordedBy, witnesses: witnesses) }
    }
}

extension DatabaseLanes {
    /// The archived events among `eventIDs` with their envelopes' SHA-256, or nil when PostgreSQL could not be asked in time.
    public func signables(_ eventIDs: [String]) async -> [String: SignableEvent]? {
        try? await read { db in
            var found: [String: SignableEvent] = [:]
            for (id, participant, site, hash, type, changed, recorder, witnesses) in try db.query("""
                SELECT event_id::text, participant_id, site_id, envelope_sha256, type, changed_type, recorded_by, witnesses::text
                FROM audit.signable_events WHERE event_id = ANY(\(array: eventIDs)::uuid[])
                """).decode((String, String?, String?, String, String, String?, String, String?).self) {
                let named = witnesses.flatMap { try? JSONParser().parse(Array($0.utf8)) }?.arrayValue?.compactMap(\.stringValue) ?? []
                found[id] = SignableEvent(participantID: participant, siteID: site, envelopeSHA256: hash, type: EventType(rawValue: type),
                                          changedType: changed.flatMap(EventType.init(rawValue:)), recordedBy: recorder, witnesses: named)
            }
            return found
        }.get()
    }

    /// Who already witnessed each of `destructionIDs` (`audit.witness_signatures`, migration 0028), or nil when PostgreSQL
    /// could not be asked in time.
    public func witnesses(_ destructionIDs: [String]) async -> [(destruction: String, witness: String, signature: String)]? {
        try? await read { db in
            try db.query("""
                SELECT destruction_event_id::text, witness, signature_id::text FROM audit.witness_signatures
                WHERE destruction_event_id = ANY(\(array: destructionIDs)::uuid[])
                """).decode((String, String, String).self).map { (destruction: $0.0, witness: $0.1, signature: $0.2) }
        }.get()
    }

    /// How many events `participantID`'s casebook holds up to and including `lastEventID`, and their digest
    /// (`audit.casebook_digest`, migration 0028); 0 events when that is no casebook event of theirs. Nil when PostgreSQL
    /// could not be asked in time.
    public func casebookDigest(_ participantID: String, through lastEventID: String) async -> (events: Int, sha256: String?)? {
        try? await read { db in
            try db.query("""
                SELECT events, sha256 FROM audit.casebook_digest(\(participantID), \(lastEventID)::uuid)
                """).decodeFirst((Int, String?).self)
        }.get()
    }

    /// The chain's link (hex) at `chainSeq` and whether `participantID` has an event at or before it; nil link when the
    /// chain has no such point. Nil when PostgreSQL could not be asked in time.
    public func casebookPoint(_ participantID: String, chainSeq: Int) async -> (link: String?, hasEvents: Bool)? {
        try? await read { db in
            let link = try db.query("""
                SELECT chain_hash FROM audit.signable_events WHERE chain_seq = \(Int64(chainSeq))
                """).decode(String.self).first
            let has = try db.query("""
                SELECT EXISTS (SELECT 1 FROM audit.signable_events WHERE participant_id = \(participantID) AND chain_seq <= \(Int64(chainSeq)))
                """).decodeFirst(Bool.self)
            return (link, has)
        }.get()
    }
}
