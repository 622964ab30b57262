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
        guard let rkt = rd_kafka_topic_new(handle, topic, nil) else {
            throw .client(code: -1, message: "could not create a handle for topic \(topic)")
        }
        defer { rd_kafka_topic_destroy(rkt) }
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let err = rd_kafka_metadata(handle, 0, rkt, &metadata, timeoutMs)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            throw .client(code: err.rawValue, message: "metadata for \(topic): \(errorName(err))")
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        guard metadata.pointee.topic_cnt == 1 else { throw .client(code: -1, message: "no metadata for \(topic)") }
        let topicMeta = metadata.pointee.topics[0]
        if topicMeta.err != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw .client(code: topicMeta.err.rawValue, message: "topic \(topic): \(errorName(topicMeta.err))")
        }
        return Int(topicMeta.partition_cnt)
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
