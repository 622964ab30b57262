import CRdKafka

/// What metadata says about a topic: every broker answers this (librdkafka's mock cluster too).
public struct TopicMetadata: Sendable, Equatable {
    public var name: String
    public var partitions: Int
    /// The fewest replicas any partition has: the replication factor, unless a reassignment is under way.
    public var minimumReplicas: Int

    public init(name: String, partitions: Int, minimumReplicas: Int) {
        self.name = name
        self.partitions = partitions
        self.minimumReplicas = minimumReplicas
    }
}

/// Creates topics and reads their settings through librdkafka's admin API (`rd_kafka_CreateTopics`,
/// `rd_kafka_DescribeConfigs`) and metadata. Used by `projector provision`.
///
/// Unlike `KafkaAdmin`, this client never lets a question create a topic: it sets `allow.auto.create.topics=false`,
/// so asking about a missing topic on a broker with `auto.create.topics.enable=true` does not create it with the
/// broker's defaults (finite retention, a handful of partitions) before it could be provisioned properly.
public final class KafkaTopicAdmin {
    private let handle: OpaquePointer

    /// Reaches the cluster as every other client does (`settings` carries SASL/SSL for production).
    public init(_ settings: KafkaClientSettings) throws(KafkaError) {
        let fixed = [("bootstrap.servers", settings.bootstrapServers), ("allow.auto.create.topics", "false")]
        let conf = try RDKafkaConfig.make(try settings.properties(fixed: fixed, client: "topic admin client"))
        handle = try RDKafkaConfig.newClient(RD_KAFKA_PRODUCER, conf: conf)
    }

    deinit { rd_kafka_destroy(handle) }

    /// Partitions and replicas of `topic`, or nil when the cluster does not know it.
    public func metadata(topic: String, timeoutMs: Int32) throws(KafkaError) -> TopicMetadata? {
        try topicMetadata(handle, topic: topic, timeoutMs: timeoutMs)
    }

    /// Creates `topic` with `partitions`, `replicationFactor` and the topic-level `configs` (`retention.ms`, ...).
    /// With `validateOnly` the broker only checks the request. Throws the broker's error for the topic, or
    /// `RD_KAFKA_RESP_ERR__TIMED_OUT` when no answer came within `timeoutMs` (a broker without CreateTopics, such as
    /// librdkafka's mock cluster, never answers).
    public func createTopic(_ topic: String, partitions: Int, replicationFactor: Int, configs: [String: String],
                            validateOnly: Bool = false, timeoutMs: Int32) throws(KafkaError) {
        var errstr = [CChar](repeating: 0, count: 512)
        guard let newTopic = rd_kafka_NewTopic_new(topic, Int32(partitions), Int32(replicationFactor), &errstr, errstr.count) else {
            throw .client(code: -1, message: "topic \(topic): \(cString(errstr))")
        }
        defer { rd_kafka_NewTopic_destroy(newTopic) }
        for (name, value) in configs.sorted(by: { $0.key < $1.key }) {
            let err = rd_kafka_NewTopic_set_config(newTopic, name, value)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw .configuration(property: name, message: "topic \(topic): \(errorName(err))")
            }
        }
        let options = try adminOptions(RD_KAFKA_ADMIN_OP_CREATETOPICS, timeoutMs: timeoutMs)
        defer { rd_kafka_AdminOptions_destroy(options) }
        if validateOnly {
            guard rd_kafka_AdminOptions_set_validate_only(options, 1, &errstr, errstr.count) == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw .client(code: -1, message: "validate_only: \(cString(errstr))")
            }
        }
        let queue = rd_kafka_queue_new(handle)!
        defer { rd_kafka_queue_destroy(queue) }
        var topics: [OpaquePointer?] = [newTopic]
        rd_kafka_CreateTopics(handle, &topics, 1, options, queue)
        let event = try awaitResult(queue, operation: "CreateTopics \(topic)", timeoutMs: timeoutMs)
        defer { rd_kafka_event_destroy(event) }
        guard let result = rd_kafka_event_CreateTopics_result(event) else {
            throw .client(code: -1, message: "CreateTopics \(topic): unexpected result event")
        }
        var count = 0
        guard let results = rd_kafka_CreateTopics_result_topics(result, &count) else { return }
        for index in 0..<count {
            let err = rd_kafka_topic_result_error(results[index])
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                let detail = rd_kafka_topic_result_error_string(results[index]).map { String(cString: $0) } ?? errorName(err)
                throw .client(code: err.rawValue, message: "CreateTopics \(topic): \(errorName(err)): \(detail)")
            }
        }
    }

    /// The topic's effective configuration (`retention.ms`, `cleanup.policy`, ...: defaults included), by
    /// DescribeConfigs. Throws `RD_KAFKA_RESP_ERR__TIMED_OUT` when no answer came (librdkafka's mock cluster does not
    /// implement DescribeConfigs).
    public func configuration(topic: String, timeoutMs: Int32) throws(KafkaError) -> [String: String] {
        guard let resource = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic) else {
            throw .client(code: -1, message: "could not describe topic \(topic)")
        }
        defer { rd_kafka_ConfigResource_destroy(resource) }
        let options = try adminOptions(RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeoutMs: timeoutMs)
        defer { rd_kafka_AdminOptions_destroy(options) }
        let queue = rd_kafka_queue_new(handle)!
        defer { rd_kafka_queue_destroy(queue) }
        var resources: [OpaquePointer?] = [resource]
        rd_kafka_DescribeConfigs(handle, &resources, 1, options, queue)
        let event = try awaitResult(queue, operation: "DescribeConfigs \(topic)", timeoutMs: timeoutMs)
        defer { rd_kafka_event_destroy(event) }
        guard let result = rd_kafka_event_DescribeConfigs_result(event) else {
            throw .client(code: -1, message: "DescribeConfigs \(topic): unexpected result event")
        }
        var resourceCount = 0
        guard let described = rd_kafka_DescribeConfigs_result_resources(result, &resourceCount), resourceCount == 1 else {
            throw .client(code: -1, message: "DescribeConfigs \(topic): no answer for the topic")
        }
        let err = rd_kafka_ConfigResource_error(described[0])
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            let detail = rd_kafka_ConfigResource_error_string(described[0]).map { String(cString: $0) } ?? ""
            throw .client(code: err.rawValue, message: "DescribeConfigs \(topic): \(errorName(err)) \(detail)")
        }
        var entryCount = 0
        var configs: [String: String] = [:]
        guard let entries = rd_kafka_ConfigResource_configs(described[0], &entryCount) else { return configs }
        for index in 0..<entryCount {
            guard let name = rd_kafka_ConfigEntry_name(entries[index]) else { continue }
            // A sensitive or unset value comes back as NULL: leave it out rather than invent one.
            guard let value = rd_kafka_ConfigEntry_value(entries[index]) else { continue }
            configs[String(cString: name)] = String(cString: value)
        }
        return configs
    }

    /// Whether `error` means the broker never answered an admin request (a timeout, or an API it does not offer).
    public static func isUnanswered(_ error: any Error) -> Bool {
        guard case .client(let code, _) = error as? KafkaError else { return false }
        return [RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE, RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION,
                RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT].map(\.rawValue).contains(code)
    }

    /// Whether `error` is the broker's "topic already exists" (another provisioner was first).
    public static func isTopicAlreadyExists(_ error: any Error) -> Bool {
        guard case .client(let code, _) = error as? KafkaError else { return false }
        return code == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS.rawValue
    }

    private func adminOptions(_ operation: rd_kafka_admin_op_t, timeoutMs: Int32) throws(KafkaError) -> OpaquePointer {
        let options = rd_kafka_AdminOptions_new(handle, operation)!
        var errstr = [CChar](repeating: 0, count: 512)
        guard rd_kafka_AdminOptions_set_request_timeout(options, timeoutMs, &errstr, errstr.count) == RD_KAFKA_RESP_ERR_NO_ERROR else {
            rd_kafka_AdminOptions_destroy(options)
            throw .client(code: -1, message: "request timeout: \(cString(errstr))")
        }
        if operation == RD_KAFKA_ADMIN_OP_CREATETOPICS {
            // Wait for the controller to report the topic created, not just accepted.
            _ = rd_kafka_AdminOptions_set_operation_timeout(options, timeoutMs, &errstr, errstr.count)
        }
        return options
    }

    /// The admin result event, or the error the whole request failed with (timeout, no controller, ...).
    private func awaitResult(_ queue: OpaquePointer, operation: String, timeoutMs: Int32) throws(KafkaError) -> OpaquePointer {
        // librdkafka answers a timed-out request itself after `timeoutMs`; the margin only guards against a hang.
        guard let event = rd_kafka_queue_poll(queue, Int32(clamping: Int64(timeoutMs) + 5_000)) else {
            throw .client(code: RD_KAFKA_RESP_ERR__TIMED_OUT.rawValue, message: "\(operation): no answer within \(timeoutMs) ms")
        }
        let err = rd_kafka_event_error(event)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            let detail = rd_kafka_event_error_string(event).map { String(cString: $0) } ?? errorName(err)
            rd_kafka_event_destroy(event)
            throw .client(code: err.rawValue, message: "\(operation): \(detail)")
        }
        return event
    }
}

/// Partitions and replicas of `topic` as `client` sees them, or nil when the cluster does not know it.
func topicMetadata(_ client: OpaquePointer, topic: String, timeoutMs: Int32) throws(KafkaError) -> TopicMetadata? {
    guard let rkt = rd_kafka_topic_new(client, topic, nil) else {
        throw .client(code: -1, message: "could not create a handle for topic \(topic)")
    }
    defer { rd_kafka_topic_destroy(rkt) }
    var metadata: UnsafePointer<rd_kafka_metadata>?
    let err = rd_kafka_metadata(client, 0, rkt, &metadata, timeoutMs)
    guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
        throw .client(code: err.rawValue, message: "metadata for \(topic): \(errorName(err))")
    }
    defer { rd_kafka_metadata_destroy(metadata) }
    guard metadata.pointee.topic_cnt == 1 else { throw .client(code: -1, message: "no metadata for \(topic)") }
    let topicMeta = metadata.pointee.topics[0]
    if topicMeta.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART { return nil }
    if topicMeta.err != RD_KAFKA_RESP_ERR_NO_ERROR {
        throw .client(code: topicMeta.err.rawValue, message: "topic \(topic): \(errorName(topicMeta.err))")
    }
    let partitions = Int(topicMeta.partition_cnt)
    let replicas = (0..<partitions).map { Int(topicMeta.partitions[$0].replica_cnt) }.min() ?? 0
    return TopicMetadata(name: topic, partitions: partitions, minimumReplicas: replicas)
}
