/// A failure reported by librdkafka or by this adapter, with the cause kept.
public enum KafkaError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A configuration property was rejected by librdkafka.
    case configuration(property: String, message: String)
    /// The client could not be created.
    case clientCreation(String)
    /// A record could not be enqueued (queue full, unknown topic, ...).
    case enqueue(code: Int32, message: String)
    /// The broker did not durably acknowledge a record (timed out, broker down, fatal producer error).
    case delivery(code: Int32, message: String)
    /// The consumer needs an offset that the log no longer holds (trimmed) or never held.
    case offsetOutOfRange(topic: String, partition: Int32, offset: Int64, message: String)
    /// Any other error from librdkafka.
    case client(code: Int32, message: String)
    /// Partition assignment could not be prepared (e.g. checkpoints unreadable).
    case assignment(String)

    public var description: String {
        switch self {
        case .configuration(let p, let m): "Kafka configuration property \(p): \(m)"
        case .clientCreation(let m): "could not create the Kafka client: \(m)"
        case .enqueue(_, let m): "could not enqueue the record: \(m)"
        case .delivery(_, let m): "the broker did not acknowledge the record: \(m)"
        case .offsetOutOfRange(let t, let p, let o, let m):
            "offset \(o) of \(t) partition \(p) is no longer (or not yet) in the log: \(m). Refusing to skip events; restore from the archive (projector rebuild) before consuming again"
        case .client(_, let m): "Kafka error: \(m)"
        case .assignment(let m): "could not prepare the partition assignment: \(m)"
        }
    }
}
