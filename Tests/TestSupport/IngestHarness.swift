import Foundation
import Hummingbird
import HummingbirdTesting
import IngestApp
import Kafka
import NIOCore
import TrialAuth
import TrialDomain

/// ingest's HTTP application in-process (Hummingbird's test client), producing to a topic of its own on the stack's
/// broker (or another), with a fresh database for a projector to fill.
public struct IngestHarness: Sendable {
    public static let secret = String(repeating: "k", count: 40)

    public var topic: String
    public var databaseURL: String
    public var bootstrap: String
    public var producer: KafkaProducer
    public var authority: TokenAuthority

    public static func make(bootstrap: String? = nil, messageTimeoutMs: Int = 5_000) async throws -> IngestHarness {
        let topic = TestStack.uniqueTopic()
        let bootstrap = try bootstrap ?? TestStack.bootstrapServers
        var producerConfiguration = KafkaProducerConfiguration(bootstrapServers: bootstrap, topic: topic)
        producerConfiguration.messageTimeoutMs = messageTimeoutMs
        return IngestHarness(topic: topic, databaseURL: try TestStack.freshDatabase(), bootstrap: bootstrap,
                             producer: try KafkaProducer(configuration: producerConfiguration, logger: TestStack.logger),
                             authority: try await TokenAuthority(secret: secret))
    }

    public func app(_ adjust: (inout IngestConfiguration) -> Void = { _ in }) async throws -> some ApplicationProtocol {
        var configuration = IngestConfiguration(jwtSecret: Self.secret)
        configuration.port = 0
        configuration.topic = topic
        configuration.bootstrapServers = bootstrap
        adjust(&configuration)
        return try await buildIngestApplication(configuration: configuration, producer: producer, logger: TestStack.logger)
    }

    public func token(site: String?, role: Role = .investigator, subject: String = "alice") async throws -> String {
        try await authority.mint(subject: subject, site: site, role: role)
    }

    /// A submission of `type` for `participant` (its site from the participant id).
    public static func event(_ type: String, participant: String = "S01-0007", eventID: String = UUID().uuidString,
                             occurredAt: String = "2026-05-30T09:30:00+02:00", data: JSONValue) -> JSONValue {
        [
            "event_id": .string(eventID), "type": .string(type), "schema_version": 1, "study_id": "MICRO-LSD-01",
            "site_id": .string(Identifiers.site(ofParticipant: participant)!), "participant_id": .string(participant),
            "occurred_at": .string(occurredAt), "data": data,
        ]
    }

    public static func body(_ json: JSONValue) -> ByteBuffer { ByteBuffer(bytes: CanonicalJSON.encode(json)) }

    public static func headers(_ token: String?) -> HTTPFields {
        var h: HTTPFields = [.contentType: "application/json"]
        if let token { h[.authorization] = "Bearer \(token)" }
        return h
    }

    public static func json(_ response: TestResponse) throws -> JSONValue {
        try JSONParser().parse(Array(response.body.readableBytesView))
    }
}
