import Postgres
import TrialDomain

/// The monitors' overview: sites summarised, then one row per participant.
public struct StatusReport: Sendable, Equatable {
    public struct Site: Sendable, Equatable {
        public var siteID: String
        public var participants: Int
        public var doses: Int
        public var lastDoseAt: String?
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
    }

    public var sites: [Site]
    public var participants: [Participant]

    /// Reads the report from the `monitoring` schema (times in UTC).
    public static func load(_ db: PostgresConnection, site: String? = nil) throws -> StatusReport {
        try db.execute("SET TIME ZONE 'UTC'")
        let participantRows = try db.query("""
            SELECT participant_id, site_id, status, to_char(enrolled_at, 'YYYY-MM-DD"T"HH24:MI"Z"'),
                   doses_administered, to_char(last_dose_at, 'YYYY-MM-DD"T"HH24:MI"Z"'), baseline_phq9, latest_phq9
            FROM monitoring.participants
            WHERE \(site)::text IS NULL OR site_id = \(site)
            ORDER BY site_id, participant_id
            """)
        let participants = participantRows.map { r in
            Participant(participantID: r[0]!, siteID: r[1]!, status: r[2]!, enrolledAt: r[3], doses: Int(r[4]!)!,
                        lastDoseAt: r[5], baselinePHQ9: r[6].flatMap { Int($0) }, latestPHQ9: r[7].flatMap { Int($0) })
        }
        let siteRows = try db.query("""
            SELECT site_id, count(*), sum(doses_administered), to_char(max(last_dose_at), 'YYYY-MM-DD"T"HH24:MI"Z"')
            FROM monitoring.participants
            WHERE \(site)::text IS NULL OR site_id = \(site)
            GROUP BY site_id ORDER BY site_id
            """)
        let sites = siteRows.map { r in
            Site(siteID: r[0]!, participants: Int(r[1]!)!, doses: Int(r[2]!)!, lastDoseAt: r[3])
        }
        return StatusReport(sites: sites, participants: participants)
    }

    public var json: JSONValue {
        func opt(_ v: String?) -> JSONValue { v.map(JSONValue.string) ?? .null }
        func opt(_ v: Int?) -> JSONValue { v.map { .number(Double($0)) } ?? .null }
        return [
            "sites": .array(sites.map { s in
                ["site_id": .string(s.siteID), "participants": .number(Double(s.participants)),
                 "doses": .number(Double(s.doses)), "last_dose_at": opt(s.lastDoseAt)]
            }),
            "participants": .array(participants.map { p in
                ["participant_id": .string(p.participantID), "site_id": .string(p.siteID), "status": .string(p.status),
                 "enrolled_at": opt(p.enrolledAt), "doses_administered": .number(Double(p.doses)),
                 "last_dose_at": opt(p.lastDoseAt), "baseline_phq9": opt(p.baselinePHQ9), "latest_phq9": opt(p.latestPHQ9)]
            }),
        ]
    }

    /// Plain-text tables for a terminal.
    public var text: String {
        var out = "SITES\n"
        out += TextTable(header: ["site", "participants", "doses", "last dose (UTC)"],
                         rows: sites.map { [$0.siteID, String($0.participants), String($0.doses), $0.lastDoseAt ?? "-"] }).render()
        out += "\nPARTICIPANTS\n"
        out += TextTable(header: ["participant", "site", "status", "enrolled (UTC)", "doses", "last dose (UTC)", "PHQ-9 baseline", "PHQ-9 latest", "change"],
                         rows: participants.map { p in
                             let change = zip2(p.baselinePHQ9, p.latestPHQ9).map { signed($1 - $0) } ?? "-"
                             return [p.participantID, p.siteID, p.status, p.enrolledAt ?? "-", String(p.doses), p.lastDoseAt ?? "-",
                                     p.baselinePHQ9.map(String.init) ?? "-", p.latestPHQ9.map(String.init) ?? "-", change]
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
