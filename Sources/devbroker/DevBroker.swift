import ArgumentParser
import Dispatch
import Foundation
import Kafka
import ServiceRuntime

/// Hosts librdkafka's mock Kafka cluster on loopback for local runs and tests. Never for production.
@main
struct DevBroker: ParsableCommand {
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

    func run() throws {
        StopSignals.install()
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

        while !StopSignals.requested {
            usleep(100_000)
        }
        print("devbroker: stopping")
        withExtendedLifetime(cluster) {}
    }
}
