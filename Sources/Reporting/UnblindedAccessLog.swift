import Postgres
import TrialDomain
import TrialDomainPostgres

/// `audit.unblinded_access` (migration 0015): every read of a participant's unblinded data, recorded before the data is
/// read. The server fills in who (the login) and when; nobody can change or remove a record afterwards.
public struct UnblindedAccessLog: Sendable {
    public struct Access: Sendable, Equatable {
        public var accessedAt: String
        public var accessedBy: String
        public var participantID: String
        public var command: String
        public var reason: String?
    }

    public var accesses: [Access]

    /// Records that the login of `db` (acting as trial_unblinded) is about to read `participantID`'s unblinded data.
    /// Throws, and so nothing is read, when the record cannot be written.
    public static func record(_ db: PostgresConnection, participantID: String, command: String, reason: String?) throws {
        try db.query("""
            INSERT INTO audit.unblinded_access (participant_id, command, reason) VALUES (\(participantID), \(command), \(reason))
            """)
    }

    /// The accesses, oldest first; those to one participant with `participantID`.
    public static func load(_ db: PostgresConnection, participantID: String? = nil) throws -> UnblindedAccessLog {
        let rows = try db.query("""
            SELECT accessed_at, accessed_by, participant_id, command, reason FROM audit.unblinded_access
            WHERE \(participantID)::text IS NULL OR participant_id = \(participantID)
            ORDER BY access_id
            """)
        return UnblindedAccessLog(accesses: try rows.decode((Timestamp, String, String, String, String?).self).map {
            Access(accessedAt: $0.0.utc(.second), accessedBy: $0.1, participantID: $0.2, command: $0.3, reason: $0.4)
        })
    }

    public var text: String {
        "UNBLINDED ACCESS (each read of unblinded data, recorded before it)\n"
            + TextTable(header: ["accessed (UTC)", "by (login)", "participant", "command", "reason"],
                        rows: accesses.map { [$0.accessedAt, $0.accessedBy, $0.participantID, $0.command, $0.reason ?? ""] }).render()
    }

    public var json: JSONValue {
        .array(accesses.map { a in
            ["accessed_at": .string(a.accessedAt), "accessed_by": .string(a.accessedBy), "participant_id": .string(a.participantID),
             "command": .string(a.command), "reason": a.reason.map(JSONValue.string) ?? .null]
        })
    }
}
