import Foundation
import Kafka
import CoreMetrics
import Metrics
import Synchronization

/// Whether a Kafka broker answers a metadata request, for `GET /ready`: asked at most once per `maxAge` (probes come
/// often, from every load balancer), on a thread of its own (the request blocks up to `timeoutMs`).
final class BrokerProbe: Sendable {
    private let producer: KafkaProducer
    private let maxAge: Duration
    private let timeoutMs: Int32
    private let last = Mutex<(at: ContinuousClock.Instant, problem: String?)?>(nil)
    private let reachable = CoreMetrics.Gauge(label: "ingest_broker_reachable")

    init(producer: KafkaProducer, maxAge: Duration = .seconds(5), timeoutMs: Int32 = 1_000) {
        self.producer = producer
        self.maxAge = maxAge
        self.timeoutMs = timeoutMs
    }

    /// nil when a broker answered within the last `maxAge` (or answers now), else why not.
    func problem() async -> String? {
        if let cached = last.withLock({ $0 }), ContinuousClock.now - cached.at < maxAge { return cached.problem }
        let problem = await withCheckedContinuation { (done: CheckedContinuation<String?, Never>) in
            Thread.detachNewThread { [producer, timeoutMs] in done.resume(returning: producer.brokerMetadataProblem(timeoutMs: timeoutMs)) }
        }
        last.withLock { $0 = (ContinuousClock.now, problem) }
        reachable.record(problem == nil ? 1 : 0)
        return problem
    }
}
