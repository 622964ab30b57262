import Postgres
import TrialDomain

/// What the safety alert rules read (infra/prometheus/alerts.yml, group `safety`), computed from the monitoring read
/// models at the moment of reading: the projector stores no "now", so these are never stored either. Read as the
/// monitor role (`monitoring` only); both queries use the partial indexes of migration 0014 (open signals only).
public struct SafetyGauges: Sendable, Equatable {
    /// An open serious adverse event signal and the seconds until its sponsor notification deadline (negative: past).
    public struct Due: Sendable, Equatable {
        public var siteID: String
        public var signalID: String
        public var seconds: Double
    }

    /// The severities a signal can have, each always reported (0 when none is open).
    public static let severities = ["critical", "warning", "info"]

    /// At most this many SAE series per scrape, the most urgent first: bounds the label set if something floods it.
    public static let dueLimit = 500

    /// Open SAE signals, most urgent first.
    public var due: [Due]
    /// Per severity, the age in seconds of the oldest open signal (0 when none).
    public var oldestOpenSeconds: [String: Double]

    public static func load(_ db: PostgresConnection) throws -> SafetyGauges {
        let due = try db.query("""
            SELECT coalesce(site_id, ''), signal_id, extract(epoch FROM deadline - now())::float8
            FROM monitoring.safety_signals
            WHERE status = 'open' AND rule = \(SafetyRule.seriousAdverseEvent.rawValue) AND deadline IS NOT NULL
            ORDER BY deadline, signal_id
            LIMIT \(dueLimit)
            """).decode((String, String, Double).self).map { Due(siteID: $0.0, signalID: $0.1, seconds: $0.2) }
        var oldest = Dictionary(uniqueKeysWithValues: severities.map { ($0, 0.0) })
        for (severity, seconds) in try db.query("""
            SELECT severity, extract(epoch FROM now() - min(trigger_occurred_at))::float8
            FROM monitoring.safety_signals WHERE status = 'open' GROUP BY severity
            """).decode((String, Double).self) {
            oldest[severity] = max(0, seconds)
        }
        return SafetyGauges(due: due, oldestOpenSeconds: oldest)
    }
}
