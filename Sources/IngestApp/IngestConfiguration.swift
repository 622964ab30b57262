import Kafka
import TrialDomain

/// ingest's settings, read from the environment (defaults match `.stack/env` of the dev stack).
public struct IngestConfiguration: Sendable {
    /// `INGEST_HOST`, `INGEST_PORT`: where to listen.
    public var host = "127.0.0.1"
    public var port = 8080
    /// `KAFKA_BOOTSTRAP_SERVERS`, `KAFKA_TOPIC`, `KAFKA_PROPERTIES` (extra librdkafka `k=v;k=v`).
    public var bootstrapServers = "127.0.0.1:9092"
    public var topic = "trial.events"
    public var kafkaProperties: [String: String] = [:]
    /// `KAFKA_MESSAGE_TIMEOUT_MS`: how long an event may wait for the broker's acknowledgement before ingest answers 503.
    public var messageTimeoutMs = 5_000
    /// `KAFKA_LINGER_MS`: producer batching delay.
    public var lingerMs = 2
    /// `INGEST_JWT_SECRET`: HS256 key for bearer tokens (at least 32 bytes). Required.
    public var jwtSecret = ""
    /// `INGEST_MAX_BODY_BYTES`: larger request bodies get 413.
    public var maxBodyBytes = 4 * 1024 * 1024
    /// `INGEST_MAX_BATCH`: most events in one batch request (at most 1000).
    public var maxBatch = 1_000
    /// `INGEST_MAX_IN_FLIGHT`: requests handled at once; more get 503 with Retry-After.
    public var maxInFlight = 512
    /// `INGEST_CLOCK_SKEW_SECONDS`: how far in the future `occurred_at` may be.
    public var clockSkewSeconds = 300
    /// `LOG_LEVEL`.
    public var logLevel = LogLevelSetting.info

    public init(jwtSecret: String) {
        self.jwtSecret = jwtSecret
    }

    public static func fromEnvironment(_ environment: [String: String]) throws -> IngestConfiguration {
        let env = EnvironmentReader(environment)
        var c = IngestConfiguration(jwtSecret: try env.required(
            "INGEST_JWT_SECRET", hint: "set it to a random secret of at least 32 bytes (the dev stack writes one to .stack/env)"))
        c.host = try env.string("INGEST_HOST", default: c.host)
        c.port = try env.integer("INGEST_PORT", default: c.port, in: 0...65_535)
        c.bootstrapServers = try env.string("KAFKA_BOOTSTRAP_SERVERS", default: c.bootstrapServers)
        c.topic = try env.string("KAFKA_TOPIC", default: c.topic)
        c.kafkaProperties = try env.properties("KAFKA_PROPERTIES")
        c.messageTimeoutMs = try env.integer("KAFKA_MESSAGE_TIMEOUT_MS", default: c.messageTimeoutMs, in: 100...300_000)
        c.lingerMs = try env.integer("KAFKA_LINGER_MS", default: c.lingerMs, in: 0...1_000)
        c.maxBodyBytes = try env.integer("INGEST_MAX_BODY_BYTES", default: c.maxBodyBytes, in: 1_024...64 * 1024 * 1024)
        c.maxBatch = try env.integer("INGEST_MAX_BATCH", default: c.maxBatch, in: 1...1_000)
        c.maxInFlight = try env.integer("INGEST_MAX_IN_FLIGHT", default: c.maxInFlight, in: 1...100_000)
        c.clockSkewSeconds = try env.integer("INGEST_CLOCK_SKEW_SECONDS", default: c.clockSkewSeconds, in: 0...86_400)
        c.logLevel = try env.choice("LOG_LEVEL", default: c.logLevel)
        return c
    }

    public var producerConfiguration: KafkaProducerConfiguration {
        var k = KafkaProducerConfiguration(bootstrapServers: bootstrapServers, topic: topic)
        k.messageTimeoutMs = messageTimeoutMs
        k.lingerMs = lingerMs
        k.additionalProperties = kafkaProperties
        return k
    }
}
