/// An event as the system stores it: what the site sent, validated, plus who recorded it and when.
public struct RecordedEvent: Sendable, Hashable {
    /// Lowercase UUID chosen by the client; the idempotency key.
    public var eventID: String
    public var type: EventType
    public var schemaVersion: Int
    public var studyID: String
    /// Absent for study-wide events.
    public var siteID: String?
    /// Absent for study-wide and site events.
    public var participantID: String?
    /// When it happened, as the site wrote it (its zone kept), and as an instant.
    public var occurredAtText: String
    public var occurredAt: Timestamp
    /// When the system accepted it (server clock, UTC) and the authenticated subject who sent it.
    public var recordedAt: Timestamp
    public var recordedBy: String
    /// `data` exactly as accepted (canonicalised on storage).
    public var data: JSONValue
    public var payload: EventPayload

    /// The stored envelope as JSON: every field above except the typed payload.
    public var json: JSONValue {
        var fields: [String: JSONValue] = [
            "event_id": .string(eventID),
            "type": .string(type.rawValue),
            "schema_version": .number(Double(schemaVersion)),
            "study_id": .string(studyID),
            "occurred_at": .string(occurredAtText),
            "recorded_at": .string(recordedAt.rfc3339),
            "recorded_by": .string(recordedBy),
            "data": data,
        ]
        if let siteID { fields["site_id"] = .string(siteID) }
        if let participantID { fields["participant_id"] = .string(participantID) }
        return .object(fields)
    }

    /// The Kafka key: the participant, else the site, else the study. One participant's events share a partition.
    public var partitionKey: String { participantID ?? siteID ?? studyID }

    /// The Kafka record value and archive bytes: canonical JSON of `json`.
    public var canonicalBytes: [UInt8] { CanonicalJSON.encode(json) }
}
