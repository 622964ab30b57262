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
        let bootstrap = cluster.bootstrapServers
        if let addressFile {
            let temporary = addressFile + ".tmp"
            try Data((bootstrap + "\n").utf8).write(to: URL(fileURLWithPath: temporary))
            _ = rename(temporary, addressFile)
        }
        FileHandle.standardOutput.write(Data("devbroker: mock Kafka cluster at \(bootstrap), topic \(topic) with \(partitions) partitions\n".utf8))

        while !StopSignals.requested {
            usleep(100_000)
        }
        print("devbroker: stopping")
        withExtendedLifetime(cluster) {}
    }
}
