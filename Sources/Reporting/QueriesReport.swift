import Postgres
import TrialDomain
import TrialDomainPostgres

/// Data queries (issue 15) from `monitoring.queries`: open first (oldest first), then answered, closed and refused,
/// with their age as of the moment of reading.
public struct QueriesReport: Sendable, Equatable {
    /// A query's facts as the projector keeps them, and its age in days as of the reading.
    public struct Query: Sendable, Equatable {
        public var facts: DataQueries.QueryRow
        public var ageDays: Double
    }

    public var queries: [Query]

    /// All queries, or those of one site or participant; `openOnly`: those waiting for someone (open or answered).
    public static func load(_ db: PostgresConnection, site: String? = nil, participant: String? = nil, openOnly: Bool = false) throws
        -> QueriesReport
    {
        let rows = try db.query("""
            SELECT query_id::text, site_id, participant_id, event_id::text, event_type, pointer, question, raised_by, raised_at, status,
                   opened_at, answer, answered_by, answered_at, correction_event_id::text, closed_by, closed_at, reopenings,
                   reopen_reason, refusal, age_days::float8
            FROM monitoring.queries
            WHERE (\(site)::text IS NULL OR site_id = \(site)) AND (\(participant)::text IS NULL OR participant_id = \(participant))
              AND (NOT \(openOnly) OR status IN ('open', 'answered'))
            ORDER BY CASE status WHEN 'open' THEN 0 WHEN 'answered' THEN 1 WHEN 'closed' THEN 2 ELSE 3 END, raised_at, query_id
            """)
        return QueriesReport(queries: try rows.map { row in
            let r = try row.decode((String, String, String, String, String?, String, String, String, Timestamp, String, Timestamp,
                                    String?, String?, Timestamp?, String?, String?, Timestamp?, Int, String?, String?, Double).self)
            let facts = DataQueries.QueryRow(queryID: r.0, siteID: r.1, participantID: r.2, eventID: r.3, eventType: r.4, pointer: r.5,
                                             question: r.6, raisedBy: r.7, raisedAt: r.8, status: DataQueries.Status(rawValue: r.9) ?? .refused,
                                             openedAt: r.10, answer: r.11, answeredBy: r.12, answeredAt: r.13, correctionEventID: r.14,
                                             closedBy: r.15, closedAt: r.16, reopenings: r.17, reopenReason: r.18, refusal: r.19)
            return Query(facts: facts, ageDays: r.20)
        })
    }

    public var json: JSONValue {
        .array(queries.map { q in
            let f = q.facts
            return ["query_id": .string(f.queryID), "site_id": .string(f.siteID), "participant_id": .string(f.participantID),
                    "event_id": .string(f.eventID), "event_type": f.eventType.map(JSONValue.string) ?? .null, "pointer": .string(f.pointer),
                    "question": .string(f.question), "raised_by": .string(f.raisedBy), "raised_at": .string(f.raisedAt.utc(.minute)),
                    "status": .string(f.status.rawValue), "reopenings": .number(Double(f.reopenings)),
                    "answer": f.answer.map(JSONValue.string) ?? .null, "correction_event_id": f.correctionEventID.map(JSONValue.string) ?? .null,
                    "closed_at": f.closedAt.map { .string($0.utc(.minute)) } ?? .null, "age_days": .number(q.ageDays),
                    "refusal": f.refusal.map(JSONValue.string) ?? .null]
        })
    }

    public var text: String {
        TextTable(header: ["status", "participant", "site", "about", "question", "raised (UTC)", "by", "age", "answer"],
                  rows: queries.map { q in
                      let f = q.facts
                      let status = f.reopenings > 0 && f.status == .open ? "open (reopened \(f.reopenings)x)" : f.status.rawValue
                      let about = "\(f.eventType ?? "?") \(f.eventID.prefix(8))\(f.pointer)"
                      let answer = f.refusal.map { "REFUSED: \($0)" }
                          ?? f.answer.map { a in f.correctionEventID.map { "\(a) (correction \($0.prefix(8)))" } ?? a } ?? "-"
                      return [status, f.participantID, f.siteID, about, f.question, f.raisedAt.utc(.minute), f.raisedBy, "\(q.ageDays) d", answer]
                  }).render()
    }
}
