import CRdKafka

/// librdkafka's in-process mock cluster: a real Kafka protocol endpoint on loopback TCP, for development and tests.
///
/// It keeps at most about 5 MiB of record batches per partition and trims older ones silently, so create
/// topics with enough partitions and produce compressed records.
///
/// Sendable: librdkafka's mock functions hand their work to the cluster's own thread, so any thread may call them.
public final class MockKafkaCluster: @unchecked Sendable {
    private let host: OpaquePointer
    private let cluster: OpaquePointer

    public init(brokers: Int32 = 1) throws(KafkaError) {
        // The cluster lives inside a client instance; a producer with no brokers is the lightest host.
        let conf = try RDKafkaConfig.make([("log_level", "3")])
        host = try RDKafkaConfig.newClient(RD_KAFKA_PRODUCER, conf: conf)
        guard let cluster = rd_kafka_mock_cluster_new(host, brokers) else {
            rd_kafka_destroy(host)
            throw .clientCreation("rd_kafka_mock_cluster_new failed")
        }
        self.cluster = cluster
        disableNagle()
    }

    /// Kafka's brokers set TCP_NODELAY on every connection; the mock does not, so a response sent behind another
    /// unacknowledged one waited for the client's delayed ACK (40 ms on Linux): the p99 of a producer with several
    /// requests in flight was that, not the broker. Accepted connections inherit the option from the listener.
    private func disableNagle() {
        #if os(Linux)
        for socket in ProcessSocket.all() where socket.listening && brokerPorts.contains(socket.localPort) {
            socket.setNoDelay()
        }
        #endif
    }

    deinit {
        rd_kafka_mock_cluster_destroy(cluster)
        rd_kafka_destroy(host)
    }

    /// `host:port[,host:port]` to put in `bootstrap.servers`.
    public var bootstrapServers: String {
        String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
    }

    /// The brokers' loopback ports, from `bootstrapServers`.
    public var brokerPorts: Set<UInt16> {
        Set(bootstrapServers.split(separator: ",").compactMap { $0.split(separator: ":").last.flatMap { UInt16($0) } })
    }

    public func createTopic(_ name: String, partitions: Int32, replicationFactor: Int32 = 1) throws(KafkaError) {
        let err = rd_kafka_mock_topic_create(cluster, name, partitions, replicationFactor)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw .client(code: err.rawValue, message: "create topic \(name): \(errorName(err))")
        }
    }

    /// Lets a client ask about a topic without creating it. The mock answers only Metadata versions below 4 by default,
    /// which cannot carry `allow.auto.create.topics=false`, so it creates (4 partitions) any unknown topic a client
    /// merely asks about; with Metadata up to v9 it answers "unknown topic" as a real broker without auto-creation does.
    public func answerMetadataWithoutAutoCreation() {
        rd_kafka_mock_set_apiversion(cluster, 3 /* Metadata */, 0, 9)
    }

    /// Takes a broker down (connections closed, new ones refused) or brings it back.
    public func setBroker(_ id: Int32, up: Bool) {
        if up {
            rd_kafka_mock_broker_set_up(cluster, id)
            disableNagle()
        } else {
            rd_kafka_mock_broker_set_down(cluster, id)
        }
    }
}
