@testable import Kafka
import Testing
import TestSupport

/// Ingest's single-event p99 was 43 ms against a p50 of 4 ms, all of it waiting for the broker's acknowledgement:
/// librdkafka leaves Nagle's algorithm on unless told, the mock broker never turns it off, and a request or response
/// written behind an unacknowledged one waited for a delayed ACK (40 ms on Linux). Kafka's brokers and its Java
/// client set TCP_NODELAY; so do ours now, on both ends of every connection.
@Suite("Nagle's algorithm off on both ends", .timeLimit(.minutes(1)))
struct NagleTests {
    #if os(Linux)
    @Test func theProducersAndTheMockBrokersSocketsSendAtOnce() async throws {
        let cluster = try MockKafkaCluster()
        try cluster.createTopic("nagle", partitions: 2)
        let ports = cluster.brokerPorts
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: cluster.bootstrapServers, topic: "nagle"),
                                         logger: TestStack.logger)
        defer { producer.shutdown() }
        let delivered = await producer.send([KafkaOutgoingRecord(key: Array("k".utf8), value: Array("v".utf8), headers: [])])
        guard case .success = delivered.first else { Issue.record("not delivered: \(delivered)"); return }

        let sockets = ProcessSocket.all()
        let listeners = sockets.filter { $0.listening && ports.contains($0.localPort) }
        let accepted = sockets.filter { !$0.listening && ports.contains($0.localPort) }
        let clients = sockets.filter { $0.peerPort.map(ports.contains) == true }
        #expect(!listeners.isEmpty && !accepted.isEmpty && !clients.isEmpty, "\(sockets)")
        for socket in listeners + accepted + clients {
            #expect(socket.noDelay, "Nagle still on: \(socket)")
        }
    }
    #endif

    /// A deployment can still turn it back on; anything the clients fix for correctness it cannot.
    @Test func theDefaultGivesWayToKafkaProperties() throws {
        let settings = KafkaClientSettings(bootstrapServers: "127.0.0.1:1", additionalProperties: ["socket.nagle.disable": "false"])
        let properties = try settings.properties(fixed: [("bootstrap.servers", "127.0.0.1:1")], client: "test")
        #expect(properties.filter { $0.0 == "socket.nagle.disable" }.map(\.1) == ["false"])
        let plain = try KafkaClientSettings(bootstrapServers: "127.0.0.1:1").properties(fixed: [], client: "test")
        #expect(plain.filter { $0.0 == "socket.nagle.disable" }.map(\.1) == ["true"])
        // A value a client fixes is never overridden by a default (librdkafka keeps the last value set).
        let fixed = try KafkaClientSettings(bootstrapServers: "127.0.0.1:1").properties(fixed: [("socket.nagle.disable", "false")], client: "test")
        #expect(fixed.filter { $0.0 == "socket.nagle.disable" }.map(\.1) == ["false"])
    }
}
