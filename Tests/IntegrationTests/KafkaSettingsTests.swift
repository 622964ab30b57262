import Foundation
import Hummingbird
import HummingbirdTesting
import IngestApp
import Kafka
import Postgres
import Projection
import Testing
import TestSupport
import TrialDomain

/// Settings that would lie on a real cluster (issue 12, item 7).
@Suite("Kafka settings of a real cluster", .serialized, .stack, .timeLimit(.minutes(4)))
struct KafkaSettingsTests {
    /// `KAFKA_PROPERTIES` was appended after the fixed settings, so `acks=1` or `enable.idempotence=false` silently won.
    @Test func propertiesThatWouldOverrideAFixedSettingAreRefused() throws {
        for (name, value) in [("acks", "1"), ("request.required.acks", "1"), ("enable.idempotence", "false")] {
            var producer = KafkaProducerConfiguration(bootstrapServers: "127.0.0.1:1", topic: "t")
            producer.additionalProperties = [name: value]
            #expect(throws: KafkaError.self, "\(name)") { try KafkaProducer(configuration: producer, logger: TestStack.logger) }
        }
        var consumer = KafkaConsumerConfiguration(bootstrapServers: "127.0.0.1:1", topic: "t", groupID: "g")
        consumer.additionalProperties = ["auto.offset.reset": "earliest"]
        do {
            _ = try KafkaConsumer(configuration: consumer, rebalance: RebalanceHandler(assigned: { _ in [:] }), logger: TestStack.logger)
            Issue.record("auto.offset.reset=earliest was accepted")
        } catch {
            #expect("\(error)".contains("auto.offset.reset") && "\(error)".contains("'error'"), "\(error)")
        }
        // What a production cluster needs passes.
        var secured = KafkaProducerConfiguration(bootstrapServers: "127.0.0.1:1", topic: "t")
        secured.additionalProperties = ["security.protocol": "plaintext", "client.id": "ingest-1"]
        try KafkaProducer(configuration: secured, logger: TestStack.logger).shutdown(flushTimeoutMs: 0)
    }

    /// The real executables refuse to start, naming the property.
    @Test func servicesRefuseToStartWithAnOverridingProperty() async throws {
        let ingest = try await TestStack.run("ingest", [], environment: [
            "KAFKA_PROPERTIES": "acks=1", "INGEST_JWT_SECRET": String(repeating: "k", count: 40), "INGEST_PORT": "0"])
        #expect(ingest.exit != 0 && ingest.output.contains("acks"), "\(ingest.output)")
        let database = try TestStack.freshDatabase()
        try Migrator.migrate(try PostgresConnection(url: database), logger: TestStack.logger)
        let projector = try await TestStack.run("projector", ["run"], environment: [
            "KAFKA_PROPERTIES": "auto.offset.reset=earliest", "DATABASE_URL": database, "KAFKA_TOPIC": TestStack.uniqueTopic()])
        #expect(projector.exit != 0 && projector.output.contains("auto.offset.reset"), "\(projector.output)")
    }

    /// `projector lag` ignored `KAFKA_PROPERTIES`, so it could not reach a SASL cluster: it now uses them like every
    /// other client (an invalid one makes it fail, where it used to be ignored).
    @Test func lagUsesTheSameKafkaPropertiesAsTheConsumer() async throws {
        let database = try TestStack.freshDatabase()
        try Migrator.migrate(try PostgresConnection(url: database), logger: TestStack.logger)
        let topic = TestStack.uniqueTopic()
        let ok = try await TestStack.run("projector", ["lag"], environment: ["DATABASE_URL": database, "KAFKA_TOPIC": topic, "KAFKA_PROPERTIES": ""])
        #expect(ok.exit == 0, "\(ok.output)")
        let lag = try await TestStack.run("projector", ["lag"], environment: [
            "DATABASE_URL": database, "KAFKA_TOPIC": topic, "KAFKA_PROPERTIES": "socket.timeout.ms=not-a-number"])
        #expect(lag.exit != 0 && lag.output.contains("socket.timeout.ms"), "\(lag.output)")
    }

    /// A fatal producer error was only logged while `/health` said ok. Now ingest reports itself failed and refuses
    /// events with 503 (nothing reaches the log).
    @Test func aFatalProducerErrorMakesIngestUnready() async throws {
        let h = try await IngestHarness.make()
        let token = try await h.token(site: "S01")
        let dose = IngestHarness.event("dose.missed", data: ["reason": "participant_unavailable"])
        try await h.app().test(.live) { client in
            let healthy = try await client.execute(uri: "/ready", method: .get)
            #expect(healthy.status == .ok)
            h.producer.raiseFatalErrorForTesting(reason: "simulated loss of idempotence")
            var health = try await client.execute(uri: "/health", method: .get)
            for _ in 0..<50 where health.status == .ok {
                try await Task.sleep(for: .milliseconds(100))
                health = try await client.execute(uri: "/health", method: .get)
            }
            #expect(health.status == .serviceUnavailable)
            #expect(String(buffer: health.body).contains("simulated loss of idempotence"))
            #expect(try await client.execute(uri: "/ready", method: .get).status == .serviceUnavailable)
            let refused = try await client.execute(uri: "/v1/events", method: .post, headers: IngestHarness.headers(token),
                                                   body: IngestHarness.body(dose))
            #expect(refused.status == .serviceUnavailable)
        }
        #expect(try TestStack.eventsInLog(topic: h.topic) == 0)
    }
}
