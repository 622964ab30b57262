import Dispatch
import Logging
import Postgres
import ServiceRuntime
import Synchronization
import TrialDomain

/// The content digests the archive holds for some event_ids (`audit.event_digests`, read as `trial_ingest`), so ingest
/// can refuse a reused event_id with other content (409) before producing anything.
///
/// libpq blocks, so no call ever runs on Swift's cooperative pool: each lookup runs on one of a few serial dispatch
/// queues ("lanes"), each owning at most one connection. Every lookup is bounded: a short connect timeout, a statement
/// timeout, a limit on the time spent waiting for a lane, and a pause before reconnecting after a failure. When
/// PostgreSQL cannot answer in time the answer is nil (cannot tell) and ingest accepts as it would without the check;
/// the projector still parks such a conflict in `audit.rejected` and raises an `event_id_reused` signal. A warning is
/// logged once per outage, not once per request.
public final class ArchivedDigests: Sendable {
    /// Connections to PostgreSQL at most.
    public static let lanes = 2
    /// Statement timeout, and the longest a request waits for a lane before giving up on the check.
    public static let timeoutMilliseconds = 1_000
    /// libpq's `connect_timeout` (whole seconds; 2 is its smallest useful value).
    public static let connectTimeoutSeconds = 2
    /// After a failure, a lane does not try to connect again for this long: an outage costs no request a timeout.
    public static let pauseAfterFailureMilliseconds = 1_000

    private let url: String
    private let logger: Logger
    private let lanes: [Lane]
    private let nextLane = Atomic<Int>(0)
    private let inOutage = Atomic<Bool>(false)

    public init(url: String, logger: Logger) {
        self.url = Self.withConnectTimeout(url)
        self.logger = logger
        lanes = (0..<Self.lanes).map { Lane(label: "ingest.digests.\($0)") }
    }

    /// Digest (lowercase hex) per archived event_id among `eventIDs` (lowercase UUIDs), or nil when PostgreSQL could
    /// not be asked in time.
    public func lookUp(_ eventIDs: [String]) async -> [String: String]? {
        let lane = lanes[nextLane.wrappingAdd(1, ordering: .relaxed).oldValue % lanes.count]
        let deadline = DispatchTime.now() + .milliseconds(Self.timeoutMilliseconds)
        let result: Result<[String: String], LookupFailure> = await withCheckedContinuation { done in
            lane.queue.async { done.resume(returning: self.lookUp(eventIDs, on: lane, deadline: deadline)) }
        }
        switch result {
        case .success(let digests):
            if inOutage.exchange(false, ordering: .relaxed) {
                logger.notice("event digests readable again: ingest refuses reused event_ids (409) again")
            }
            return digests
        case .failure(let failure):
            if !inOutage.exchange(true, ordering: .relaxed) {
                logger.warning("""
                    cannot read event digests; accepting events without checking for reused event_ids until PostgreSQL \
                    answers again (the projector still parks conflicts in audit.rejected)
                    """, metadata: ["reason": "\(failure.reason)"])
            }
            return nil
        }
    }

    struct LookupFailure: Error {
        var reason: String
    }

    /// Runs on the lane's queue only.
    private func lookUp(_ eventIDs: [String], on lane: Lane, deadline: DispatchTime) -> Result<[String: String], LookupFailure> {
        guard DispatchTime.now() < deadline else {
            return .failure(LookupFailure(reason: "waited more than \(Self.timeoutMilliseconds) ms for a connection"))
        }
        do {
            let db = try lane.connection ?? connect(lane)
            let rows = try db.query("""
                SELECT event_id::text AS event_id, encode(content_sha256, 'hex') AS digest FROM audit.event_digests
                WHERE event_id = ANY(\(array: eventIDs)::uuid[])
                """)
            var digests: [String: String] = [:]
            for (id, digest) in try rows.decode((String, String).self) { digests[id] = digest }
            return .success(digests)
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
        let db = try PostgresConnection(url: url, role: DatabaseRole.ingest.rawValue)
        try db.query("SELECT set_config('statement_timeout', \(String(Self.timeoutMilliseconds)), false)")
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
