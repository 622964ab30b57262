import ArgumentParser
import Foundation
import IngestApp
import Kafka
import Logging
import ServiceLifecycle
import ServiceRuntime
import Telemetry
import TrialAuth
import TrialDomain

@main
struct Ingest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Accepts trial events over HTTP and appends them, validated, to the Kafka log.",
        subcommands: [Serve.self, Token.self],
        defaultSubcommand: Serve.self)
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the HTTP API (configuration from the environment; see README).")

    @Option(help: "Overrides INGEST_PORT.")
    var port: Int?

    func run() async throws {
        MallocArenas.limit()
        // Hummingbird's service group handles SIGTERM/SIGINT; make sure an inherited mask does not block them.
        ServiceGroup.unblockStopSignals()
        var configuration = try IngestConfiguration.fromEnvironment(ProcessInfo.processInfo.environment)
        if let port { configuration.port = port }
        configuration.logLevel.bootstrapLogging(format: configuration.logFormat)
        let registry = Telemetry.bootstrap()
        let logger = Logger(label: "ingest")
        let producer = try KafkaProducer(configuration: configuration.producerConfiguration, logger: logger)
        let app = try await buildIngestApplication(configuration: configuration, producer: producer, logger: logger,
                                                   metricsRegistry: registry)
        try await app.runService()
    }
}

struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Mint a development token: HS256 with INGEST_JWT_SECRET, or ES256 with INGEST_JWT_ES256_PRIVATE_KEY(_FILE).",
        discussion: "INGEST_JWT_ISSUER and INGEST_JWT_AUDIENCE, when set, are written into the token.")

    @Option(help: "The person (token subject).")
    var sub: String

    @Option(help: "The site the person works at, e.g. S01 (omit for study-wide roles).")
    var site: String?

    @Option(help: "One of: \(Role.allCases.map(\.rawValue).joined(separator: ", ")).")
    var role: String

    @Option(help: "Validity in hours.")
    var hours: Double = 8

    @Option(help: "HS256 or ES256.")
    var algorithm: String = "HS256"

    @Option(help: "The person's printed name (the 'name' claim a signature needs).")
    var name: String?

    @Flag(help: "Add 'auth_time' = now: the fresh authentication a signature needs (valid for INGEST_SIGNATURE_MAX_AUTH_AGE_SECONDS).")
    var authenticatedNow = false

    func run() async throws {
        guard let parsedRole = Role(rawValue: role) else {
            throw ValidationError("--role must be one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let parsedAlgorithm = TokenAlgorithm(rawValue: algorithm.uppercased()) else {
            throw ValidationError("--algorithm must be HS256 or ES256")
        }
        let env = EnvironmentReader(ProcessInfo.processInfo.environment)
        var settings = TokenSettings(issuer: try env.optionalString("INGEST_JWT_ISSUER"), audience: try env.optionalString("INGEST_JWT_AUDIENCE"))
        switch parsedAlgorithm {
        case .hs256:
            guard let secret = try env.secret("INGEST_JWT_SECRET") else {
                throw ValidationError("INGEST_JWT_SECRET is not set; source .stack/env or export it")
            }
            settings.hmacSecret = secret
        case .es256:
            guard let key = try env.secret("INGEST_JWT_ES256_PRIVATE_KEY") else {
                throw ValidationError("INGEST_JWT_ES256_PRIVATE_KEY(_FILE) is not set; give the P-256 private key (PEM)")
            }
            settings.es256PrivateKeyPEM = key
        }
        let authority = try await TokenAuthority(settings: settings)
        print(try await authority.mint(subject: sub, site: site, role: parsedRole, lifetime: hours * 3600, algorithm: parsedAlgorithm,
                                       name: name, authTime: authenticatedNow ? Date() : nil))
    }
}
