import Kafka
import Postgres
import ServiceRuntime
import TrialDomain

/// The projector's settings, read from the environment (defaults match `.stack/env` of the dev stack).
public struct ProjectorConfiguration: Sendable {
    /// `DATABASE_URL`: libpq connection URI of the schema owner; used only to apply migrations.
    public var databaseURL = "postgresql://postgres@127.0.0.1:5432/trial"
    /// `PROJECTOR_DATABASE_URL`: the login for the projector's work; default `DATABASE_URL`. Either way the session
    /// acts as the `trial_projector` role, which may append to the archive but never change it.
    public var projectorDatabaseURL: String?
    /// `KAFKA_BOOTSTRAP_SERVERS`.
    public var bootstrapServers = "127.0.0.1:9092"
    /// `KAFKA_TOPIC`.
    public var topic = "trial.events"
    /// `KAFKA_PROPERTIES`: extra librdkafka properties, `k=v;k=v` (e.g. SASL/SSL for production).
    public var kafkaProperties: [String: String] = [:]
    /// `PROJECTOR_GROUP_ID`: projectors sharing it split the partitions between them.
    public var groupID = "trial-projector"
    /// `PROJECTOR_SESSION_TIMEOUT_MS`: how soon the group reassigns the partitions of a silent projector.
    public var sessionTimeoutMs = 6_000
    /// `PROJECTOR_BATCH_SIZE`: most records applied in one transaction.
    public var batchSize = 5_000
    /// `PROJECTOR_POLL_TIMEOUT_MS`: how long to wait for the first record of a batch.
    public var pollTimeoutMs = 100
    /// `PROJECTOR_CACHE_EVENTS`: most archived events kept decoded in memory (recently touched participants'
    /// histories), so small batches need not reload them; 0 turns the cache off.
    public var historyCacheEvents = 100_000
    /// `LOG_LEVEL`.
    public var logLevel = LogLevelSetting.info

    public init() {}

    public static func fromEnvironment(_ environment: [String: String]) throws -> ProjectorConfiguration {
        let env = EnvironmentReader(environment)
        var c = ProjectorConfiguration()
        c.databaseURL = try env.string("DATABASE_URL", default: c.databaseURL)
        c.projectorDatabaseURL = try env.optionalString(DatabaseRole.projector.urlVariable)
        c.bootstrapServers = try env.string("KAFKA_BOOTSTRAP_SERVERS", default: c.bootstrapServers)
        c.topic = try env.string("KAFKA_TOPIC", default: c.topic)
        c.kafkaProperties = try env.properties("KAFKA_PROPERTIES")
        c.groupID = try env.string("PROJECTOR_GROUP_ID", default: c.groupID)
        c.sessionTimeoutMs = try env.integer("PROJECTOR_SESSION_TIMEOUT_MS", default: c.sessionTimeoutMs, in: 1_000...300_000)
        c.batchSize = try env.integer("PROJECTOR_BATCH_SIZE", default: c.batchSize, in: 1...100_000)
        c.pollTimeoutMs = try env.integer("PROJECTOR_POLL_TIMEOUT_MS", default: c.pollTimeoutMs, in: 1...10_000)
        c.historyCacheEvents = try env.integer("PROJECTOR_CACHE_EVENTS", default: c.historyCacheEvents, in: 0...10_000_000)
        c.logLevel = try env.choice("LOG_LEVEL", default: c.logLevel)
        return c
    }

    /// A connection for the projector's work, acting as `trial_projector`, named `applicationName` in
    /// `pg_stat_activity` so an operator can find (and cancel or terminate) the projector's backends.
    public func projectorConnection(applicationName: String = "projector") throws -> PostgresConnection {
        try PostgresConnection(url: projectorDatabaseURL ?? databaseURL, role: DatabaseRole.projector.rawValue,
                               applicationName: applicationName)
    }

    /// How every Kafka client of the projector (consumer, lag, log cross-check) reaches the cluster.
    public var kafkaClient: KafkaClientSettings {
        KafkaClientSettings(bootstrapServers: bootstrapServers, additionalProperties: kafkaProperties)
    }

    var consumerConfiguration: KafkaConsumerConfiguration {
        var k = KafkaConsumerConfiguration(bootstrapServers: bootstrapServers, topic: topic, groupID: groupID)
        k.sessionTimeoutMs = sessionTimeoutMs
        k.additionalProperties = kafkaProperties
        return k
    }
}
