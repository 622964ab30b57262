import CoreMetrics
import Foundation
import Metrics
import TrialDomain

/// The projector's metrics, recorded through swift-metrics (names and meanings: README "Operations"). Made once per
/// projector; updated on the projector's thread after each batch, and about once a second while idle.
struct ProjectorMetrics {
    let batchSize = Recorder(label: "projector_batch_size_records")
    let batchApply = Timer(label: "projector_batch_apply_seconds")
    let archived = Counter(label: "projector_events_archived_total")
    let duplicates = Counter(label: "projector_duplicates_total")
    let rejected = Counter(label: "projector_rejected_total")
    let chainLength = Gauge(label: "projector_audit_chain_length")
    let sessions = Counter(label: "projector_sessions_total")
    let halted = Gauge(label: "projector_halted")
    private var lagGauges: [Int32: Gauge] = [:]

    init() {
        halted.record(0)
    }

    let freshness = Recorder(label: "projector_freshness_seconds")
    private var openedCounters: [OpenedSignalTally.Key: Counter] = [:]

    /// Right after the batch committed. Freshness spans two clocks (ingest's stamped `recorded_at`, this host's clock at
    /// the commit); a negative difference from clock skew is recorded as 0.
    mutating func recordBatch(_ outcome: BatchOutcome, took duration: Duration) {
        let committedAt = Date().timeIntervalSince1970
        for recordedAt in outcome.archivedRecordedAt {
            freshness.record(max(0, committedAt - Double(recordedAt.microsecondsSinceEpoch) / 1e6))
        }
        recordOpenedSignals(outcome.signalsOpened)
        batchSize.record(outcome.records)
        batchApply.record(duration: duration)
        if outcome.archived > 0 { archived.increment(by: outcome.archived) }
        if outcome.duplicates > 0 { duplicates.increment(by: outcome.duplicates) }
        if outcome.rejected > 0 { rejected.increment(by: outcome.rejected) }
        if let seq = outcome.chainSeq { chainLength.record(seq) }
    }

    /// Counts signals a committed transaction opened.
    mutating func recordOpenedSignals(_ opened: [OpenedSignalTally.Key: Int]) {
        for (key, count) in opened where count > 0 {
            let counter = openedCounters[key]
                ?? Counter(label: "projector_signals_opened_total", dimensions: [("rule", key.rule), ("severity", key.severity)])
            openedCounters[key] = counter
            counter.increment(by: count)
        }
    }

    /// Sets the lag of each partition held; partitions reported before and not held now go to 0.
    mutating func recordLag(_ lag: [Int32: Int64], held: Set<Int32>) {
        for (partition, gauge) in lagGauges where !held.contains(partition) { gauge.record(0) }
        for (partition, records) in lag {
            let gauge = lagGauges[partition] ?? Gauge(label: "projector_lag_records", dimensions: [("partition", String(partition))])
            lagGauges[partition] = gauge
            gauge.record(records)
        }
    }
}
