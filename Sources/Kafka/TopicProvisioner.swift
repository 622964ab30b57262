/// Creates the topics of a specification that are missing and checks every one against it (`projector provision`).
///
/// For each topic: metadata (never creating it by asking); when absent, CreateTopics with the specification's
/// partitions, replication factor and settings (unless `createMissing` is off), then metadata again; then the
/// topic's configuration by DescribeConfigs, unless `metadataOnly` says the broker cannot describe configs (the dev
/// broker, librdkafka's mock cluster, implements neither CreateTopics nor DescribeConfigs). A topic is accepted
/// only when nothing in `TopicSpecification.findings` is left.
public struct TopicProvisioner {
    public enum Outcome: Sendable, Equatable {
        /// Every checked setting is as specified (`unverified` names settings the broker could not report).
        case accepted(created: Bool, notes: [TopicSpecification.Finding])
        /// A setting would lose events, or the topic is missing: the findings say which and what to do.
        case refused([TopicSpecification.Finding])
    }

    public struct TopicReport: Sendable, Equatable {
        public var topic: String
        public var outcome: Outcome
        public var metadata: TopicMetadata?
        /// Whether retention, cleanup, in-sync replicas and unclean election were read from the broker.
        public var configurationChecked: Bool
    }

    public var admin: KafkaTopicAdmin
    public var createMissing = true
    public var metadataOnly = false
    public var timeoutMs: Int32 = 10_000

    public init(admin: KafkaTopicAdmin) { self.admin = admin }

    public func provision(_ specifications: [TopicSpecification]) -> [TopicReport] {
        specifications.map { provision($0) }
    }

    public func provision(_ specification: TopicSpecification) -> TopicReport {
        var report = TopicReport(topic: specification.name, outcome: .refused([]), metadata: nil, configurationChecked: false)
        let problems = specification.problems
        guard problems.isEmpty else {
            report.outcome = .refused(problems.map { Finding(setting: $0.setting, message: "in the specification file: \($0.message)") })
            return report
        }
        var created = false
        do {
            var metadata = try admin.metadata(topic: specification.name, timeoutMs: timeoutMs)
            if metadata == nil {
                guard createMissing else {
                    report.outcome = .refused([Finding(setting: "topic", message: "does not exist; run `projector provision` without --check to create it")])
                    return report
                }
                do {
                    try admin.createTopic(specification.name, partitions: specification.partitions,
                                          replicationFactor: specification.replicationFactor, configs: specification.config,
                                          timeoutMs: timeoutMs)
                    created = true
                } catch where KafkaTopicAdmin.isTopicAlreadyExists(error) {
                    // Created meanwhile by someone else: check it like any existing topic.
                } catch where KafkaTopicAdmin.isUnanswered(error) {
                    report.outcome = .refused([Finding(setting: "topic", message: "does not exist and the broker did not create it "
                        + "(\(error)). librdkafka's mock cluster (the dev broker) does not implement CreateTopics; on a real cluster "
                        + "check that the controller is reachable and this login may create topics (ACL CREATE on the cluster)")])
                    return report
                }
                metadata = try admin.metadata(topic: specification.name, timeoutMs: timeoutMs)
            }
            guard let metadata else {
                report.outcome = .refused([Finding(setting: "topic", message: "was created but metadata does not show it yet; run `projector provision --check` again")])
                return report
            }
            report.metadata = metadata
            var configuration: [String: String]?
            if !metadataOnly {
                do {
                    configuration = try admin.configuration(topic: specification.name, timeoutMs: timeoutMs)
                    report.configurationChecked = true
                } catch where KafkaTopicAdmin.isUnanswered(error) {
                    report.outcome = .refused(specification.findings(metadata: metadata, configuration: nil) + [Finding(
                        setting: "configuration", message: "could not be read (\(error)): retention, cleanup.policy, min.insync.replicas and "
                            + "unclean.leader.election.enable are NOT verified. librdkafka's mock cluster (the dev broker) does not implement "
                            + "DescribeConfigs; on a real cluster grant this login DESCRIBE_CONFIGS on the topic. --metadata-only checks "
                            + "partitions and replicas alone")])
                    return report
                }
            }
            let findings = specification.findings(metadata: metadata, configuration: configuration)
            report.outcome = findings.isEmpty
                ? .accepted(created: created, notes: configuration.map(specification.notes(configuration:)) ?? [])
                : .refused(findings)
        } catch {
            report.outcome = .refused([Finding(setting: "broker", message: "\(error)")])
        }
        return report
    }

    private typealias Finding = TopicSpecification.Finding
}

extension TopicProvisioner.TopicReport {
    public var isAccepted: Bool { if case .accepted = outcome { true } else { false } }

    /// One line per finding, for the operator: `OK`, or `REFUSED` with each setting and what to do.
    public var text: String {
        let shape = metadata.map { "\($0.partitions) partitions, \($0.minimumReplicas) replica(s) per partition" } ?? "no metadata"
        switch outcome {
        case .accepted(let created, let notes):
            var lines = ["OK \(topic): \(created ? "created; " : "")\(shape); "
                + (configurationChecked ? "retention, cleanup.policy, min.insync.replicas and unclean.leader.election.enable as specified"
                                        : "configuration NOT checked (--metadata-only)")]
            lines += notes.map { "  note \(topic) \($0)" }
            return lines.joined(separator: "\n") + "\n"
        case .refused(let findings):
            return (["REFUSED \(topic) (\(shape)):"] + findings.map { "  \($0)" }).joined(separator: "\n") + "\n"
        }
    }
}
