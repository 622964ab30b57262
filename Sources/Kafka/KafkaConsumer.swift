import CRdKafka
import Logging

/// A record read from the log.
public struct KafkaRecord: Sendable, Hashable {
    public var partition: Int32
    public var offset: Int64
    public var key: [UInt8]?
    public var value: [UInt8]

    public init(partition: Int32, offset: Int64, key: [UInt8]?, value: [UInt8]) {
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
    }
}

/// Decides where consumption starts when partitions are assigned, and hears when they are taken away.
public struct RebalanceHandler {
    /// Returns the next offset to read for each assigned partition. Throwing leaves them unassigned
    /// and makes the next `poll` throw.
    public var assigned: ([Int32]) throws -> [Int32: Int64]
    public var revoked: ([Int32]) -> Void

    public init(assigned: @escaping ([Int32]) throws -> [Int32: Int64], revoked: @escaping ([Int32]) -> Void = { _ in }) {
        self.assigned = assigned
        self.revoked = revoked
    }
}

/// A group consumer whose start offsets come from the application (`RebalanceHandler.assigned`).
///
/// Not thread-safe: one thread polls it. Rebalance callbacks run inside `poll` on that thread.
public final class KafkaConsumer {
    private let handle: OpaquePointer
    private let context: Unmanaged<ConsumerContext>
    private let topic: String
    private let logger: Logger
    private var closed = false

    public init(configuration: KafkaConsumerConfiguration, rebalance: RebalanceHandler, logger: Logger) throws(KafkaError) {
        self.logger = logger
        topic = configuration.topic
        let conf = try RDKafkaConfig.make(configuration.properties)
        context = Unmanaged.passRetained(ConsumerContext(logger: logger, topic: configuration.topic, handler: rebalance))
        rd_kafka_conf_set_opaque(conf, context.toOpaque())
        rd_kafka_conf_set_rebalance_cb(conf, rebalanceCallback)
        rd_kafka_conf_set_error_cb(conf, errorCallback)
        do {
            handle = try RDKafkaConfig.newClient(RD_KAFKA_CONSUMER, conf: conf)
        } catch {
            context.release()
            throw error
        }
        rd_kafka_poll_set_consumer(handle)
        let list = rd_kafka_topic_partition_list_new(1)!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        rd_kafka_topic_partition_list_add(list, configuration.topic, RD_KAFKA_PARTITION_UA)
        let err = rd_kafka_subscribe(handle, list)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            rd_kafka_destroy(handle)
            context.release()
            throw .client(code: err.rawValue, message: "subscribe to \(configuration.topic): \(errorName(err))")
        }
    }

    /// Waits up to `timeoutMs` for the first record, then takes what is already fetched, up to `maxRecords`.
    /// With a `gather` window, records still arriving are gathered for up to that long after the first one, as long as
    /// none of the gaps between them exceeds `gather.gapMs`: a steady stream makes fewer, larger batches (each costs
    /// its reader a fixed price), a lone record waits one gap at most.
    /// Records of partitions revoked during the call are dropped (their new owner reads them again).
    /// Throws when an offset is out of range (never skips) or when assignment failed.
    public func poll(maxRecords: Int, timeoutMs: Int32, gather: GatherWindow = .none) throws(KafkaError) -> [KafkaRecord] {
        let ctx = context.takeUnretainedValue()
        var records: [KafkaRecord] = []
        var wait = timeoutMs
        var gatherUntil: ContinuousClock.Instant?
        let generation = ctx.generation
        while records.count < maxRecords {
            guard let message = rd_kafka_consumer_poll(handle, wait) else { break }
            defer { rd_kafka_message_destroy(message) }
            wait = Self.gatheringWait(until: gatherUntil, gapMs: gather.gapMs)
            let m = message.pointee
            if m.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                if m.err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET || m.err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE {
                    throw .offsetOutOfRange(topic: topic, partition: m.partition, offset: m.offset,
                                            message: payloadText(m) ?? errorName(m.err))
                }
                if m.err == RD_KAFKA_RESP_ERR__PARTITION_EOF { continue }
                logger.warning("kafka consumer error", metadata: ["error": "\(payloadText(m) ?? errorName(m.err))"])
                continue
            }
            let value = m.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.len)) } ?? []
            let key = m.key.map { Array(UnsafeRawBufferPointer(start: $0, count: m.key_len)) }
            records.append(KafkaRecord(partition: m.partition, offset: m.offset, key: key, value: value))
            ctx.nextOffsets[m.partition] = m.offset + 1
            if gather.windowMs > 0, gatherUntil == nil {
                gatherUntil = .now + .milliseconds(gather.windowMs)
                wait = Self.gatheringWait(until: gatherUntil, gapMs: gather.gapMs)
            }
        }
        if let failure = ctx.takeFailure() { throw failure }
        if ctx.generation != generation {
            let owned = ctx.assigned
            records.removeAll { !owned.contains($0.partition) }
        }
        return records
    }

    /// How long the next `poll` step may wait: 0 when not gathering (take what is fetched), else the gap, at most
    /// until the window ends.
    private static func gatheringWait(until: ContinuousClock.Instant?, gapMs: Int32) -> Int32 {
        guard let until else { return 0 }
        let left = until - .now
        guard left > .zero else { return 0 }
        let (seconds, attoseconds) = left.components
        return min(max(Int32(clamping: seconds * 1_000 + attoseconds / 1_000_000_000_000_000), 1), gapMs)
    }

    /// Records not yet returned by `poll`, per assigned partition: the high watermark librdkafka last saw in a fetch
    /// response (no broker round trip) minus the next offset to return. Partitions whose watermark is not known yet
    /// are left out. Cheap enough to call after every batch.
    public func lag() -> [Int32: Int64] {
        let ctx = context.takeUnretainedValue()
        var lag: [Int32: Int64] = [:]
        for partition in ctx.assigned {
            var low: Int64 = 0
            var high: Int64 = 0
            guard rd_kafka_get_watermark_offsets(handle, topic, partition, &low, &high) == RD_KAFKA_RESP_ERR_NO_ERROR,
                  high >= 0, let next = ctx.nextOffsets[partition], next >= 0
            else { continue }
            lag[partition] = max(0, high - next)
        }
        return lag
    }

    /// The partitions this consumer holds now.
    public var assignedPartitions: Set<Int32> { context.takeUnretainedValue().assigned }

    /// Commits offsets to the group, for other tools' lag displays only: the application's checkpoints rule.
    public func commitInformational(_ nextOffsets: [Int32: Int64]) {
        guard !nextOffsets.isEmpty else { return }
        let list = rd_kafka_topic_partition_list_new(Int32(nextOffsets.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for (partition, offset) in nextOffsets {
            rd_kafka_topic_partition_list_add(list, topic, partition)!.pointee.offset = offset
        }
        _ = rd_kafka_commit(handle, list, 1)
    }

    /// Leaves the group cleanly (revoking partitions) and destroys the client.
    public func close() {
        guard !closed else { return }
        closed = true
        _ = rd_kafka_consumer_close(handle)
        rd_kafka_destroy(handle)
        context.release()
    }

    deinit { close() }

    private func payloadText(_ m: rd_kafka_message_t) -> String? {
        guard let payload = m.payload, m.len > 0 else { return nil }
        return String(decoding: UnsafeRawBufferPointer(start: payload, count: m.len), as: UTF8.self)
    }
}

final class ConsumerContext {
    let logger: Logger
    let topic: String
    let handler: RebalanceHandler
    var assigned: Set<Int32> = []
    /// Next offset `poll` returns per assigned partition: the start offset at assignment, then after each record.
    var nextOffsets: [Int32: Int64] = [:]
    var generation = 0
    private var failure: KafkaError?

    init(logger: Logger, topic: String, handler: RebalanceHandler) {
        self.logger = logger
        self.topic = topic
        self.handler = handler
    }

    func fail(_ error: KafkaError) { failure = error }

    func takeFailure() -> KafkaError? {
        defer { failure = nil }
        return failure
    }
}

private let rebalanceCallback: @convention(c) (OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?) -> Void = {
    handle, err, list, opaque in
    guard let handle, let list, let opaque else { return }
    let ctx = Unmanaged<ConsumerContext>.fromOpaque(opaque).takeUnretainedValue()
    let partitions = (0..<Int(list.pointee.cnt)).map { list.pointee.elems[$0].partition }
    ctx.generation += 1
    if err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS {
        do {
            let offsets = try ctx.handler.assigned(partitions)
            for i in 0..<Int(list.pointee.cnt) {
                let p = list.pointee.elems[i].partition
                list.pointee.elems[i].offset = offsets[p] ?? 0
            }
            rd_kafka_assign(handle, list)
            ctx.assigned = Set(partitions)
            ctx.nextOffsets = offsets
            ctx.logger.info("partitions assigned", metadata: ["partitions": "\(partitions.sorted())"])
        } catch {
            rd_kafka_assign(handle, nil)
            ctx.assigned = []
            ctx.fail(.assignment("\(error)"))
        }
    } else {
        ctx.handler.revoked(partitions)
        rd_kafka_assign(handle, nil)
        ctx.assigned = []
        ctx.logger.info("partitions revoked", metadata: ["partitions": "\(partitions.sorted())"])
    }
}

/// How long `KafkaConsumer.poll` keeps gathering records after the first one (see there).
public struct GatherWindow: Sendable, Equatable {
    /// At most this long after the first record.
    public var windowMs: Int32
    /// Stop as soon as no record came for this long.
    public var gapMs: Int32

    public init(windowMs: Int32, gapMs: Int32) {
        self.windowMs = max(0, windowMs)
        self.gapMs = max(1, min(gapMs, max(1, windowMs)))
    }

    /// Take what is already fetched, never wait after the first record.
    public static let none = GatherWindow(windowMs: 0, gapMs: 1)
}
