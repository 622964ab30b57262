import Anchoring
import Foundation
import Kafka
import Logging
import Postgres
import ServiceRuntime
import TrialDomain
import TrialDomainPostgres

/// Consumes the log and applies it to PostgreSQL, one transaction per batch, resuming from the
/// checkpoints in PostgreSQL on start and on every partition assignment.
///
/// Blocking by design: `run(until:)` runs on a thread of its own. As a `Service` (`Projector+Service.swift`) it runs
/// on a dedicated thread and stops on the service group's graceful shutdown.
public final class Projector: Sendable {
    public let configuration: ProjectorConfiguration
    private let logger: Logger
    private let writer: BatchWriter
    private let retry: TransientRetry
    /// What `GET /ready` reports: consuming, waiting, or halted and why.
    public let health = ProjectorHealth()

    public init(configuration: ProjectorConfiguration, logger: Logger, retry: TransientRetry = TransientRetry()) {
        self.configuration = configuration
        self.logger = logger
        self.retry = retry
        writer = BatchWriter(topic: configuration.topic)
    }

    /// `run(until:)`, keeping `health` current: a thrown error halts it (logged at critical level, `/ready` answers
    /// 503 with the reason from then on); a stop on request leaves it stopped.
    public func run(until stop: StopToken) throws {
        var metrics = ProjectorMetrics()
        do {
            try consume(until: stop, metrics: &metrics)
            health.set(.stopped)
        } catch {
            health.set(.halted(reason: "\(error)"))
            metrics.halted.record(1)
            logger.critical("projector HALTED on a fatal error: it applies nothing more until an operator fixes the cause and restarts it",
                            metadata: ["error": "\(error)"])
            throw error
        }
    }

    /// Runs until a stop is requested on `stop`. Retries (with backoff) when PostgreSQL or the assignment
    /// fails; throws, and so stops, on anything that would otherwise lose or invent an event.
    ///
    /// A stop ends the session after the batch in hand (committed, then the last anchor published) and cuts any
    /// backoff short, so the projector returns within a poll timeout and a batch, never after a full backoff. A stop
    /// while a transient error is being retried gives the batch up (its transaction was rolled back); the next start
    /// applies it, and anchors whatever was committed unanchored.
    ///
    /// Database errors are judged by `PostgresFailure`: a transient one (deadlock, serialization failure, cancelled
    /// statement, lock timeout, insufficient resources) is first retried in place, the batch's transaction rolled back
    /// and the same records applied again (`TransientRetry`); if it persists, it ends the session like a lost
    /// connection, and a new one resumes from the checkpoints. A fatal one (a unique violation after a bug) stops.
    private func consume(until stop: StopToken, metrics: inout ProjectorMetrics) throws {
        let anchoring = try configuration.anchors.map { settings in
            AnchorSchedule(settings: settings, logTopic: configuration.topic,
                           publisher: try AnchorPublisher(bootstrapServers: configuration.bootstrapServers, topic: settings.topic,
                                                          properties: configuration.kafkaProperties, signer: settings.signer,
                                                          logger: logger),
                           logger: logger)
        }
        if anchoring == nil { logger.warning("anchors are off (PROJECTOR_ANCHORS=off): nothing outside the database vouches for the chain") }
        defer { anchoring?.publisher.shutdown() }
        var retry = retry
        retry.stop = stop
        var backoff = 0.1
        while !stop.isStopRequested {
            do {
                try session(shouldStop: { stop.isStopRequested }, anchoring: anchoring, retry: retry, metrics: &metrics)
                backoff = 0.1
            } catch let error as PostgresError where error.failure != .fatal {
                health.set(.waiting(reason: error.isConnectionLoss ? "PostgreSQL unavailable: \(error)" : "PostgreSQL error: \(error)"))
                logger.warning(error.isConnectionLoss ? "PostgreSQL unavailable; retrying" : "PostgreSQL error persists; new session",
                               metadata: ["sqlstate": "\(error.sqlState ?? "")", "error": "\(error)", "retry_in_s": "\(backoff)"])
            } catch let error as KafkaError {
                guard case .assignment = error else { throw error }
                health.set(.waiting(reason: "partition assignment failed: \(error)"))
                logger.warning("partition assignment failed; retrying", metadata: ["error": "\(error)"])
            }
            stop.wait(seconds: backoff)
            backoff = min(backoff * 2, 5)
        }
    }

    /// One connection and one consumer; any failure tears both down so the next session starts from checkpoints.
    /// `retry` is the projector's own, its waits cut short by the stop that `shouldStop` reports.
    private func session(shouldStop: @escaping @Sendable () -> Bool, anchoring: AnchorSchedule?, retry: TransientRetry,
                         metrics: inout ProjectorMetrics) throws {
        let db = try configuration.projectorConnection()
        try Migrator.requireCurrent(db)
        // Whatever an earlier session committed but did not anchor (a crash between commit and publish) is anchored now.
        anchoring?.publishNow(db)
        try Recompute.serveRequests(db, logger: logger, retry: retry)
        // Decoded fold states of this session's own batches (checked against the database before each use).
        let states = FoldStateCache(saveEvery: configuration.foldSaveEvery)
        let topic = configuration.topic
        let consumer = try KafkaConsumer(
            configuration: configuration.consumerConfiguration,
            rebalance: RebalanceHandler(assigned: { partitions in
                try Checkpoints.read(topic: topic, partitions: partitions, db)
            }),
            logger: logger)
        defer { consumer.close() }
        health.set(.consuming)
        metrics.sessions.increment()
        // Sites' calendar days follow this build's time zone rules: a rebuild after an upgrade applies newer ones.
        logger.info("projector consuming", metadata: ["topic": "\(topic)", "group": "\(configuration.groupID)",
                                                      "tzdata": "\(SiteTimeZone.databaseVersion)"])
        // While idle, PostgreSQL is asked now and then, so a lost connection ends the session (and readiness) even
        // when no batch comes; the lag gauges are refreshed as often.
        var lastLook = ContinuousClock.now
        // Read models deferred by an earlier session (a crash while catching up) are owed first.
        var owesRefresh = try MonitoringWriter.hasDeferred(db)
        // The batch after the one being applied, while a backlog lasts (see below).
        var ahead: DecodingAhead?
        while !shouldStop() {
            let batch: DecodedBatch
            if let decoding = ahead {
                batch = decoding.batch()
                ahead = nil
            } else {
                let records = try consumer.poll(maxRecords: configuration.batchSize, timeoutMs: Int32(configuration.pollTimeoutMs),
                                                gather: configuration.gather)
                batch = writer.decode(records)
            }
            let records = batch.records
            guard !records.isEmpty else {
                if ContinuousClock.now - lastLook >= .seconds(1) {
                    lastLook = ContinuousClock.now
                    try db.query("SELECT 1")
                    metrics.recordLag(consumer.lag(), held: consumer.assignedPartitions)
                }
                if owesRefresh {
                    let opened = try retry.run("refresh of deferred read models", logger: logger) { try writer.refreshDeferred(db, cache: states) }
                    metrics.recordOpenedSignals(opened ?? [:])
                    owesRefresh = false
                }
                anchoring?.afterCommit(archived: 0, db)
                continue
            }
            // A full batch means a backlog: archive now, refresh the read models once it is worked off. The next batch
            // is already in the consumer's queue: it is taken now (never waiting) and decoded on other threads while
            // PostgreSQL writes this one. Taken early, it is still applied after this one, checked against the
            // checkpoints like any batch; if the session ends first, the next one reads it again from the checkpoints.
            let catchingUp = records.count >= configuration.batchSize
            if catchingUp {
                let next = try consumer.poll(maxRecords: configuration.batchSize, timeoutMs: 0)
                if !next.isEmpty { ahead = DecodingAhead(next, writer: writer) }
            }
            // A retry sees the same records again; the checkpoints locked in its transaction drop none and double none.
            let started = ContinuousClock.now
            let outcome = try retry.run("batch", logger: logger) {
                try writer.apply(batch, to: db, deferReadModels: catchingUp, cache: states)
            }
            metrics.recordBatch(outcome, took: ContinuousClock.now - started)
            metrics.recordLag(consumer.lag(), held: consumer.assignedPartitions)
            lastLook = ContinuousClock.now
            owesRefresh = catchingUp
            consumer.commitInformational(outcome.nextOffsets)
            anchoring?.afterCommit(archived: outcome.archived, db)
            if outcome.rejected > 0 {
                logger.error("records refused: event_id reused with different content; see audit.rejected",
                             metadata: ["count": "\(outcome.rejected)"])
            }
            logger.debug("batch applied", metadata: [
                "records": "\(outcome.records)", "archived": "\(outcome.archived)",
                "duplicates": "\(outcome.duplicates)", "stale": "\(outcome.stale)",
            ])
        }
        // Stopping: whatever was committed since the last anchor is anchored before the process goes.
        logger.info("stop requested: anchoring what is committed and leaving the consumer group")
        anchoring?.publishIfUnanchored(db)
    }
}

/// A batch taken from the consumer while the one before is applied, decoded meanwhile on another thread.
final class DecodingAhead: @unchecked Sendable {
    private let decoded = DispatchSemaphore(value: 0)
    /// Written once, before `decoded` is signalled; read only after waiting for it.
    private var result: DecodedBatch?

    init(_ records: [KafkaRecord], writer: BatchWriter) {
        DispatchQueue.global().async {
            self.result = writer.decode(records)
            self.decoded.signal()
        }
    }

    func batch() -> DecodedBatch {
        decoded.wait()
        return result!
    }
}

/// Decides when to publish an anchor and publishes the committed chain head (README "Anchors").
///
/// Only what was committed is anchored: the head is read after the batch's transaction, outside any transaction.
/// A failed publication is logged and retried at the next batch; it never stops the projector, whose own
/// progress is safe in PostgreSQL.
final class AnchorSchedule: @unchecked Sendable {
    // Used only from the projector's thread.
    let settings: ProjectorConfiguration.AnchorSettings
    let logTopic: String
    let publisher: AnchorPublisher
    let logger: Logger
    private var unanchored = 0
    private var lastSeq: Int64 = -1
    private var lastPublished = ContinuousClock.now

    init(settings: ProjectorConfiguration.AnchorSettings, logTopic: String, publisher: AnchorPublisher, logger: Logger) {
        self.settings = settings
        self.logTopic = logTopic
        self.publisher = publisher
        self.logger = logger
    }

    func afterCommit(archived: Int, _ db: PostgresConnection) {
        unanchored += archived
        let due = unanchored >= settings.everyEvents
            || (unanchored > 0 && ContinuousClock.now - lastPublished >= .seconds(settings.everySeconds))
        if due { publishNow(db) }
    }

    func publishIfUnanchored(_ db: PostgresConnection) {
        if unanchored > 0 { publishNow(db) }
    }

    /// Publishes the committed head unless it was already anchored.
    func publishNow(_ db: PostgresConnection) {
        do {
            let head = try db.query("SELECT chain_seq, encode(chain_hash, 'hex') FROM audit.chain_head")
            guard case let (seq, chainHash)? = try head.first?.decode((Int64, String).self) else {
                logger.error("audit.chain_head has no row: nothing to anchor; run `reporter audit verify`")
                return
            }
            guard seq > 0, seq != lastSeq else {
                unanchored = 0
                return
            }
            let now = Timestamp(microsecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1_000_000))
            try publisher.publish(logTopic: logTopic, chainSeq: seq, chainHash: chainHash, at: now)
            lastSeq = seq
            unanchored = 0
            lastPublished = ContinuousClock.now
            logger.debug("anchor published", metadata: ["chain_seq": "\(seq)", "topic": "\(settings.topic)"])
        } catch {
            logger.error("could not publish an anchor; retrying after the next batch", metadata: ["error": "\(error)"])
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
        for (partition, offset) in try rows.decode((Int32, Int64).self) { offsets[partition] = offset }
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
        let pending = try db.query("SELECT count(*) FROM projection.pending_refresh").decodeFirst(Int64.self)
        return ProjectionLag(partitions: try ids.map { p in
            Partition(partition: p, applied: applied[p] ?? 0, logEnd: try admin.watermarks(topic: topic, partition: p).high)
        }, pendingRefresh: pending)
    }
}

/// Recomputing every read model from the archive, when a migration (or an operator) asks for it.
public enum Recompute {
    /// Serves pending `projection.recompute_requests`. Returns whether there were any.
    ///
    /// Not one transaction holding the chain head for the whole recompute, which would stall every projector
    /// of the group for as long as it takes: one short transaction per chunk of participants instead, each holding
    /// the chain head (see `Locks`) only while it computes and writes that chunk. Still correct, because of what the
    /// chain head protects: nobody archives an event while someone else writes rows computed without it. A chunk
    /// reads its participants' histories and the protocols with the lock held, so no batch can commit between
    /// its reading and its writing, and its rows are the fold of the archive as it stands. A batch committed
    /// before a chunk is in that chunk's reading; one committed after it refreshes the participants it touches
    /// itself, from the whole archive (a protocol event: all of them). So no chunk overwrites newer rows with older
    /// ones, and once the last one commits every read model is the fold of the archive, as after a batch.
    /// Meanwhile readers see some participants recomputed and others not yet (as during a catch-up); the atomic
    /// swap is `projector rebuild`'s job. Refreshes deferred by a catch-up are left for the projector to serve
    /// (a chunk may have read the archive before the events they owe). A crash leaves the request in place
    /// and the next start recomputes again from the beginning; each chunk, retried on a transient error
    /// (`TransientRetry`), rewrites its participants whole. Two projectors starting together may both recompute;
    /// each chunk is correct on its own, so that costs only time.
    @discardableResult
    public static func serveRequests(_ db: PostgresConnection, logger: Logger, retry: TransientRetry = TransientRetry()) throws -> Bool {
        let requests = try pendingRequests(db)
        guard !requests.isEmpty else { return false }
        logger.info("recomputing read models from the archive", metadata: ["reason": "\(requests.map(\.reason))"])
        let started = ContinuousClock.now
        try retry.run("recompute: protocols and site activity", logger: logger) {
            try db.transaction { db in
                try Locks.chainHead(db)
                // Digests are derived from the archive too: events archived before migration 0008 get theirs here.
                let filled = try EventDigests.fillMissing(db)
                if filled > 0 { logger.info("filled missing event digests", metadata: ["events": "\(filled)"]) }
                try MonitoringWriter.recomputeSiteActivity(db)
                _ = try MonitoringWriter.refreshProtocols(db)
                // Before the participants, whose blinded doses are judged against the allocation.
                try RandomizationWriter.recompute(db)
            }
        }
        // Participants archived after this list are refreshed by the batches that archive them.
        let chunks = try MonitoringWriter.chunks(nil, db)
        for ids in chunks {
            try retry.run("recompute: participants", logger: logger) {
                try db.transaction { db in
                    try Locks.chainHead(db)
                    _ = try MonitoringWriter.refreshParticipants(ids, protocols: try MonitoringWriter.loadProtocols(db),
                                                                 foldAgain: true, notify: false, db)
                }
            }
        }
        try retry.run("recompute: sites", logger: logger) {
            try db.transaction { db in
                try Locks.chainHead(db)
                let sites = try MonitoringWriter.allSites(db)
                // Nothing a recompute finds is news to watchers (as for the participants above).
                _ = try MonitoringWriter.refreshSites(sites, notify: false, db)
                try MonitoringWriter.refreshAccountability(.init(), sites: sites, notify: false, db)
                try MonitoringWriter.refreshReusedEventIDSignals(nil, db)
                try DataQueryWriter.refresh(nil, db)
                try markServed(requests, db)
            }
        }
        logger.info("read models recomputed", metadata: ["participants": "\(chunks.joined().count)",
                                                          "took": "\(ContinuousClock.now - started)"])
        return true
    }

    /// The recompute requests waiting (when and why each was made).
    static func pendingRequests(_ db: PostgresConnection) throws -> [(requestedAt: String, reason: String)] {
        try db.query("SELECT requested_at::text, reason FROM projection.recompute_requests").decode((String, String).self)
            .map { (requestedAt: $0.0, reason: $0.1) }
    }

    /// Removes the requests served: only those, so one a migration added meanwhile is served next time.
    static func markServed(_ requests: [(requestedAt: String, reason: String)], _ db: PostgresConnection) throws {
        guard !requests.isEmpty else { return }
        try db.enqueue("""
            DELETE FROM projection.recompute_requests
            WHERE (requested_at::text, reason) IN (SELECT * FROM unnest(\(array: requests.map(\.requestedAt))::text[],
                                                                        \(array: requests.map(\.reason))::text[]))
            """)
    }
}
