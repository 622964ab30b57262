import Postgres
import TrialDomain

extension DataQueries.Target {
    /// What the archive holds under each of `eventIDs` (`audit.event_references`: participant, type, changed event;
    /// never data). The one reading of it, for the projector and for ingest's checks.
    public static func load(_ eventIDs: [String], _ db: PostgresConnection) throws -> [String: DataQueries.Target] {
        var targets: [String: DataQueries.Target] = [:]
        for (id, participant, type, changed) in try db.query("""
            SELECT event_id::text, participant_id, type, changed_event_id::text FROM audit.event_references
            WHERE event_id = ANY(\(array: eventIDs)::uuid[])
            """).decode((String, String?, String, String?).self) {
            // A type this build does not know cannot be the target of anything it checks.
            if let type = EventType(rawValue: type) {
                targets[id] = DataQueries.Target(participantID: participant, type: type, changedEventID: changed)
            }
        }
        return targets
    }
}
