import Foundation

/// A topic as configuration (`infra/kafka/topics.json`): what `projector provision` creates and what it insists an
/// existing topic has. Pure: parsing and the data-loss policy, no I/O.
public struct TopicSpecification: Sendable, Equatable, Decodable {
    /// The topic's name when `nameVariable` is not set in the environment.
    public var name: String
    /// The environment variable that names the topic in the services (`KAFKA_TOPIC`, `PROJECTOR_ANCHOR_TOPIC`).
    public var nameVariable: String?
    /// At least this many partitions. More are accepted (a key keeps its partition only while the count stays).
    public var partitions: Int
    /// Created with this replication factor; an existing topic with fewer replicas on any partition is refused.
    public var replicationFactor: Int
    /// Topic-level settings (`retention.ms`, `cleanup.policy`, ...), as Kafka spells them, values as strings.
    public var config: [String: String]
    /// Free text for the reader of the file; ignored.
    public var purpose: String?

    enum CodingKeys: String, CodingKey {
        case name, partitions, config, purpose
        case nameVariable = "name_variable"
        case replicationFactor = "replication_factor"
    }

    public init(name: String, nameVariable: String? = nil, partitions: Int, replicationFactor: Int, config: [String: String]) {
        self.name = name
        self.nameVariable = nameVariable
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.config = config
    }

    /// The same topic under the name the environment gives it (`nameVariable`), if it gives one.
    public func resolved(in environment: [String: String]) -> TopicSpecification {
        var copy = self
        if let variable = nameVariable, let value = environment[variable], !value.isEmpty { copy.name = value }
        return copy
    }

    /// A problem with a topic: the setting, what it is, and what to do.
    public struct Finding: Sendable, Equatable, CustomStringConvertible {
        public var setting: String
        public var message: String
        public var description: String { "\(setting): \(message)" }
    }

    /// The settings without which an event log loses events, with the value each must have.
    /// `min.insync.replicas` is checked against the specification's own value (and at least 2).
    static let durabilityRules: [(setting: String, required: String, why: String)] = [
        ("retention.ms", "-1", "a finite retention deletes events after that time; the log is the system of record"),
        ("retention.bytes", "-1", "a size limit deletes the oldest events once a partition grows past it"),
        ("cleanup.policy", "delete", "compaction keeps only the newest record per key (participant) and deletes the rest of their history"),
        ("unclean.leader.election.enable", "false", "an out-of-sync replica elected leader discards acknowledged events"),
    ]

    /// What is wrong with the specification itself: a file that asks for data loss is refused before any broker is
    /// asked. Empty when it is sound.
    public var problems: [Finding] {
        var findings: [Finding] = []
        if name.isEmpty { findings.append(Finding(setting: "name", message: "is empty")) }
        if partitions < 1 { findings.append(Finding(setting: "partitions", message: "\(partitions) must be at least 1")) }
        for rule in Self.durabilityRules where config[rule.setting] != rule.required {
            findings.append(Finding(setting: rule.setting, message: "the specification says \(config[rule.setting].map { "'\($0)'" } ?? "nothing"); "
                + "it must be '\(rule.required)': \(rule.why)"))
        }
        let minimumInSync = Int(config["min.insync.replicas"] ?? "") ?? 0
        if minimumInSync < 2 {
            findings.append(Finding(setting: "min.insync.replicas", message: "the specification says \(config["min.insync.replicas"] ?? "nothing"); "
                + "it must be at least 2, or an acknowledged event may live on one broker only"))
        }
        if replicationFactor <= minimumInSync {
            findings.append(Finding(setting: "replication_factor", message: "\(replicationFactor) must exceed min.insync.replicas (\(minimumInSync)), "
                + "or losing one broker stops every write"))
        }
        return findings
    }

    /// What an existing topic (its metadata and, when the broker can describe it, its configuration) lacks against
    /// this specification. Empty when the topic keeps every event.
    public func findings(metadata: TopicMetadata, configuration: [String: String]?) -> [Finding] {
        var findings: [Finding] = []
        if metadata.partitions < partitions {
            findings.append(Finding(setting: "partitions", message: "the topic has \(metadata.partitions), the specification \(partitions): "
                + "fewer partitions cap how many projectors share the work. Add partitions only before the first event "
                + "(a key's partition moves when the count changes), else create a new topic and re-project"))
        }
        if metadata.minimumReplicas < replicationFactor {
            findings.append(Finding(setting: "replication_factor", message: "a partition has \(metadata.minimumReplicas) replica(s), the "
                + "specification \(replicationFactor): one broker's disk is then all that holds those events. Reassign the partitions "
                + "to \(replicationFactor) brokers (kafka-reassign-partitions)"))
        }
        guard let configuration else { return findings }
        for rule in Self.durabilityRules {
            let actual = configuration[rule.setting]
            if actual != rule.required {
                findings.append(Finding(setting: rule.setting, message: "is \(actual.map { "'\($0)'" } ?? "not reported"), must be '\(rule.required)': "
                    + "\(rule.why). Fix: kafka-configs --alter --entity-type topics --entity-name \(name) --add-config \(rule.setting)=\(rule.required)"))
            }
        }
        let wanted = Int(config["min.insync.replicas"] ?? "") ?? 2
        let actualInSync = configuration["min.insync.replicas"]
        if (Int(actualInSync ?? "") ?? 0) < wanted {
            findings.append(Finding(setting: "min.insync.replicas", message: "is \(actualInSync.map { "'\($0)'" } ?? "not reported"), must be at least "
                + "\(wanted): with fewer, acks=all is satisfied by too few copies. Fix: kafka-configs --alter --entity-type topics "
                + "--entity-name \(name) --add-config min.insync.replicas=\(wanted)"))
        }
        return findings
    }

    /// Differences that lose nothing but are not what the file says (e.g. `compression.type`): reported, not refused.
    public func notes(configuration: [String: String]) -> [Finding] {
        let checked = Set(Self.durabilityRules.map(\.setting) + ["min.insync.replicas"])
        return config.keys.sorted().filter { !checked.contains($0) && configuration[$0] != nil && configuration[$0] != config[$0] }
            .map { Finding(setting: $0, message: "is '\(configuration[$0]!)', the specification says '\(config[$0]!)'") }
    }
}

/// `infra/kafka/topics.json`: the topics the system needs.
public struct TopicsFile: Sendable, Decodable {
    public var topics: [TopicSpecification]

    /// Parses the file; a malformed one throws with the reason.
    public static func parse(_ data: Data) throws -> TopicsFile {
        let file = try JSONDecoder().decode(TopicsFile.self, from: data)
        let names = file.topics.map(\.name)
        if Set(names).count != names.count { throw TopicsFileError(reason: "a topic appears twice: \(names)") }
        return file
    }
}

public struct TopicsFileError: Error, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
}
