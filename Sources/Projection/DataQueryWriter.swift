import Postgres
import TrialDomain
import TrialDomainPostgres

/// Writes `monitoring.data_queries` and `monitoring.query_steps`: the pure `DataQueries` fold of each participant's
/// query events, with what the archive holds under the event ids they name. Whenever any event of a participant
/// arrives (the queried event or a correction may come after the query), their queries are derived again from the
/// archive, so the rows never depend on arrival order.
enum DataQueryWriter {
    /// The query step types as SQL: `type IN ('query.raised', ...)`, the predicate of `audit.events_query_steps_idx`
    /// (migration 0023), so PostgreSQL reads that small index instead of each participant's whole history. Names from
    /// `EventType`, never input.
    static let steps = "type IN (" + EventType.allCases.filter(\.isDataQueryStep).map { "'\($0.rawValue)'" }.joined(separator: ", ") + ")"

    /// Rewrites the queries of `participants` (nil: of everyone) from the archive. A participant without query events
    /// has no rows and never had any (the archive only grows), so they cost one indexed look-up.
    ///
    /// `known`: participants whose every event not yet in their rows is in `batch` (the others', after a deferred
    /// catch-up, are only in the archive). A participant's rows follow from their query events and the events those
    /// name (their own: `DataQueries.rows` reads nothing of another participant's), all immutable, so a known
    /// participant's are rewritten only when `batch` holds a query step of theirs or an event one of their queries names
    /// (the queried event or an answer's correction, arriving after the query). Rows are not rewritten when this code
    /// changes: a change to `DataQueries.rows` comes with a migration that rewrites them (as 0023 and 0032 do).
    static func refresh(_ participants: [String]?, batch: [RecordedEvent] = [], known: Set<String> = [], _ db: PostgresConnection) throws {
        let all = participants == nil
        let ids = participants ?? []
        if !all && ids.isEmpty { return }
        // Without `$1 OR ...`: a generic plan of that could not use the index.
        let select = "SELECT envelope FROM audit.events WHERE \(steps)"
        let array: PostgresQuery = "\(array: ids)"
        var events = try MonitoringWriter.decode(try db.query(
            all ? PostgresQuery(unsafeSQL: select)
                : PostgresQuery(unsafeSQL: select + " AND participant_id = ANY(\(array.sql)::text[])", binds: array.binds)))
        if !all, !known.isEmpty {
            let arrived = Set(batch.map(\.eventID))
            let stepped = Set(batch.filter { $0.type.isDataQueryStep }.compactMap(\.participantID))
            var changed: Set<String> = []
            for e in events {
                guard let participant = e.participantID else { continue }
                switch e.payload {
                case _ where !known.contains(participant) || stepped.contains(participant): changed.insert(participant)
                case .queryRaised(let r) where arrived.contains(r.eventID): changed.insert(participant)
                case .queryAnswered(let a) where a.correctionEventID.map(arrived.contains) == true: changed.insert(participant)
                default: break
                }
            }
            events.removeAll { !changed.contains($0.participantID ?? "") }
        }
        guard !events.isEmpty || all else { return }
        var named: Set<String> = []
        for e in events {
            switch e.payload {
            case .queryRaised(let r): named.insert(r.eventID)
            case .queryAnswered(let a): if let c = a.correctionEventID { named.insert(c) }
            default: break
            }
        }
        let targets = try DataQueries.Target.load(named.sorted(), withData: true, db)
        let touched = all ? [] : Array(Set(events.compactMap(\.participantID))).sorted()
        for table in [ReadModelTable.dataQueries, .querySteps] {
            try db.enqueue(all ? PostgresQuery(unsafeSQL: "DELETE FROM \(table)") : table.deleteRows(ofParticipants: touched))
        }
        var queries: [DataQueries.QueryRow] = []
        var steps: [DataQueries.StepRow] = []
        for (_, history) in Dictionary(grouping: events, by: { $0.participantID ?? "" }) {
            let rows = DataQueries.rows(history, targets: targets)
            queries += rows.queries
            steps += rows.steps
        }
        try insert(queries, steps, db)
    }

    private static func insert(_ q: [DataQueries.QueryRow], _ s: [DataQueries.StepRow], _ db: PostgresConnection) throws {
        if !q.isEmpty {
            try db.enqueue("""
                INSERT INTO monitoring.data_queries (query_id, participant_id, site_id, event_id, event_type, pointer, question,
                    raised_by, raised_at, status, opened_at, answer, answered_by, answered_at, correction_event_id, closed_by,
                    closed_at, reopenings, reopen_reason, refusal)
                SELECT * FROM unnest(\(array: q.map(\.queryID))::uuid[], \(array: q.map(\.participantID))::text[],
                    \(array: q.map(\.siteID))::text[], \(array: q.map(\.eventID))::uuid[], \(array: q.map(\.eventType))::text[],
                    \(array: q.map(\.pointer))::text[], \(array: q.map(\.question))::text[], \(array: q.map(\.raisedBy))::text[],
                    \(array: q.map(\.raisedAt.rfc3339))::timestamptz[], \(array: q.map(\.status.rawValue))::text[],
                    \(array: q.map(\.openedAt.rfc3339))::timestamptz[], \(array: q.map(\.answer))::text[],
                    \(array: q.map(\.answeredBy))::text[], \(array: q.map { $0.answeredAt?.rfc3339 })::timestamptz[],
                    \(array: q.map(\.correctionEventID))::uuid[], \(array: q.map(\.closedBy))::text[],
                    \(array: q.map { $0.closedAt?.rfc3339 })::timestamptz[], \(array: q.map(\.reopenings))::integer[],
                    \(array: q.map(\.reopenReason))::text[], \(array: q.map(\.refusal))::text[])
                """)
        }
        if !s.isEmpty {
            try db.enqueue("""
                INSERT INTO monitoring.query_steps (event_id, query_id, participant_id, site_id, action, text, correction_event_id,
                    recorded_by, recorded_at, refusal)
                SELECT * FROM unnest(\(array: s.map(\.eventID))::uuid[], \(array: s.map(\.queryID))::uuid[],
                    \(array: s.map(\.participantID))::text[], \(array: s.map(\.siteID))::text[], \(array: s.map(\.action.rawValue))::text[],
                    \(array: s.map(\.text))::text[], \(array: s.map(\.correctionEventID))::uuid[], \(array: s.map(\.recordedBy))::text[],
                    \(array: s.map(\.recordedAt.rfc3339))::timestamptz[], \(array: s.map(\.refusal))::text[])
                """)
        }
    }
}
