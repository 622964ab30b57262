import Postgres
import TrialDomain
import TrialDomainPostgres

/// The monitors' overview: sites summarised, then one row per participant.
public struct StatusReport: Sendable, Equatable {
    public struct Site: Sendable, Equatable {
        public var siteID: String
        public var screenFailed: Int
        public var enrolled: Int
        public var withdrawn: Int
        public var completed: Int
        public var doses: Int
        public var openAdverseEvents: Int
        public var openSignals: Int
        public var lastEventAt: String
        /// Data queries waiting for someone (open or answered), and their median age in days as of now.
        public var openQueries: Int
        public var openQueryMedianAgeDays: Double?
    }

    public struct Participant: Sendable, Equatable {
        public var participantID: String
        public var siteID: String
        public var status: String
        public var enrolledAt: String?
        public var doses: Int
        public var lastDoseAt: String?
        public var baselinePHQ9: Int?
        public var latestPHQ9: Int?
        public var adherence: String?
        public var openSignals: Int
    }

    public var sites: [Site]
    public var participants: [Participant]

    public init(sites: [Site], participants: [Participant]) {
        self.sites = sites
        self.participants = participants
    }

    /// Reads the report from the `monitoring` schema (times in UTC).
    public static func load(_ db: PostgresConnection, site: String? = nil) throws -> StatusReport {
        let participants = try db.query("""
            SELECT p.participant_id, p.site_id, p.status, p.enrolled_at, p.doses_administered, p.last_dose_at, p.baseline_phq9,
                   p.latest_phq9, coalesce(a.adherence_pct, p.adherence_pct)::text, p.open_signals
            FROM monitoring.participants p LEFT JOIN monitoring.dose_adherence a USING (participant_id)
            WHERE \(site)::text IS NULL OR p.site_id = \(site)
            ORDER BY p.site_id, p.participant_id
            """).decode((String, String, String, Timestamp?, Int, Timestamp?, Int?, Int?, String?, Int).self).map { r in
            Participant(participantID: r.0, siteID: r.1, status: r.2, enrolledAt: r.3?.utc(.minute), doses: r.4,
                        lastDoseAt: r.5?.utc(.minute), baselinePHQ9: r.6, latestPHQ9: r.7, adherence: r.8, openSignals: r.9)
        }
        let sites = try db.query("""
            SELECT site_id, screen_failed, enrolled, withdrawn, completed, doses, open_adverse_events, open_signals,
                   last_event_recorded_at, open_queries, open_query_median_age_days::float8
            FROM monitoring.sites
            WHERE \(site)::text IS NULL OR site_id = \(site)
            ORDER BY site_id
            """).decode((String, Int, Int, Int, Int, Int, Int, Int, Timestamp, Int, Double?).self).map { r in
            Site(siteID: r.0, screenFailed: r.1, enrolled: r.2, withdrawn: r.3, completed: r.4, doses: r.5, openAdverseEvents: r.6,
                 openSignals: r.7, lastEventAt: r.8.utc(.minute), openQueries: r.9, openQueryMedianAgeDays: r.10)
        }
        return StatusReport(sites: sites, participants: participants)
    }

    public var json: JSONValue {
        func opt(_ v: String?) -> JSONValue { v.map(JSONValue.string) ?? .null }
        func opt(_ v: Int?) -> JSONValue { v.map { .number(Double($0)) } ?? .null }
        return [
            "sites": .array(sites.map { s in
                ["site_id": .string(s.siteID), "screen_failed": .number(Double(s.screenFailed)), "enrolled": .number(Double(s.enrolled)),
                 "withdrawn": .number(Double(s.withdrawn)), "completed": .number(Double(s.completed)), "doses": .number(Double(s.doses)),
                 "open_adverse_events": .number(Double(s.openAdverseEvents)), "open_signals": .number(Double(s.openSignals)),
                 "last_event_recorded_at": .string(s.lastEventAt), "open_queries": .number(Double(s.openQueries)),
                 "open_query_median_age_days": s.openQueryMedianAgeDays.map(JSONValue.number) ?? .null]
            }),
            "participants": .array(participants.map { p in
                ["participant_id": .string(p.participantID), "site_id": .string(p.siteID), "status": .string(p.status),
                 "enrolled_at": opt(p.enrolledAt), "doses_administered": .number(Double(p.doses)),
                 "last_dose_at": opt(p.lastDoseAt), "baseline_phq9": opt(p.baselinePHQ9), "latest_phq9": opt(p.latestPHQ9),
                 "adherence_pct": opt(p.adherence), "open_signals": .number(Double(p.openSignals))]
            }),
        ]
    }

    /// Plain-text tables for a terminal.
    public var text: String {
        var out = "SITES\n"
        out += TextTable(header: ["site", "enrolled", "withdrawn", "completed", "screen failed", "doses", "open AEs", "open signals", "open queries (median age)", "last event (UTC)"],
                         rows: sites.map { s in
                             let queries = String(s.openQueries) + (s.openQueryMedianAgeDays.map { " (\($0) d)" } ?? "")
                             return [s.siteID, String(s.enrolled), String(s.withdrawn), String(s.completed), String(s.screenFailed),
                                     String(s.doses), String(s.openAdverseEvents), String(s.openSignals), queries, s.lastEventAt]
                         }).render()
        out += "\nPARTICIPANTS\n"
        out += TextTable(header: ["participant", "site", "status", "enrolled (UTC)", "doses", "adherence", "last dose (UTC)", "PHQ-9 baseline", "PHQ-9 latest", "change", "open signals"],
                         rows: participants.map { p in
                             let change = zip2(p.baselinePHQ9, p.latestPHQ9).map { signed($1 - $0) } ?? "-"
                             return [p.participantID, p.siteID, p.status, p.enrolledAt ?? "-", String(p.doses),
                                     p.adherence.map { $0 + " %" } ?? "-", p.lastDoseAt ?? "-",
                                     p.baselinePHQ9.map(String.init) ?? "-", p.latestPHQ9.map(String.init) ?? "-", change, String(p.openSignals)]
                         }).render()
        return out
    }
}

private func zip2(_ a: Int?, _ b: Int?) -> (Int, Int)? {
    guard let a, let b else { return nil }
    return (a, b)
}

private func signed(_ value: Int) -> String {
    value > 0 ? "+\(value)" : "\(value)"
}
