import Kafka
import ServiceRuntime
import TrialAuth
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
    /// Bearer-token keys and expectations: `INGEST_JWT_SECRET` (HS256, at least 32 bytes) and/or
    /// `INGEST_JWT_ES256_PUBLIC_KEY` (PEM), each also readable from a file named by the same variable plus `_FILE`;
    /// `INGEST_JWT_ISSUER`, `INGEST_JWT_AUDIENCE` when tokens must carry them. At least one key is required.
    public var tokens: TokenSettings
    /// `INGEST_MAX_BODY_BYTES`: larger request bodies get 413.
    public var maxBodyBytes = 4 * 1024 * 1024
    /// `INGEST_MAX_BATCH`: most events in one batch request (at most 1000).
    public var maxBatch = 1_000
    /// `INGEST_MAX_IN_FLIGHT`: requests handled at once; more get 503 with Retry-After.
    public var maxInFlight = 512
    /// `INGEST_MAX_CONNECTIONS`: open client connections; beyond it new connections wait in the kernel's backlog.
    public var maxConnections = 1_024
    /// `INGEST_REQUEST_TIMEOUT_SECONDS`: a connection must deliver a complete request within this long (from opening,
    /// or from the previous answer) or it is closed, so slow or stuck clients cannot hold connections.
    public var requestTimeoutSeconds = 30
    /// `INGEST_CLOCK_SKEW_SECONDS`: how far in the future `occurred_at` may be.
    public var clockSkewSeconds = 300
    /// `INGEST_DATABASE_URL`: a login that may act as `trial_ingest` (reads `audit.event_digests` only). When set,
    /// ingest refuses (409) an event_id the archive already holds with other content; when unset, or when PostgreSQL
    /// does not answer in time, it accepts as before and the projector parks the conflict in `audit.rejected`.
    public var databaseURL: String?
    /// `INGEST_READ_TIMEOUT_MS`: how long one answer of the site read API may take (waiting for the read connection and
    /// the statement together) before it is 503 "retry shortly".
    public var readTimeoutMs = 5_000
    /// `INGEST_SIGNATURE_MAX_AUTH_AGE_SECONDS`: how long ago the token's `auth_time` may be for a `signature.applied`
    /// (21 CFR 11.200: signing needs a fresh authentication); default 5 minutes.
    public var signatureMaxAuthAgeSeconds = 300
    /// `LOG_LEVEL`.
    public var logLevel = LogLevelSetting.info
    /// `LOG_FORMAT`: `text` or `json` (one object per line).
    public var logFormat = LogFormat.text

    public init(tokens: TokenSettings) {
        self.tokens = tokens
    }

    public init(jwtSecret: String) {
        self.init(tokens: TokenSettings(hmacSecret: jwtSecret))
    }

    public static func fromEnvironment(_ environment: [String: String]) throws -> IngestConfiguration {
        let env = EnvironmentReader(environment)
        var c = IngestConfiguration(tokens: try tokenSettings(env))
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
        c.maxConnections = try env.integer("INGEST_MAX_CONNECTIONS", default: c.maxConnections, in: 1...1_000_000)
        c.readTimeoutMs = try env.integer("INGEST_READ_TIMEOUT_MS", default: c.readTimeoutMs, in: 100...300_000)
        c.requestTimeoutSeconds = try env.integer("INGEST_REQUEST_TIMEOUT_SECONDS", default: c.requestTimeoutSeconds, in: 1...3_600)
        c.clockSkewSeconds = try env.integer("INGEST_CLOCK_SKEW_SECONDS", default: c.clockSkewSeconds, in: 0...86_400)
        c.databaseURL = try env.optionalString(DatabaseRole.ingest.urlVariable)
        c.signatureMaxAuthAgeSeconds = try env.integer("INGEST_SIGNATURE_MAX_AUTH_AGE_SECONDS", default: c.signatureMaxAuthAgeSeconds,
                                                       in: 10...86_400)
        c.logLevel = try env.choice("LOG_LEVEL", default: c.logLevel)
        c.logFormat = try env.choice("LOG_FORMAT", default: c.logFormat)
        return c
    }

    /// The bearer-token keys and expectations (`INGEST_JWT_*`): one configuration for every service that verifies the
    /// study's tokens (ingest, `reporter serve`).
    public static func tokenSettings(_ env: EnvironmentReader) throws -> TokenSettings {
        let tokens = TokenSettings(hmacSecret: try env.secret("INGEST_JWT_SECRET"),
                                   es256PublicKeyPEM: try env.secret("INGEST_JWT_ES256_PUBLIC_KEY"),
                                   issuer: try env.optionalString("INGEST_JWT_ISSUER"),
                                   audience: try env.optionalString("INGEST_JWT_AUDIENCE"))
        guard tokens.hmacSecret != nil || tokens.es256PublicKeyPEM != nil else {
            throw EnvironmentReader.Failure(
                variable: "INGEST_JWT_SECRET", reason: "is not set, nor INGEST_JWT_ES256_PUBLIC_KEY: set a random secret of at least "
                    + "32 bytes (the dev stack writes one to .stack/env) or an ES256 public key (PEM), directly or via *_FILE")
        }
        return tokens
    }

    public var producerConfiguration: KafkaProducerConfiguration {
        var k = KafkaProducerConfiguration(bootstrapServers: bootstrapServers, topic: topic)
        k.messageTimeoutMs = messageTimeoutMs
        k.lingerMs = lingerMs
        k.additionalProperties = kafkaProperties
        return k
    }
}
