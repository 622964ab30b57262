import Dispatch
import Foundation
import Kafka
import Logging
import TrialDomain

/// Publishes anchors to the anchor topic with the idempotent `acks=all` producer, and reads them back.
public final class AnchorPublisher: Sendable {
    public let topic: String
    private let producer: KafkaProducer
    private let signer: AnchorSigner

    public init(bootstrapServers: String, topic: String, properties: [String: String], signer: AnchorSigner, logger: Logger) throws {
        var configuration = KafkaProducerConfiguration(bootstrapServers: bootstrapServers, topic: topic)
        configuration.additionalProperties = properties
        configuration.lingerMs = 0
        producer = try KafkaProducer(configuration: configuration, logger: logger)
        self.topic = topic
        self.signer = signer
    }

    /// Signs and sends one anchor and waits for the broker's acknowledgement. Blocks the calling thread (the projector's
    /// own thread, never a cooperative one) while the send runs as a task.
    @discardableResult
    public func publish(logTopic: String, chainSeq: Int64, chainHash: String, at time: Timestamp) throws -> AuditAnchor {
        let anchor = try signer.sign(AuditAnchor(logTopic: logTopic, chainSeq: chainSeq, chainHash: chainHash, anchoredAt: time.rfc3339))
        // One key for every anchor of a log: one partition, in publication order.
        let record = KafkaOutgoingRecord(key: Array(logTopic.utf8), value: anchor.recordValue)
        let wait = DeliveryWait()
        let producer = self.producer
        Task {
            wait.result = await producer.send([record]).first
            wait.done.signal()
        }
        wait.done.wait()
        _ = try wait.result!.get()
        return anchor
    }

    public func shutdown() { producer.shutdown() }
}

/// One delivery report handed from the sending task to the waiting thread; the semaphore orders the write before the read.
private final class DeliveryWait: @unchecked Sendable {
    var result: Result<KafkaDelivery, KafkaError>?
    let done = DispatchSemaphore(value: 0)
}

/// Every anchor record of the anchor topic, read from the start of each partition to its end.
public enum AnchorLog {
    public struct Unreadable: Error, CustomStringConvertible {
        public var topic: String
        public var reason: String
        public var description: String {
            "the anchor topic \(topic) cannot be read (\(reason)); check KAFKA_BOOTSTRAP_SERVERS and PROJECTOR_ANCHOR_TOPIC, "
                + "or verify without anchors with --no-anchors"
        }
    }

    /// An anchor as read, with where it was and whether its signature holds (nil: the record is not an anchor).
    public struct Entry: Sendable {
        public var partition: Int32
        public var offset: Int64
        public var anchor: AuditAnchor?
        public var signatureValid: Bool
    }

    public static func read(bootstrapServers: String, topic: String, properties: [String: String] = [:],
                            verifier: AnchorVerifier?, logger: Logger, timeoutSeconds: Double = 60) throws -> [Entry] {
        let records: [KafkaRecord]
        do {
            records = try TopicReader.readAll(bootstrapServers: bootstrapServers, topic: topic, properties: properties,
                                              logger: logger, timeoutSeconds: timeoutSeconds)
        } catch {
            throw Unreadable(topic: topic, reason: "\(error)")
        }
        return records.map { r in
            let anchor = AuditAnchor(recordValue: r.value)
            return Entry(partition: r.partition, offset: r.offset, anchor: anchor,
                         signatureValid: anchor.map { verifier?.isValid($0) ?? false } ?? false)
        }
    }
}

/// Reads a whole topic once: every partition from its first available offset to the end it had when reading began.
public enum TopicReader {
    public struct Incomplete: Error, CustomStringConvertible {
        public var description: String
    }

    public static func readAll(bootstrapServers: String, topic: String, properties: [String: String], logger: Logger,
                               timeoutSeconds: Double) throws -> [KafkaRecord] {
        let admin = try KafkaAdmin(bootstrapServers: bootstrapServers)
        let count = try admin.partitionCount(topic: topic)
        var ends: [Int32: Int64] = [:]
        var starts: [Int32: Int64] = [:]
        for p in 0..<Int32(count) {
            let w = try admin.watermarks(topic: topic, partition: p)
            if w.high > w.low { ends[p] = w.high; starts[p] = w.low }
        }
        guard !ends.isEmpty else { return [] }
        var configuration = KafkaConsumerConfiguration(bootstrapServers: bootstrapServers, topic: topic,
                                                       groupID: "audit-read-" + String(UInt64.random(in: 0...UInt64.max), radix: 36))
        configuration.sessionTimeoutMs = 6_000
        configuration.additionalProperties = properties
        let startOffsets = starts
        let consumer = try KafkaConsumer(configuration: configuration, rebalance: RebalanceHandler(assigned: { ps in
            Dictionary(uniqueKeysWithValues: ps.map { ($0, startOffsets[$0] ?? 0) })
        }), logger: logger)
        defer { consumer.close() }
        var position = starts
        var out: [KafkaRecord] = []
        let deadline = ContinuousClock.now + .seconds(timeoutSeconds)
        while position.contains(where: { $0.value < ends[$0.key]! }), ContinuousClock.now < deadline {
            let records = try consumer.poll(maxRecords: 5_000, timeoutMs: 200).filter { $0.offset < (ends[$0.partition] ?? 0) }
            for r in records { position[r.partition] = max(position[r.partition] ?? 0, r.offset + 1) }
            out += records
        }
        if position.contains(where: { $0.value < ends[$0.key]! }) {
            throw Incomplete(description: "could not read all of \(topic) within \(Int(timeoutSeconds)) s")
        }
        return out.sorted { ($0.partition, $0.offset) < ($1.partition, $1.offset) }
    }
}
