/// Every metric the executables expose: name, type, labels and meaning, defined once. The names are a public contract
/// (dashboards and alert rules use them; README "Operations"); a metric recorded through swift-metrics under a name
/// listed here gets its help text and buckets from this table.
public enum MetricCatalogue {
    /// What Prometheus calls the metric's type.
    public enum Kind: String, Sendable {
        case counter, gauge, histogram
    }

    /// One metric family.
    public struct Entry: Sendable {
        public var name: String
        public var kind: Kind
        public var labels: [String]
        public var help: String
        /// Upper bounds of a histogram's buckets (seconds for a duration, plain numbers otherwise); nil for the default.
        public var buckets: [Double]?
    }

    static let durationBuckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

    public static let entries: [Entry] = [
        // ingest
        Entry(name: "ingest_requests_total", kind: .counter, labels: ["route", "status"],
              help: "HTTP requests answered, by route (the route pattern, or 'other') and status code."),
        Entry(name: "ingest_request_duration_seconds", kind: .histogram, labels: ["route"],
              help: "Time from reading a request's head to its answer, by route.", buckets: durationBuckets),
        Entry(name: "ingest_requests_in_flight", kind: .gauge, labels: [],
              help: "HTTP requests being handled now."),
        Entry(name: "ingest_events_accepted_total", kind: .counter, labels: [],
              help: "Events acknowledged by Kafka and answered 202."),
        Entry(name: "ingest_kafka_delivery_seconds", kind: .histogram, labels: [],
              help: "Time from handing a request's records to the producer until Kafka acknowledged (or refused) the last.",
              buckets: durationBuckets),
        Entry(name: "ingest_kafka_delivery_failures_total", kind: .counter, labels: [],
              help: "Records Kafka did not acknowledge (timed out or refused); each failed request answers 503."),
        Entry(name: "ingest_broker_reachable", kind: .gauge, labels: [],
              help: "1 when the last broker metadata request (made by /ready, cached for a few seconds) succeeded, else 0."),
        // projector
        Entry(name: "projector_lag_records", kind: .gauge, labels: ["partition"],
              help: "Records in the log not yet applied, per partition this instance holds (high watermark minus position; 0 once revoked)."),
        Entry(name: "projector_batch_size_records", kind: .histogram, labels: [],
              help: "Records per applied batch.", buckets: [1, 5, 10, 50, 100, 500, 1_000, 2_500, 5_000, 10_000, 50_000]),
        Entry(name: "projector_batch_apply_seconds", kind: .histogram, labels: [],
              help: "Time to apply one batch in its transaction (retries of transient errors included).",
              buckets: durationBuckets + [60]),
        Entry(name: "projector_events_archived_total", kind: .counter, labels: [],
              help: "Events archived and projected for the first time."),
        Entry(name: "projector_duplicates_total", kind: .counter, labels: [],
              help: "Repeats of an archived event_id with the same content (client retries), applied once."),
        Entry(name: "projector_rejected_total", kind: .counter, labels: [],
              help: "Repeats of an archived event_id with different content, parked in audit.rejected."),
        Entry(name: "projector_audit_chain_length", kind: .gauge, labels: [],
              help: "chain_seq of the archive's hash chain head after this instance's last batch that archived events."),
        Entry(name: "projector_sessions_total", kind: .counter, labels: [],
              help: "Consuming sessions started (a new one after each loss of PostgreSQL or of the assignment)."),
        Entry(name: "projector_ready", kind: .gauge, labels: [],
              help: "1 while /ready answers 200 (a session consuming with a live PostgreSQL connection), else 0."),
        Entry(name: "projector_halted", kind: .gauge, labels: [],
              help: "1 once the projector stopped on a fatal error (it serves /ready 503 until restarted), else 0."),
        Entry(name: "projector_signals_opened_total", kind: .counter, labels: ["rule", "severity"],
              help: "Participant safety signals this instance opened (open after its batch committed, not open before), by rule and severity."),
        Entry(name: "projector_freshness_seconds", kind: .histogram, labels: [],
              help: "Per event archived for the first time: from its recorded_at (ingest's clock) to the commit of the batch that projected it.",
              buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3_600]),
        // reporter watch (its admin port): computed from the monitoring read models at each scrape
        Entry(name: "trial_sae_report_due_seconds", kind: .gauge, labels: ["site_id", "signal_id"],
              help: "Seconds until the 24 h sponsor notification deadline of each open (unacknowledged) serious adverse event signal; negative when overdue."),
        Entry(name: "trial_signal_unacknowledged_seconds", kind: .gauge, labels: ["severity"],
              help: "Age (now minus the triggering event's occurred_at) of the oldest open, unacknowledged safety signal of each severity; 0 when none."),
        Entry(name: "reporter_safety_query_ok", kind: .gauge, labels: [],
              help: "1 when this scrape read the monitoring read models, else 0 (the trial_* safety gauges are then absent)."),
        // reporter audit verify --metrics-file (node_exporter textfile collector)
        Entry(name: "audit_chain_verify_ok", kind: .gauge, labels: [],
              help: "1 when the last reporter audit verify passed (exit 0), else 0."),
        Entry(name: "audit_chain_verify_last_run_timestamp_seconds", kind: .gauge, labels: [],
              help: "When the last reporter audit verify finished (Unix time)."),
        // both
        Entry(name: "process_resident_memory_bytes", kind: .gauge, labels: [],
              help: "Resident memory of the process, from /proc/self/statm, read at each scrape."),
    ]

    public static let byName: [String: Entry] = Dictionary(uniqueKeysWithValues: entries.map { ($0.name, $0) })
}
