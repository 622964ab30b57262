import Anchoring
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
    /// `PROJECTOR_GATHER_MS` / `PROJECTOR_GATHER_GAP_MS`: after a batch's first record, records still arriving are
    /// gathered into it for up to `PROJECTOR_GATHER_MS`, until none came for `PROJECTOR_GATHER_GAP_MS` (0 turns it
    /// off). Every batch costs PostgreSQL a fixed price (its transaction, locks and a statement per read model), so
    /// under a steady stream a few milliseconds of gathering leave more of the machine for everything else; a lone
    /// event waits one gap at most. 5 and 2 measured best at 1,000 events/s on 2 cores (README, Performance).
    public var gather = GatherWindow(windowMs: 5, gapMs: 2)
    /// `PROJECTOR_FOLD_SAVE_EVERY`: a participant's fold state is saved at least every this many batches that advance
    /// it (kept in memory in between; 1 saves every batch). Higher: less CPU per batch, more participants folded from
    /// the archive after a restart or a partition move.
    public var foldSaveEvery = 8
    /// `LOG_LEVEL`.
    public var logLevel = LogLevelSetting.info
    /// `LOG_FORMAT`: `text` or `json` (one object per line).
    public var logFormat = LogFormat.text
    /// `PROJECTOR_ADMIN_PORT`: where `projector run` serves `GET /metrics`, `/health` and `/ready`; unset (the default):
    /// no admin server. Several projectors on one host need one port each.
    public var adminPort: Int?
    /// `PROJECTOR_ADMIN_HOST`: the admin server's address; `0.0.0.0` for a scraper on another host.
    public var adminHost = "127.0.0.1"
    /// Signed chain heads published to Kafka (README "Anchors"). `fromEnvironment` insists on them unless
    /// `PROJECTOR_ANCHORS=off`; a configuration built in code (tests, tools) has none unless it sets them.
    public var anchors: AnchorSettings?

    /// Where and how often the projector publishes anchors, and the key it signs them with.
    public struct AnchorSettings: Sendable {
        /// `PROJECTOR_ANCHOR_KEY` (or `_FILE`): P-256 private key, PEM. Never stored in the database.
        public var signer: AnchorSigner
        /// `PROJECTOR_ANCHOR_TOPIC`.
        public var topic = "trial.audit-anchors"
        /// `PROJECTOR_ANCHOR_EVERY_EVENTS`: an anchor at least after this many newly archived events.
        public var everyEvents = 1_000
        /// `PROJECTOR_ANCHOR_EVERY_SECONDS`: and at least this often while the chain grows.
        public var everySeconds = 60

        public init(signer: AnchorSigner) { self.signer = signer }
    }

    /// `PROJECTOR_ANCHORS`: `on` (the default: a key is required) or `off` (no anchors; `reporter audit verify` then
    /// needs `--no-anchors`). There is no unsigned mode: an unsigned anchor proves nothing to an auditor.
    public enum AnchorMode: String, Sendable, CaseIterable { case on, off }

    public init() {}

    /// With `anchoring` (only `projector run` publishes anchors) the anchor settings are read and required; the other
    /// subcommands (migrate, lag, rebuild) never need the signing key.
    public static func fromEnvironment(_ environment: [String: String], anchoring: Bool = false) throws -> ProjectorConfiguration {
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
        c.gather = GatherWindow(
            windowMs: Int32(try env.integer("PROJECTOR_GATHER_MS", default: Int(c.gather.windowMs), in: 0...1_000)),
            gapMs: Int32(try env.integer("PROJECTOR_GATHER_GAP_MS", default: Int(c.gather.gapMs), in: 1...1_000)))
        c.foldSaveEvery = try env.integer("PROJECTOR_FOLD_SAVE_EVERY", default: c.foldSaveEvery, in: 1...1_000)
        c.logLevel = try env.choice("LOG_LEVEL", default: c.logLevel)
        c.logFormat = try env.choice("LOG_FORMAT", default: c.logFormat)
        c.adminPort = try env.optionalInteger("PROJECTOR_ADMIN_PORT", in: 1...65_535)
        c.adminHost = try env.string("PROJECTOR_ADMIN_HOST", default: c.adminHost)
        let mode: AnchorMode = try anchoring ? env.choice("PROJECTOR_ANCHORS", default: AnchorMode.on) : .off
        switch mode {
        case .off:
            c.anchors = nil
        case .on:
            guard let pem = try env.secret("PROJECTOR_ANCHOR_KEY") else {
                throw EnvironmentReader.Failure(variable: "PROJECTOR_ANCHOR_KEY", reason: """
                    (or PROJECTOR_ANCHOR_KEY_FILE) is not set: the projector signs the chain heads it publishes to Kafka with a \
                    P-256 private key (PEM) the database never sees. Create one with `openssl ecparam -name prime256v1 -genkey \
                    -noout | openssl pkcs8 -topk8 -nocrypt`, or set PROJECTOR_ANCHORS=off to run without anchors
                    """)
            }
            let signer: AnchorSigner
            do { signer = try AnchorSigner(pem: pem) } catch {
                throw EnvironmentReader.Failure(variable: env.environment["PROJECTOR_ANCHOR_KEY"] == nil ? "PROJECTOR_ANCHOR_KEY_FILE" : "PROJECTOR_ANCHOR_KEY",
                                                reason: "holds \(error)")
            }
            var anchors = AnchorSettings(signer: signer)
            anchors.topic = try env.string("PROJECTOR_ANCHOR_TOPIC", default: anchors.topic)
            anchors.everyEvents = try env.integer("PROJECTOR_ANCHOR_EVERY_EVENTS", default: anchors.everyEvents, in: 1...10_000_000)
            anchors.everySeconds = try env.integer("PROJECTOR_ANCHOR_EVERY_SECONDS", default: anchors.everySeconds, in: 1...86_400)
            c.anchors = anchors
        }
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
