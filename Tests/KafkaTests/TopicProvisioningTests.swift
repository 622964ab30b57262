import Foundation
import Kafka
import Testing
import TestSupport

/// `projector provision` (issue 18): the topics as configuration, created or checked, and a topic whose settings would
/// lose events refused. librdkafka's mock cluster implements neither CreateTopics nor DescribeConfigs, so against it
/// only metadata (partitions, replicas) is exercised; the configuration rules are tested on the pure policy.
@Suite("Kafka topic provisioning", .timeLimit(.minutes(3)))
struct TopicProvisioningTests {
    static let shipped: [TopicSpecification] = {
        let url = TestEnvironment.root.appendingPathComponent("infra/kafka/topics.json")
        return (try? TopicsFile.parse(Data(contentsOf: url)).topics) ?? []
    }()

    static var events: TopicSpecification { shipped.first { $0.nameVariable == "KAFKA_TOPIC" }! }

    static let sound: [String: String] = [
        "retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete",
        "unclean.leader.election.enable": "false", "min.insync.replicas": "2", "compression.type": "lz4",
    ]

    @Test func theShippedTopicsFileIsSoundAndNamesBothTopics() throws {
        #expect(Self.shipped.map(\.nameVariable) == ["KAFKA_TOPIC", "PROJECTOR_ANCHOR_TOPIC"])
        for topic in Self.shipped { #expect(topic.problems.isEmpty, "\(topic.name): \(topic.problems)") }
        #expect(Self.events.replicationFactor == 3 && Self.events.config["min.insync.replicas"] == "2")
        #expect(Self.events.resolved(in: ["KAFKA_TOPIC": "other.events"]).name == "other.events")
    }

    @Test(arguments: [
        ("retention.ms", "604800000"), ("retention.bytes", "1073741824"), ("cleanup.policy", "compact"),
        ("cleanup.policy", "compact,delete"), ("unclean.leader.election.enable", "true"), ("min.insync.replicas", "1"),
    ])
    func aSpecificationThatLosesEventsIsRefusedNamingTheSetting(setting: String, value: String) {
        var spec = Self.events
        spec.config[setting] = value
        #expect(spec.problems.map(\.setting).contains(setting), "\(spec.problems)")
        spec.config[setting] = nil
        #expect(spec.problems.map(\.setting).contains(setting), "a missing \(setting) is refused too")
    }

    @Test func replicationMustExceedTheInSyncMinimum() {
        var spec = Self.events
        spec.replicationFactor = 2
        #expect(spec.problems.map(\.setting) == ["replication_factor"])
    }

    @Test(arguments: [
        ("retention.ms", "604800000"), ("retention.bytes", "1073741824"), ("cleanup.policy", "compact"),
        ("unclean.leader.election.enable", "true"), ("min.insync.replicas", "1"),
    ])
    func anExistingTopicThatLosesEventsIsRefusedWithTheFix(setting: String, value: String) {
        let metadata = TopicMetadata(name: "trial.events", partitions: 32, minimumReplicas: 3)
        #expect(Self.events.findings(metadata: metadata, configuration: Self.sound).isEmpty)
        var configuration = Self.sound
        configuration[setting] = value
        let findings = Self.events.findings(metadata: metadata, configuration: configuration)
        #expect(findings.map(\.setting) == [setting])
        #expect(findings.first?.message.contains("kafka-configs --alter") == true, "\(findings)")
    }

    @Test func fewerPartitionsOrReplicasAreRefusedAndOtherDifferencesAreOnlyNoted() {
        let findings = Self.events.findings(metadata: TopicMetadata(name: "trial.events", partitions: 4, minimumReplicas: 1),
                                            configuration: Self.sound)
        #expect(findings.map(\.setting) == ["partitions", "replication_factor"])
        var configuration = Self.sound
        configuration["compression.type"] = "producer"
        let metadata = TopicMetadata(name: "trial.events", partitions: 64, minimumReplicas: 3)
        #expect(Self.events.findings(metadata: metadata, configuration: configuration).isEmpty)
        #expect(Self.events.notes(configuration: configuration).map(\.setting) == ["compression.type"])
    }

    /// Over real sockets, against a three-broker mock cluster in this process (topics created by the mock's own API,
    /// as the mock does not implement CreateTopics).
    @Test func metadataChecksAgainstAMockClusterOverSockets() throws {
        let cluster = try MockKafkaCluster(brokers: 3)
        cluster.answerMetadataWithoutAutoCreation()
        try cluster.createTopic("wide", partitions: 8)
        try cluster.createTopic("narrow", partitions: 4)
        var provisioner = TopicProvisioner(admin: try KafkaTopicAdmin(KafkaClientSettings(bootstrapServers: cluster.bootstrapServers)))
        provisioner.metadataOnly = true
        provisioner.createMissing = false
        provisioner.timeoutMs = 1_500
        var spec = Self.events
        spec.partitions = 8

        spec.name = "wide"
        let wide = provisioner.provision(spec)
        #expect(wide.isAccepted && wide.metadata == TopicMetadata(name: "wide", partitions: 8, minimumReplicas: 3), "\(wide.text)")
        #expect(wide.text.contains("configuration NOT checked"), "\(wide.text)")

        spec.name = "narrow"
        let narrow = provisioner.provision(spec)
        #expect(!narrow.isAccepted && narrow.text.contains("partitions: the topic has 4, the specification 8"), "\(narrow.text)")

        spec.name = "absent"
        let absent = provisioner.provision(spec)
        #expect(!absent.isAccepted && absent.text.contains("does not exist"), "\(absent.text)")
        #expect(try provisioner.admin.metadata(topic: "absent", timeoutMs: 1_500) == nil, "asking must not create the topic")

        // What the mock cannot do is said, not passed over: CreateTopics and DescribeConfigs go unanswered.
        provisioner.createMissing = true
        let uncreated = provisioner.provision(spec)
        #expect(!uncreated.isAccepted && uncreated.text.contains("does not implement CreateTopics"), "\(uncreated.text)")
        provisioner.metadataOnly = false
        spec.name = "wide"
        let undescribed = provisioner.provision(spec)
        #expect(!undescribed.isAccepted && undescribed.text.contains("NOT verified"), "\(undescribed.text)")
    }

    /// The real `projector provision`: passes on a topic of the specified shape (a mock cluster's, over TCP), refuses
    /// the dev broker's topic (one broker, so one replica per partition) naming the replication factor, and refuses a
    /// specification file that asks for compaction.
    @Test(.stack) func theCommandExitsNonZeroNamingTheSetting() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("provision-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        func write(_ spec: TopicSpecification, _ name: String) throws -> String {
            let object: [String: Any] = ["topics": [["name": spec.name, "name_variable": spec.nameVariable ?? "", "partitions": spec.partitions,
                                                     "replication_factor": spec.replicationFactor, "config": spec.config]]]
            let url = folder.appendingPathComponent(name)
            try JSONSerialization.data(withJSONObject: object).write(to: url)
            return url.path
        }

        let cluster = try MockKafkaCluster(brokers: 3)
        cluster.answerMetadataWithoutAutoCreation()
        let topic = TestStack.uniqueTopic()
        try cluster.createTopic(topic, partitions: 32)
        let good = try await TestStack.run("projector", ["provision", "--check", "--metadata-only", "--timeout", "3",
                                                         "--config", try write(Self.events, "good.json")],
                                           environment: ["KAFKA_BOOTSTRAP_SERVERS": cluster.bootstrapServers, "KAFKA_TOPIC": topic])
        #expect(good.exit == 0 && good.output.contains("OK \(topic): 32 partitions, 3 replica(s)"), "\(good.output)")

        let devBroker = try await TestStack.run("projector", ["provision", "--check", "--metadata-only", "--timeout", "3",
                                                              "--config", try write(Self.events, "dev.json")],
                                                environment: ["KAFKA_TOPIC": "trial.events"])
        #expect(devBroker.exit == 1 && devBroker.output.contains("REFUSED trial.events")
                && devBroker.output.contains("replication_factor: a partition has 1 replica(s)"), "\(devBroker.output)")

        var compacted = Self.events
        compacted.config["cleanup.policy"] = "compact"
        let refused = try await TestStack.run("projector", ["provision", "--check", "--metadata-only", "--timeout", "3",
                                                            "--config", try write(compacted, "compacted.json")],
                                              environment: ["KAFKA_BOOTSTRAP_SERVERS": cluster.bootstrapServers, "KAFKA_TOPIC": topic])
        #expect(refused.exit == 1 && refused.output.contains("cleanup.policy: in the specification file"), "\(refused.output)")
    }
}
