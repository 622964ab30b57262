import Postgres
import TrialDomain

extension DataQueries.Target {
    /// What the archive holds under each of `eventIDs` (`audit.event_references`: participant, type, changed event),
    /// and with `withData` each event's data too (the projector checks a query's pointer against it; ingest's role may
    /// not read data). The one reading of it, for the projector and for ingest's checks.
    public static func load(_ eventIDs: [String], withData: Bool = false, _ db: PostgresConnection) throws -> [String: DataQueries.Target] {
        let ids: PostgresQuery = "\(array: eventIDs)"
        let data = withData ? "(SELECT e.data::text FROM audit.events e WHERE e.event_id = r.event_id)" : "NULL::text"
        // Both spellings are this file's constants; the ids are a bound parameter.
        let rows = try db.query(PostgresQuery(unsafeSQL: """
            SELECT r.event_id::text, r.participant_id, r.type, r.changed_event_id::text, \(data) FROM audit.event_references r
            WHERE r.event_id = ANY(\(ids.sql)::uuid[])
            """, binds: ids.binds))
        let parser = JSONParser(maxDepth: 64)
        var targets: [String: DataQueries.Target] = [:]
        for (id, participant, type, changed, text) in try rows.decode((String, String?, String, String?, String?).self) {
            // A type this build does not know cannot be the target of anything it checks.
            if let type = EventType(rawValue: type) {
                targets[id] = DataQueries.Target(participantID: participant, type: type, changedEventID: changed,
                                                 data: text.flatMap { try? parser.parse(Array($0.utf8)) })
            }
        }
        return targets
    }
}
