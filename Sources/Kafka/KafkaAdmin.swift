import CRdKafka
import Logging

/// Read-only questions about a topic: how many partitions, where each one's log starts and ends.
public final class KafkaAdmin {
    private let handle: OpaquePointer

    /// Reaches the cluster as every other client does (`settings` carries SASL/SSL for production).
    public init(_ settings: KafkaClientSettings) throws(KafkaError) {
        let conf = try RDKafkaConfig.make(try settings.properties(fixed: [("bootstrap.servers", settings.bootstrapServers)], client: "admin client"))
        handle = try RDKafkaConfig.newClient(RD_KAFKA_PRODUCER, conf: conf)
    }

    public convenience init(bootstrapServers: String) throws(KafkaError) {
        try self.init(KafkaClientSettings(bootstrapServers: bootstrapServers))
    }

    deinit { rd_kafka_destroy(handle) }

    public func partitionCount(topic: String, timeoutMs: Int32 = 5_000) throws(KafkaError) -> Int {
        guard let metadata = try topicMetadata(handle, topic: topic, timeoutMs: timeoutMs) else {
            let unknown = RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART
            throw .client(code: unknown.rawValue, message: "topic \(topic): \(errorName(unknown))")
        }
        return metadata.partitions
    }

    /// The first offset still in the log and the offset the next record will get.
    public func watermarks(topic: String, partition: Int32, timeoutMs: Int32 = 5_000) throws(KafkaError) -> (low: Int64, high: Int64) {
        var low: Int64 = 0
        var high: Int64 = 0
        let err = rd_kafka_query_watermark_offsets(handle, topic, partition, &low, &high, timeoutMs)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw .client(code: err.rawValue, message: "watermarks of \(topic) partition \(partition): \(errorName(err))")
        }
        return (low, high)
    }
}
