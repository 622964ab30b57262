/// What every Kafka client of this system shares: where the cluster is and how to reach it. One value feeds the
/// producer, the consumer, and the admin client behind `projector lag` and the rebuild's log cross-check, so a
/// cluster behind SASL/SSL is reached by all of them alike.
public struct KafkaClientSettings: Sendable, Equatable {
    /// `bootstrap.servers`.
    public var bootstrapServers: String
    /// Anything else, e.g. `security.protocol`, `sasl.mechanism` for a production cluster (`KAFKA_PROPERTIES`).
    /// A property a client fixes for correctness (`acks`, `enable.idempotence`, `auto.offset.reset`, ...) is refused.
    public var additionalProperties: [String: String]

    public init(bootstrapServers: String, additionalProperties: [String: String] = [:]) {
        self.bootstrapServers = bootstrapServers
        self.additionalProperties = additionalProperties
    }

    /// librdkafka's other names for the properties clients fix: setting either spelling would override the fix.
    static let aliases: [String: [String]] = [
        "acks": ["request.required.acks"],
        "compression.codec": ["compression.type"],
        "linger.ms": ["queue.buffering.max.ms"],
        "message.timeout.ms": ["delivery.timeout.ms"],
        "auto.offset.reset": ["topic.auto.offset.reset"],
    ]

    /// What every client sets unless the additional properties say otherwise. Requests go out at once instead of
    /// waiting for Nagle's algorithm, as the Java client and Kafka's brokers do (TCP_NODELAY): with it on, a request
    /// sent behind another unacknowledged one waits for the broker's delayed ACK, 40 ms on Linux, which was the whole
    /// tail of ingest's single-event latency (p99 43 ms against p50 4 ms).
    static let defaults: [(String, String)] = [("socket.nagle.disable", "true")]

    /// `fixed`, then `defaults` not overridden, then the additional properties; refuses an additional property that
    /// would silently override one of `fixed` (librdkafka applies the last value set), naming it and the value this
    /// client needs.
    func properties(fixed: [(String, String)], client: String) throws(KafkaError) -> [(String, String)] {
        var fixedNames: [String: String] = [:]
        for (name, value) in fixed {
            fixedNames[name] = value
            for alias in Self.aliases[name] ?? [] { fixedNames[alias] = value }
        }
        for name in additionalProperties.keys.sorted() {
            if let needed = fixedNames[name] {
                throw .configuration(property: name, message: "the \(client) sets it to '\(needed)' (durability and exactly-once depend "
                    + "on it, or it has a setting of its own); remove it from the additional properties (KAFKA_PROPERTIES)")
            }
        }
        return fixed + Self.defaults.filter { additionalProperties[$0.0] == nil && fixedNames[$0.0] == nil }
            + additionalProperties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}

/// Producer settings. Each field names the librdkafka property it sets; `additionalProperties` sets any other.
public struct KafkaProducerConfiguration: Sendable {
    /// `bootstrap.servers`.
    public var bootstrapServers: String
    /// Topic every record goes to.
    public var topic: String
    /// `message.timeout.ms`: how long a record may wait for the broker's acknowledgement before it fails. Default 5000.
    public var messageTimeoutMs: Int = 5_000
    /// `linger.ms`: how long to wait to fill a batch. Default 2.
    public var lingerMs: Int = 2
    /// `compression.codec`. Default `lz4`.
    public var compression: String = "lz4"
    /// Anything else, e.g. `security.protocol`, `sasl.mechanism` for a production cluster.
    public var additionalProperties: [String: String] = [:]

    public init(bootstrapServers: String, topic: String) {
        self.bootstrapServers = bootstrapServers
        self.topic = topic
    }

    /// Durability is not configurable: `acks=all` and the idempotent producer are always on.
    var properties: [(String, String)] {
        get throws(KafkaError) {
            try KafkaClientSettings(bootstrapServers: bootstrapServers, additionalProperties: additionalProperties)
                .properties(fixed: fixedProperties, client: "producer")
        }
    }

    private var fixedProperties: [(String, String)] {
        [
            ("bootstrap.servers", bootstrapServers),
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("compression.codec", compression),
            ("linger.ms", String(lingerMs)),
            ("message.timeout.ms", String(messageTimeoutMs)),
            // Same key → partition mapping as the Java client, so other producers agree with us.
            ("partitioner", "murmur2_random"),
        ]
    }
}

/// Consumer settings. Offsets come from the application (its checkpoints), never from `auto.offset.reset`.
public struct KafkaConsumerConfiguration: Sendable {
    /// `bootstrap.servers`.
    public var bootstrapServers: String
    public var topic: String
    /// `group.id`: instances with the same id share the partitions.
    public var groupID: String
    /// `fetch.wait.max.ms`: how long the broker may hold a fetch to fill it. Default 10, for freshness.
    public var fetchWaitMaxMs: Int = 10
    /// `session.timeout.ms`: how long the group waits for a silent member before reassigning its partitions.
    /// Default 6000 (the broker's usual minimum): a restarted or crashed projector is replaced within seconds.
    /// `heartbeat.interval.ms` is set to a sixth of it.
    public var sessionTimeoutMs: Int = 6_000
    /// `queued.max.messages.kbytes`: records fetched ahead of the application. librdkafka's 64 MiB default
    /// would be a third of the projector's memory budget; 16 MiB still keeps several full batches ready.
    public var prefetchKilobytes: Int = 16_384
    public var additionalProperties: [String: String] = [:]

    public init(bootstrapServers: String, topic: String, groupID: String) {
        self.bootstrapServers = bootstrapServers
        self.topic = topic
        self.groupID = groupID
    }

    var properties: [(String, String)] {
        get throws(KafkaError) {
            try KafkaClientSettings(bootstrapServers: bootstrapServers, additionalProperties: additionalProperties)
                .properties(fixed: fixedProperties, client: "consumer")
        }
    }

    private var fixedProperties: [(String, String)] {
        [
            ("bootstrap.servers", bootstrapServers),
            ("group.id", groupID),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            // Never silently jump to another offset when the one we need is gone.
            ("auto.offset.reset", "error"),
            ("fetch.wait.max.ms", String(fetchWaitMaxMs)),
            ("session.timeout.ms", String(sessionTimeoutMs)),
            ("heartbeat.interval.ms", String(max(100, sessionTimeoutMs / 6))),
            ("enable.partition.eof", "false"),
            ("queued.max.messages.kbytes", String(prefetchKilobytes)),
        ]
    }
}
