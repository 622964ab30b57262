import ArgumentParser
import Foundation
import Kafka
import Projection

struct Provision: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create the Kafka topics of infra/kafka/topics.json that are missing and check every one; refuse (exit 1) a topic whose settings would lose events.")

    @Option(help: "The topics file.")
    var config = "infra/kafka/topics.json"

    @Flag(help: "Check only: a missing topic is refused, nothing is created.")
    var check = false

    @Flag(help: "Check partitions and replicas from metadata only, for a broker without DescribeConfigs (the dev broker); retention, cleanup, min.insync.replicas and unclean election are then NOT checked.")
    var metadataOnly = false

    @Option(help: "Seconds to wait for each answer of the cluster.")
    var timeout: Double = 10

    func run() throws {
        let environment = ProcessInfo.processInfo.environment
        let configuration = try ProjectorConfiguration.fromEnvironment(environment)
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: config)) } catch {
            throw ValidationError("cannot read the topics file \(config): \(error.localizedDescription); pass --config <path>")
        }
        let file: TopicsFile
        do { file = try TopicsFile.parse(data) } catch {
            throw ValidationError("the topics file \(config) is not valid: \(error)")
        }
        var provisioner = TopicProvisioner(admin: try KafkaTopicAdmin(configuration.kafkaClient))
        provisioner.createMissing = !check
        provisioner.metadataOnly = metadataOnly
        provisioner.timeoutMs = Int32(max(1, min(timeout, 600)) * 1000)
        let reports = provisioner.provision(file.topics.map { $0.resolved(in: environment) })
        for report in reports { print(report.text, terminator: "") }
        let refused = reports.filter { !$0.isAccepted }
        if !refused.isEmpty {
            print("provision FAILED for \(refused.map(\.topic).joined(separator: ", ")): fix the settings named above; nothing was changed on an existing topic")
            throw ExitCode(1)
        }
    }
}
