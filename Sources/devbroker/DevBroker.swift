import ArgumentParser
import Foundation
import Kafka
import Logging
import ServiceLifecycle
import ServiceRuntime

/// Hosts librdkafka's mock Kafka cluster on loopback for local runs and tests. Never for production.
struct DevBroker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devbroker",
        abstract: "Runs librdkafka's mock Kafka cluster on loopback (development and tests only).")

    @Option(help: "Topic to create.")
    var topic = ProcessInfo.processInfo.environment["KAFKA_TOPIC"] ?? "trial.events"

    @Option(help: "Anchor topic to create, one partition (the projector's signed chain heads).")
    var anchorTopic = ProcessInfo.processInfo.environment["PROJECTOR_ANCHOR_TOPIC"] ?? "trial.audit-anchors"

    @Option(help: "Partitions of the topic. The mock keeps ~5 MiB per partition, so more partitions hold a longer log.")
    var partitions: Int32 = 32

    @Option(help: "Number of mock brokers.")
    var brokers: Int32 = 1

    @Option(help: "File to write the bootstrap address to, once the cluster listens.")
    var addressFile: String?

    func run() async throws {
        let cluster = try MockKafkaCluster(brokers: brokers)
        try cluster.createTopic(topic, partitions: partitions)
        // The mock cluster also creates unknown topics on first use (with its default partitions); one partition keeps
        // the anchors in publication order.
        try cluster.createTopic(anchorTopic, partitions: 1)
        let bootstrap = cluster.bootstrapServers
        if let addressFile {
            let temporary = addressFile + ".tmp"
            try Data((bootstrap + "\n").utf8).write(to: URL(fileURLWithPath: temporary))
            _ = rename(temporary, addressFile)
        }
        FileHandle.standardOutput.write(Data("devbroker: mock Kafka cluster at \(bootstrap), topic \(topic) with \(partitions) partitions, anchor topic \(anchorTopic)\n".utf8))

        // The mock cluster serves on librdkafka's threads: the group only keeps it until SIGTERM or SIGINT.
        try await ServiceGroup.runUntilStopSignal([HoldUntilShutdown(cluster)], logger: Logger(label: "devbroker"))
        print("devbroker: stopping")
    }
}
