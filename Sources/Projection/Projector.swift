import Foundation
import Kafka
import Logging
import Postgres
import TrialDomain

/// Consumes the log and applies it to PostgreSQL, one transaction per batch, resuming from the
/// checkpoints in PostgreSQL on start and on every partition assignment.
///
/// Blocking by design: run it on its own thread (the `projector` executable runs it on the main thread).
public final class Projector: Sendable {
    public let configuration: ProjectorConfiguration
    private let logger: Logger
    private let writer: BatchWriter

    public init(configuration: ProjectorConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        writer = BatchWriter(topic: configuration.topic)
    }

    /// Runs until `shouldStop` returns true. Retries (with backoff) when PostgreSQL or the assignment
    /// fails; throws, and so stops, on anything that would otherwise lose or invent an event.
    public func run(shouldStop: @escaping @Sendable () -> Bool) throws {
        var backoff = 0.1
        while !shouldStop() {
            do {
                try session(shouldStop: shouldStop)
                backoff = 0.1
            } catch let error as PostgresError where error.isConnectionLoss {
                logger.warning("PostgreSQL unavailable; retrying", metadata: ["error": "\(error)", "retry_in_s": "\(backoff)"])
            } catch let error as KafkaError {
                guard case .assignment = error else { throw error }
                logger.warning("partition assignment failed; retrying", metadata: ["error": "\(error)"])
            }
            Thread.sleep(forTimeInterval: backoff)
            backoff = min(backoff * 2, 5)
        }
    }

    /// One connection and one consumer; any failure tears both down so the next session starts from checkpoints.
    private func session(shouldStop: @escaping @Sendable () -> Bool) throws {
        try Migrator.migrate(try PostgresConnection(url: configuration.databaseURL), logger: logger)
        let db = try configuration.projectorConnection()
        let cache = ParticipantHistoryCache(maxEvents: configuration.historyCacheEvents)
        try Recompute.serveRequests(db, logger: logger)
        let topic = configuration.topic
        let consumer = try KafkaConsumer(
            configuration: configuration.consumerConfiguration,
            rebalance: RebalanceHandler(assigned: { partitions in
                // Another projector may have appended to these participants meanwhile.
                cache.removeAll()
                return try Checkpoints.read(topic: topic, partitions: partitions, db)
            }, revoked: { _ in cache.removeAll() }),
            logger: logger)
        defer { consumer.close() }
        logger.info("projector consuming", metadata: ["topic": "\(topic)", "group": "\(configuration.groupID)"])
        // Read models deferred by an earlier session (a crash while catching up) are owed first.
        var owesRefresh = try MonitoringWriter.hasDeferred(db)
        while !shouldStop() {
            let records = try consumer.poll(maxRecords: configuration.batchSize, timeoutMs: Int32(configuration.pollTimeoutMs))
            guard !records.isEmpty else {
                if owesRefresh {
                    try writer.refreshDeferred(db)
                    owesRefresh = false
                }
                continue
            }
            // A full batch means a backlog: archive now, refresh the read models once it is worked off.
            let catchingUp = records.count >= configuration.batchSize
            let outcome = try writer.apply(records, to: db, deferReadModels: catchingUp, cache: cache)
            owesRefresh = catchingUp
            consumer.commitInformational(outcome.nextOffsets)
            if outcome.rejected > 0 {
                logger.error("records refused: event_id reused with different content; see audit.rejected",
                             metadata: ["count": "\(outcome.rejected)"])
            }
            logger.debug("batch applied", metadata: [
                "records": "\(outcome.records)", "archived": "\(outcome.archived)",
                "duplicates": "\(outcome.duplicates)", "stale": "\(outcome.stale)",
            ])
        }
    }
}

/// The projector's per-partition progress in PostgreSQL.
public enum Checkpoints {
    /// Next offset per partition; partitions never applied start at 0, the beginning of the log.
    public static func read(topic: String, partitions: [Int32], _ db: PostgresConnection) throws -> [Int32: Int64] {
        var offsets = Dictionary(uniqueKeysWithValues: partitions.map { ($0, Int64(0)) })
        let rows = try db.query("""
            SELECT partition, next_offset FROM projection.checkpoints
            WHERE topic = \(topic) AND partition = ANY(\(array: partitions)::integer[])
            """)
        for row in rows { offsets[Int32(row[0]!)!] = Int64(row[1]!)! }
        return offsets
    }
}

/// How far the read models trail the log.
public struct ProjectionLag: Sendable {
    public struct Partition: Sendable {
        public var partition: Int32
        public var applied: Int64
        public var logEnd: Int64
        public var lag: Int64 { max(0, logEnd - applied) }
    }

    public var partitions: [Partition]
    /// Records in the log not yet applied.
    public var total: Int64 { partitions.reduce(0) { $0 + $1.lag } }
    /// Participants, sites and protocol changes archived during a catch-up whose read models are not refreshed yet.
    public var pendingRefresh: Int64
    /// True when the read models reflect the whole log.
    public var isCaughtUp: Bool { total == 0 && pendingRefresh == 0 }

    public static func measure(topic: String, db: PostgresConnection, admin: KafkaAdmin) throws -> ProjectionLag {
        let count = try admin.partitionCount(topic: topic)
        let ids = (0..<Int32(count)).map { $0 }
        let applied = try Checkpoints.read(topic: topic, partitions: ids, db)
        let pending = Int64(try db.query("SELECT count(*) FROM projection.pending_refresh")[0][0]!)!
        return ProjectionLag(partitions: try ids.map { p in
            Partition(partition: p, applied: applied[p] ?? 0, logEnd: try admin.watermarks(topic: topic, partition: p).high)
        }, pendingRefresh: pending)
    }
}

/// Recomputing every read model from the archive, when a migration (or an operator) asks for it.
public enum Recompute {
    /// Serves pending `projection.recompute_requests` in one transaction. Returns whether there were any.
    @discardableResult
    public static func serveRequests(_ db: PostgresConnection, logger: Logger) throws -> Bool {
        try db.transaction { db in
            let pending = try db.query("SELECT reason FROM projection.recompute_requests FOR UPDATE")
            guard !pending.isEmpty else { return false }
            logger.info("recomputing read models from the archive", metadata: ["reason": "\(pending.map { $0[0]! })"])
            // Digests are derived from the archive too: events archived before migration 0008 get theirs here.
            let filled = try EventDigests.fillMissing(db)
            if filled > 0 { logger.info("filled missing event digests", metadata: ["events": "\(filled)"]) }
            try MonitoringWriter.recomputeAll(db)
            try db.execute("DELETE FROM projection.recompute_requests")
            return true
        }
    }
}
