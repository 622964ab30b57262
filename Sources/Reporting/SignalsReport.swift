import Postgres
import TrialDomain

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

    /// Open signals (and acknowledged ones too with `includeAcknowledged`), critical first, oldest first.
    public static func load(_ db: PostgresConnection, site: String? = nil, includeAcknowledged: Bool = false) throws -> SignalsReport {
        try db.execute("SET TIME ZONE 'UTC'")
        let rows = try db.query("""
            SELECT signal_id, severity, rule, site_id, participant_id, to_char(trigger_occurred_at, 'YYYY-MM-DD"T"HH24:MI"Z"'),
                   round(extract(epoch FROM now() - trigger_occurred_at) / 3600, 1),
                   to_char(deadline, 'YYYY-MM-DD"T"HH24:MI"Z"'), round(extract(epoch FROM deadline - now()) / 3600, 1), status, details
            FROM monitoring.safety_signals
            WHERE (status = 'open' OR (\(includeAcknowledged) AND status = 'acknowledged'))
              AND (\(site)::text IS NULL OR site_id = \(site))
            ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, trigger_occurred_at, signal_id
            """)
        return SignalsReport(signals: rows.map { r in
            Signal(signalID: r[0]!, severity: r[1]!, rule: r[2]!, siteID: r[3], participantID: r[4], occurredAt: r[5]!,
                   ageHours: Double(r[6]!)!, deadline: r[7], hoursLeft: r[8].flatMap(Double.init), status: r[9]!, details: r[10]!)
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

    static func age(_ hours: Double) -> String {
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

    /// The critical signal a notification names, or nil when the payload names none that exists (a forgery, or garbage).
    public static func lookUp(notification payload: String, _ db: PostgresConnection) throws -> AnnouncedSignal? {
        guard payload.utf8.count <= 8_000, let json = try? JSONParser(maxDepth: 4).parse(payload),
              let signalID = json["signal_id"]?.stringValue, signalID.utf8.count <= 200
        else { return nil }
        let rows = try db.query("""
            SELECT signal_id, rule, site_id, participant_id, details FROM monitoring.safety_signals
            WHERE signal_id = \(signalID) AND severity = 'critical'
            """)
        guard let row = rows.records.first, let id = row.text("signal_id"), let rule = row.text("rule"),
              let site = row.text("site_id"), let details = row.text("details")
        else { return nil }
        return AnnouncedSignal(signalID: id, rule: rule, siteID: site, participantID: row.text("participant_id"), details: details)
    }
}

extension Dictionary where Key == String, Value == String? {
    /// A column of a `PostgresRows.records` row; nil when absent or SQL NULL.
    func text(_ column: String) -> String? { self[column] ?? nil }
}
