import Postgres
import TrialDomain
import TrialDomainPostgres

/// Open safety signals, critical first, with their age and deadline as of the moment of reading.
public struct SignalsReport: Sendable, Equatable {
    public struct Signal: Sendable, Equatable {
        public var signalID: String
        public var severity: String
        public var rule: String
        /// nil for a signal about the study's own events.
        public var siteID: String?
        public var participantID: String?
        public var occurredAt: String
        public var ageHours: Double
        public var deadline: String?
        public var hoursLeft: Double?
        public var status: String
        public var details: String
    }

    public var signals: [Signal]

    public init(signals: [Signal]) {
        self.signals = signals
    }

    /// Open signals (and acknowledged ones too with `includeAcknowledged`), critical first, oldest first.
    public static func load(_ db: PostgresConnection, site: String? = nil, includeAcknowledged: Bool = false) throws -> SignalsReport {
        let rows = try db.query("""
            SELECT signal_id, severity, rule, site_id, participant_id, trigger_occurred_at,
                   round(extract(epoch FROM now() - trigger_occurred_at) / 3600, 1),
                   deadline, round(extract(epoch FROM deadline - now()) / 3600, 1), status, details
            FROM monitoring.safety_signals
            WHERE (status = 'open' OR (\(includeAcknowledged) AND status = 'acknowledged'))
              AND (\(site)::text IS NULL OR site_id = \(site))
            ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, trigger_occurred_at, signal_id
            """)
        return SignalsReport(signals: try rows.decode((String, String, String, String?, String?, Timestamp, Double, Timestamp?, Double?, String, String).self).map { r in
            Signal(signalID: r.0, severity: r.1, rule: r.2, siteID: r.3, participantID: r.4, occurredAt: r.5.utc(.minute),
                   ageHours: r.6, deadline: r.7?.utc(.minute), hoursLeft: r.8, status: r.9, details: r.10)
        })
    }

    public var json: JSONValue {
        .array(signals.map { s in
            ["signal_id": .string(s.signalID), "severity": .string(s.severity), "rule": .string(s.rule), "site_id": s.siteID.map(JSONValue.string) ?? .null,
             "participant_id": s.participantID.map(JSONValue.string) ?? .null, "occurred_at": .string(s.occurredAt),
             "age_hours": .number(s.ageHours), "deadline": s.deadline.map(JSONValue.string) ?? .null,
             "hours_left": s.hoursLeft.map(JSONValue.number) ?? .null, "status": .string(s.status), "details": .string(s.details)]
        })
    }

    public var text: String {
        TextTable(header: ["severity", "rule", "participant", "site", "occurred (UTC)", "age", "deadline", "status", "details"],
                  rows: signals.map { s in
                      let deadline = s.deadline.map { d in s.hoursLeft.map { $0 < 0 ? "\(d) (PAST by \(-$0) h)" : "\(d) (\($0) h left)" } ?? d } ?? "-"
                      return [s.severity.uppercased(), s.rule, s.participantID ?? (s.siteID == nil ? "(study)" : "(site)"), s.siteID ?? "-", s.occurredAt, Self.age(s.ageHours),
                              deadline, s.status, s.details]
                  }).render()
    }

    /// An age for people: hours under two days, else whole days.
    public static func age(_ hours: Double) -> String {
        hours >= 48 ? "\(Int(hours / 24)) d" : "\(hours) h"
    }
}

/// A critical signal announced on `critical_signals`, as monitoring.safety_signals holds it.
///
/// Any database login may `NOTIFY critical_signals` with any payload, so a notification is only a hint: the signal it
/// names is looked up, and what is shown comes from the table, never from the payload.
public struct AnnouncedSignal: Sendable, Equatable {
    public var signalID: String
    public var rule: String
    public var siteID: String
    public var participantID: String?
    public var details: String
    /// When what triggered it happened (not when it was announced: a projector catching up announces old signals).
    public var occurredAt: Timestamp
    /// Its deadline (an SAE's 24 h report, a loss's notification), nil when it has none.
    public var deadline: Timestamp?

    static let columns: PostgresQuery = "signal_id, rule, site_id, participant_id, details, trigger_occurred_at, deadline"
    typealias Row = (String, String, String?, String?, String, Timestamp, Timestamp?)

    /// A signal about the study's own events has no site: not one that is announced.
    static func announced(_ r: Row) -> AnnouncedSignal? {
        r.2.map { AnnouncedSignal(signalID: r.0, rule: r.1, siteID: $0, participantID: r.3, details: r.4, occurredAt: r.5, deadline: r.6) }
    }

    /// The open critical signal a notification names, or nil when the payload names none (a forgery, garbage, or a
    /// signal already closed).
    public static func lookUp(notification payload: String, _ db: PostgresConnection) throws -> AnnouncedSignal? {
        guard payload.utf8.count <= 8_000, let json = try? JSONParser(maxDepth: 4).parse(payload),
              let signalID = json["signal_id"]?.stringValue, signalID.utf8.count <= 200
        else { return nil }
        return try db.query("""
            SELECT \(fragment: columns) FROM monitoring.safety_signals
            WHERE signal_id = \(signalID) AND severity = 'critical' AND status = 'open'
            """).decode(Row.self).first.flatMap(announced)
    }

    /// The open critical signals of `sites` (nil: every site), oldest first, at most `limit`: what a watcher that may
    /// have missed announcements (it was disconnected, or LISTEN was down) catches up with.
    public static func open(_ db: PostgresConnection, sites: Set<String>?, limit: Int = 500) throws -> [AnnouncedSignal] {
        let scope = sites.map { $0.sorted().joined(separator: "\u{1F}") }
        return try db.query("""
            SELECT \(fragment: columns) FROM monitoring.safety_signals
            WHERE severity = 'critical' AND status = 'open'
              AND (\(scope)::text IS NULL OR site_id = ANY(string_to_array(\(scope), chr(31))))
            ORDER BY trigger_occurred_at, signal_id LIMIT \(limit)
            """).decode(Row.self).compactMap(announced)
    }
}
