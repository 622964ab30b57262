import Postgres
import TrialDomain
import TrialDomainPostgres

/// Data queries (issue 15) from `monitoring.queries`: open first (oldest first), then answered, closed and refused,
/// with their age as of the moment of reading.
public struct QueriesReport: Sendable, Equatable {
    public struct Query: Sendable, Equatable {
        public var queryID: String
        public var siteID: String
        public var participantID: String
        public var eventID: String
        public var eventType: String?
        public var pointer: String
        public var question: String
        public var raisedBy: String
        public var raisedAt: String
        public var status: String
        public var reopenings: Int
        public var answer: String?
        public var correctionEventID: String?
        public var ageDays: Double
        public var refusal: String?
    }

    public var queries: [Query]

    /// All queries, or those of one site or participant; `openOnly`: those waiting for someone (open or answered).
    public static func load(_ db: PostgresConnection, site: String? = nil, participant: String? = nil, openOnly: Bool = false) throws
        -> QueriesReport
    {
        let rows = try db.query("""
            SELECT query_id::text, site_id, participant_id, event_id::text, event_type, pointer, question, raised_by, raised_at,
                   status, reopenings, answer, correction_event_id::text, age_days::float8, refusal
            FROM monitoring.queries
            WHERE (\(site)::text IS NULL OR site_id = \(site)) AND (\(participant)::text IS NULL OR participant_id = \(participant))
              AND (NOT \(openOnly) OR status IN ('open', 'answered'))
            ORDER BY CASE status WHEN 'open' THEN 0 WHEN 'answered' THEN 1 WHEN 'closed' THEN 2 ELSE 3 END, raised_at, query_id
            """)
        return QueriesReport(queries: try rows.decode((String, String, String, String, String?, String, String, String, Timestamp, String, Int,
                                                      String?, String?, Double, String?).self).map { r in
            Query(queryID: r.0, siteID: r.1, participantID: r.2, eventID: r.3, eventType: r.4, pointer: r.5, question: r.6, raisedBy: r.7,
                  raisedAt: r.8.utc(.minute), status: r.9, reopenings: r.10, answer: r.11, correctionEventID: r.12, ageDays: r.13,
                  refusal: r.14)
        })
    }

    public var json: JSONValue {
        .array(queries.map { q in
            ["query_id": .string(q.queryID), "site_id": .string(q.siteID), "participant_id": .string(q.participantID),
             "event_id": .string(q.eventID), "event_type": q.eventType.map(JSONValue.string) ?? .null, "pointer": .string(q.pointer),
             "question": .string(q.question), "raised_by": .string(q.raisedBy), "raised_at": .string(q.raisedAt),
             "status": .string(q.status), "reopenings": .number(Double(q.reopenings)), "answer": q.answer.map(JSONValue.string) ?? .null,
             "correction_event_id": q.correctionEventID.map(JSONValue.string) ?? .null, "age_days": .number(q.ageDays),
             "refusal": q.refusal.map(JSONValue.string) ?? .null]
        })
    }

    public var text: String {
        TextTable(header: ["status", "participant", "site", "about", "question", "raised (UTC)", "by", "age", "answer"],
                  rows: queries.map { q in
                      let status = q.reopenings > 0 && q.status == "open" ? "open (reopened \(q.reopenings)x)" : q.status
                      let about = "\(q.eventType ?? "?") \(q.eventID.prefix(8))\(q.pointer)"
                      let answer = q.refusal.map { "REFUSED: \($0)" }
                          ?? q.answer.map { a in q.correctionEventID.map { "\(a) (correction \($0.prefix(8)))" } ?? a } ?? "-"
                      return [status, q.participantID, q.siteID, about, q.question, q.raisedAt, q.raisedBy, "\(q.ageDays) d", answer]
                  }).render()
    }
}
